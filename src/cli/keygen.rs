//! `migrate keygen`.

use std::path::PathBuf;

use crate::exit::{Failure, Outcome};
use crate::output::Printer;

/// Make a minisign-compatible ed25519 key pair
///
/// Writes the secret key to KEYFILE (mode 0600, not password-protected: keep it in your CI's
/// secret store) and the public key to KEYFILE.pub, which targets trust with `--trust` or by
/// copying it into `<target>/.migrate/trusted/`. Never overwrites a file.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the secret key
    #[arg(short = 'o', long = "output", value_name = "KEYFILE")]
    pub output: PathBuf,
}

pub fn run_keygen(args: &KeygenArgs, printer: &Printer) -> Result<Outcome, Failure> {
    crate::sign::keygen(&args.output)
        .map_err(|e| Failure::usage(miette::miette!(code = "migrate::keygen_failed", "{e}")))?;
    printer.status(&format!(
        "wrote the secret key `{}` and the public key `{}`",
        args.output.display(),
        crate::sign::public_key_path(&args.output).display()
    ));
    Ok(Outcome::Success)
}
