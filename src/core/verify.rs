//! A bundle's members → a verified bundle, or the reason it is refused. Integrity only: every
//! member listed, every listed member present, every sha256 and size right. Signatures are
//! checked by the shell against the trusted keys, over the manifest bytes this returns.

use std::collections::BTreeMap;

use crate::core::hash::ContentHash;
use crate::core::manifest::{BundleKind, MANIFEST_PATH, Manifest, ManifestError, SIGNATURE_PATH};

/// A bundle whose members match its manifest.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Option<String>,
    pub members: BTreeMap<String, Vec<u8>>,
}

/// The format version of `verify --format json`.
pub const VERIFY_FORMAT_VERSION: u32 = 1;

/// What `verify --format json` prints about a bundle it accepts (a refused one is an error on
/// stderr and exit 1).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate verify --format json")]
pub struct VerifyReport {
    /// Format version of this document; `1`.
    pub format_version: u32,
    /// The bundle file as given.
    pub file: String,
    /// Always `true`: a bundle that fails verification prints no document.
    pub valid: bool,
    pub release_id: ContentHash,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    pub bundle: BundleKind,
    /// Members of the archive, the manifest included.
    pub members: usize,
    pub signature: SignatureCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureCheck {
    /// No `manifest.json.minisig`.
    Unsigned,
    /// Signed, but no key was given to check the signature against.
    SignedUnchecked,
    /// Signed by one of the keys given with `--trust`.
    Trusted,
}

impl VerifiedBundle {
    /// The report of this bundle; `trusted` when its signature was checked against given keys.
    pub fn report(&self, file: &str, trusted: bool) -> VerifyReport {
        VerifyReport {
            format_version: VERIFY_FORMAT_VERSION,
            file: file.to_string(),
            valid: true,
            release_id: self.manifest.release.id.clone(),
            release_version: self.manifest.release.version.clone(),
            bundle: self.manifest.release.bundle,
            members: self.members.len() + 1 + usize::from(self.signature.is_some()),
            signature: match (&self.signature, trusted) {
                (_, true) => SignatureCheck::Trusted,
                (Some(_), false) => SignatureCheck::SignedUnchecked,
                (None, false) => SignatureCheck::Unsigned,
            },
        }
    }
}

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("`{MANIFEST_PATH}` cannot be read: {0}")]
    Unreadable(String),
    #[error("{0}")]
    UnknownFormat(String),
    #[error("member `{0}` is not listed in the manifest")]
    Unlisted(String),
    #[error("member `{0}` is listed in the manifest but missing")]
    Missing(String),
    #[error("the manifest lists `{0}` twice, or with an unsafe path")]
    BadListing(String),
    #[error("member `{path}` has sha256 {actual}, but the manifest says {expected}")]
    HashMismatch { path: String, expected: ContentHash, actual: ContentHash },
    #[error("{0}")]
    TooLarge(String),
    #[error("member `{path}` has {actual} bytes, but the manifest says {expected}")]
    SizeMismatch { path: String, expected: u64, actual: u64 },
    #[error("the signature is not valid UTF-8 text")]
    SignatureNotText,
    #[error("the session statements of `{dialect}` have sha256 {actual}, but the manifest says {expected}")]
    SessionMismatch { dialect: crate::core::model::Dialect, expected: ContentHash, actual: ContentHash },
}

impl VerifyError {
    /// Whether the file is not a bundle at all (exit 2) rather than a bundle that is refused
    /// (exit 1).
    pub fn is_not_a_bundle(&self) -> bool {
        matches!(self, VerifyError::Unreadable(_))
    }

    /// The stable diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Unreadable(_) => "migrate::manifest_unreadable",
            VerifyError::UnknownFormat(_) => "migrate::unknown_bundle_format",
            VerifyError::Unlisted(_) => "migrate::member_unlisted",
            VerifyError::Missing(_) => "migrate::member_missing",
            VerifyError::BadListing(_) => "migrate::manifest_listing",
            VerifyError::HashMismatch { .. } => "migrate::member_hash",
            VerifyError::SizeMismatch { .. } => "migrate::member_size",
            VerifyError::TooLarge(_) => "migrate::bundle_too_large",
            VerifyError::SignatureNotText => "migrate::signature_invalid",
            VerifyError::SessionMismatch { .. } => "migrate::session_hash",
        }
    }
}

/// Limits a bundle must stay within, whatever its manifest says: readers check them before
/// inflating anything, and `export` refuses to write a bundle beyond them.
pub mod limits {
    /// `manifest.json` (a 100,000-item release has a 25 MB manifest; a migration of 800,000
    /// statements, 56 MB of SQL, adds 71 MB).
    pub const MANIFEST_BYTES: u64 = 256 << 20;
    /// `manifest.json.minisig`.
    pub const SIGNATURE_BYTES: u64 = 64 << 10;
    /// One member.
    pub const MEMBER_BYTES: u64 = 1 << 30;
    /// Every member together.
    pub const TOTAL_BYTES: u64 = 2 << 30;

    /// What a bundle of this manifest and these members would exceed, so that `export` never
    /// writes a bundle every reader refuses.
    pub fn exceeded<'a>(manifest: u64, members: impl IntoIterator<Item = (&'a str, u64)>) -> Option<String> {
        if manifest > MANIFEST_BYTES {
            return Some(format!("its manifest would be {manifest} bytes; a bundle's is at most {MANIFEST_BYTES}"));
        }
        let mut total: u64 = 0;
        for (path, size) in members {
            if size > MEMBER_BYTES {
                return Some(format!("`{path}` is {size} bytes; a bundle member is at most {MEMBER_BYTES}"));
            }
            total = total.saturating_add(size);
        }
        (total > TOTAL_BYTES).then(|| format!("its members are {total} bytes; a bundle holds at most {TOTAL_BYTES}"))
    }
}

/// A manifest that has been read and checked, before any payload member is: what the archive
/// reader may still inflate, member by member.
#[derive(Debug)]
pub struct Admission {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Option<String>,
    /// Every member path the manifest lists, with its sha256 and size.
    listed: BTreeMap<String, (ContentHash, u64)>,
}

impl Admission {
    /// The size the manifest lists for a member path, if it lists the path.
    pub fn size_of(&self, path: &str) -> Option<u64> {
        self.listed.get(path).map(|(_, size)| *size)
    }
}

/// Reads the manifest (and signature text) a bundle starts with, and lists the members it
/// admits; nothing of the payload has been read yet.
pub fn admit(
    manifest_bytes: Vec<u8>,
    signature: Option<Vec<u8>>,
    is_safe_path: impl Fn(&str) -> bool,
) -> Result<Admission, VerifyError> {
    let manifest = Manifest::parse(&manifest_bytes).map_err(|e| match e {
        ManifestError::UnknownFormat(_) => VerifyError::UnknownFormat(e.to_string()),
        other => VerifyError::Unreadable(other.to_string()),
    })?;
    let signature = match signature {
        Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| VerifyError::SignatureNotText)?),
        None => None,
    };
    for (dialect, session) in &manifest.session {
        let actual = crate::core::hash::session_sha256(&session.statements);
        if actual != session.sha256 {
            return Err(VerifyError::SessionMismatch { dialect: *dialect, expected: session.sha256.clone(), actual });
        }
    }
    let mut listed: BTreeMap<String, (ContentHash, u64)> = BTreeMap::new();
    let mut total: u64 = 0;
    for item in &manifest.items {
        let Some(path) = item.path.as_deref() else { continue };
        if !is_safe_path(path) || path == MANIFEST_PATH || path == SIGNATURE_PATH {
            return Err(VerifyError::BadListing(path.to_string()));
        }
        // Dialects share a generic migration file: one member, listed once per dialect.
        match listed.get(path) {
            None => {
                if item.size > limits::MEMBER_BYTES {
                    return Err(VerifyError::TooLarge(format!(
                        "member `{path}` is listed with {} bytes; a bundle member holds at most {}",
                        item.size,
                        limits::MEMBER_BYTES
                    )));
                }
                total = total.saturating_add(item.size);
                listed.insert(path.to_string(), (item.sha256.clone(), item.size));
            }
            Some((hash, size)) if *hash == item.sha256 && *size == item.size => {}
            Some(_) => return Err(VerifyError::BadListing(path.to_string())),
        }
    }
    if total > limits::TOTAL_BYTES {
        return Err(VerifyError::TooLarge(format!(
            "the manifest lists {total} bytes of members; a bundle holds at most {}",
            limits::TOTAL_BYTES
        )));
    }
    Ok(Admission { manifest, manifest_bytes, signature, listed })
}

/// Checks the payload members (each listed, each read at its listed size, none twice) against
/// the admission: every listed member present with its sha256.
pub fn finish(admission: Admission, members: Vec<(String, Vec<u8>)>) -> Result<VerifiedBundle, VerifyError> {
    let members: BTreeMap<String, Vec<u8>> = members.into_iter().collect();
    if let Some(unlisted) = members.keys().find(|p| !admission.listed.contains_key(p.as_str())) {
        return Err(VerifyError::Unlisted(unlisted.clone()));
    }
    for (path, (expected, size)) in &admission.listed {
        let Some(bytes) = members.get(path) else { return Err(VerifyError::Missing(path.to_string())) };
        if bytes.len() as u64 != *size {
            return Err(VerifyError::SizeMismatch {
                path: path.to_string(),
                expected: *size,
                actual: bytes.len() as u64,
            });
        }
        let actual = ContentHash::of(bytes);
        if actual != *expected {
            return Err(VerifyError::HashMismatch { path: path.to_string(), expected: expected.clone(), actual });
        }
    }
    let Admission { manifest, manifest_bytes, signature, .. } = admission;
    Ok(VerifiedBundle { manifest, manifest_bytes, signature, members })
}

#[cfg(test)]
mod tests {
    use super::limits::*;

    #[test]
    fn export_refuses_what_readers_would_refuse() {
        assert_eq!(
            exceeded(MANIFEST_BYTES, [("a", MEMBER_BYTES), ("b", MEMBER_BYTES)]),
            None,
            "the limits are inclusive"
        );
        assert!(exceeded(MANIFEST_BYTES + 1, []).unwrap().contains("manifest"));
        assert!(exceeded(1, [("big.sql", MEMBER_BYTES + 1)]).unwrap().contains("`big.sql`"));
        assert!(exceeded(1, [("a", MEMBER_BYTES), ("b", MEMBER_BYTES), ("c", 1)]).unwrap().contains("members"));
    }
}
