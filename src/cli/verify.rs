//! `migrate verify`, and the one way every command opens a bundle.

use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, ReadError};
use crate::core::verify::{Admission, SignatureCheck, VerifiedBundle, VerifyError, admit, finish};
use crate::exit::{Failure, Outcome};
use crate::settings::Format;
use crate::sign::TrustedKey;

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

/// Reads, checks and (with trusted keys) authenticates a bundle file, streaming it: the manifest
/// and its signature are checked before any payload member is inflated, and nothing beyond what
/// the manifest lists is read.
pub fn open_bundle(path: &Path, trust: &[PathBuf]) -> Result<VerifiedBundle, Failure> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| {
        Failure::usage(miette::miette!(code = "migrate::bundle_unreadable", "cannot read `{shown}`: {e}"))
    })?;
    let refused = |e: VerifyError| {
        let report = miette::miette!(
            code = e.code(),
            help = "the file was damaged or altered on the way; get a fresh copy of the bundle",
            "`{shown}` is refused: {e}"
        );
        if e.is_not_a_bundle() { Failure::usage(report) } else { Failure::refused(report) }
    };
    let admit = |head: archive::Head| -> Result<Admission, Failure> {
        let admission = admit(head.manifest, head.signature, archive::is_safe_member_path).map_err(refused)?;
        if !trust.is_empty() {
            check_signature(&shown, &admission, trust)?;
        }
        Ok(admission)
    };
    let (admission, members) = archive::read(file, admit).map_err(|e| match e {
        ReadError::Refused(failure) => failure,
        ReadError::Archive(
            e @ (ArchiveError::NotAnArchive | ArchiveError::NoManifest(_) | ArchiveError::ManifestNotJson(_)),
        ) => Failure::usage(miette::miette!(
            code = e.code(),
            help = "a bundle is the tar file `migrate export` writes",
            "`{shown}` is not a bundle: {e}"
        )),
        ReadError::Archive(other) => Failure::refused(miette::miette!(
            code = other.code(),
            help = "the file was damaged or altered on the way; get a fresh copy of the bundle",
            "`{shown}` is refused: {other}"
        )),
    })?;
    finish(admission, members).map_err(refused)
}

fn check_signature(shown: &str, bundle: &Admission, trust: &[PathBuf]) -> Result<(), Failure> {
    let Some(signature) = &bundle.signature else {
        return Err(Failure::refused(miette::miette!(
            code = "migrate::bundle_unsigned",
            help = "this target trusts signed bundles only: export with `--sign KEY`",
            "`{shown}` is not signed"
        )));
    };
    let mut reasons = Vec::new();
    for key_path in trust {
        let key = TrustedKey::read(key_path)
            .map_err(|e| Failure::usage(miette::miette!(code = "migrate::key_unreadable", "{e}")))?;
        match key.verify(&bundle.manifest_bytes, signature) {
            Ok(comment) if comment == bundle.manifest.trusted_comment() => return Ok(()),
            Ok(comment) => {
                reasons.push(format!("`{}`: the trusted comment `{comment}` does not match the manifest", key.path))
            }
            Err(e) => reasons.push(format!("`{}`: {e}", key.path)),
        }
    }
    Err(Failure::refused(miette::miette!(
        code = "migrate::signature_invalid",
        help = "the bundle was signed by another key, or altered after signing",
        "`{shown}` has no valid signature by a trusted key: {}",
        reasons.join("; ")
    )))
}
