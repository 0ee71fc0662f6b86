//! The one way every command opens a bundle file: streamed, checked against its manifest, and
//! authenticated when keys are trusted.

use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, ReadError};
use crate::core::verify::{Admission, VerifiedBundle, VerifyError, admit, finish};
use crate::exit::Failure;
use crate::sign::TrustedKey;

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
