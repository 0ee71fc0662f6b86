//! `migrate verify`.

use std::path::PathBuf;

use crate::bundle_file::open_bundle;
use crate::core::verify::SignatureCheck;
use crate::exit::{Failure, Outcome};
use crate::settings::Format;

/// Check a bundle's integrity (and signature) offline
///
/// Refuses an unknown format version, a member the manifest does not list or a listed member
/// that is missing, links and other non-regular members, absolute or `..` paths, duplicate
/// names, a truncated or corrupt archive and a wrong sha256; with --trust, a missing signature or
/// one made by another key. Exits 1 when refused, 2 when the file is not a bundle at all.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The bundle file
    pub file: PathBuf,
    /// A public key whose signature is required: a minisign `.pub` file or the bare base64 key;
    /// may be repeated
    #[arg(long, value_name = "KEY")]
    pub trust: Vec<PathBuf>,
}

pub fn run_verify(args: &VerifyArgs, format: Format, printer: &crate::output::Printer) -> Result<Outcome, Failure> {
    let bundle = open_bundle(&args.file, &args.trust)?;
    let report = bundle.report(&args.file.display().to_string(), !args.trust.is_empty());
    let text = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text | Format::Markdown => {
            let signed = match report.signature {
                SignatureCheck::Trusted => "signed by a trusted key",
                SignatureCheck::SignedUnchecked => "signed (no key given to check the signature)",
                SignatureCheck::Unsigned => "unsigned",
            };
            format!(
                "ok: `{}` is intact: {} members, release {} ({}), {signed}\n",
                report.file,
                report.members,
                report.release_id,
                report.bundle.name(),
            )
        }
    };
    printer.product(&text);
    Ok(Outcome::Success)
}
