//! `migrate sign`.

use std::path::PathBuf;

use crate::exit::{Failure, Outcome};
use crate::output::Printer;

/// Sign files with a key from `migrate keygen`
///
/// Writes `FILE.minisig` beside each FILE: minisign's prehashed ed25519 signature, with the
/// trusted comment `file:NAME` (no time: the same key and file give the same bytes). Check it
/// with `minisign -Vm FILE -p KEYFILE.pub`. The release archive's `SHA256SUMS` is signed so.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The files to sign
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The secret key (`migrate keygen`)
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
}

pub fn run_sign(args: &SignArgs, printer: &Printer) -> Result<Outcome, Failure> {
    let key = crate::sign::SigningKey::read(&args.key)
        .map_err(|e| Failure::usage(miette::miette!(code = "migrate::key_unreadable", "{e}")))?;
    for file in &args.files {
        let unreadable = |e: std::io::Error| {
            Failure::usage(miette::miette!(code = "migrate::file_unreadable", "cannot read `{}`: {e}", file.display()))
        };
        let bytes = std::fs::read(file).map_err(unreadable)?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let signature = key.sign(&bytes, &format!("file:{name}"));
        let mut out = file.clone().into_os_string();
        out.push(".minisig");
        let out = PathBuf::from(out);
        crate::target::write_durably(&out, signature.as_bytes()).map_err(|e| {
            Failure::usage(miette::miette!(
                code = "migrate::signature_unwritten",
                "cannot write `{}`: {e}",
                out.display()
            ))
        })?;
        printer.status(&format!("wrote `{}`", out.display()));
    }
    Ok(Outcome::Success)
}
