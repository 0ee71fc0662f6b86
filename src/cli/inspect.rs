//! `migrate inspect`.

use std::path::PathBuf;

use crate::core::report::text;
use crate::exit::{Failure, Outcome};
use crate::output::Printer;
use crate::settings::Format;

/// Show a bundle's manifest
///
/// The bundle is verified first (members and hashes); `--format json` prints the manifest as it
/// is stored.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The bundle file
    pub file: PathBuf,
}

pub fn run_inspect(args: &InspectArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    let bundle = crate::bundle_file::open_bundle(&args.file, &[])?;
    let rendered = match format {
        Format::Json => String::from_utf8_lossy(&bundle.manifest_bytes).into_owned(),
        Format::Text | Format::Markdown => text::manifest(&bundle.manifest, bundle.signature.is_some()),
    };
    printer.product(&rendered);
    Ok(Outcome::Success)
}
