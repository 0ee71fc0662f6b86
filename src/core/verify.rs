//! A bundle's members → a verified bundle, or the reason it is refused. Integrity only: every
//! member listed, every listed member present, every sha256 and size right. Signatures are
//! checked by the shell against the trusted keys, over the manifest bytes this returns.

use std::collections::{BTreeMap, BTreeSet};

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
    #[error("the file has no `{MANIFEST_PATH}`: it is not a bundle")]
    NoManifest,
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
        matches!(self, VerifyError::NoManifest | VerifyError::Unreadable(_))
    }

    /// The stable diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NoManifest => "migrate::not_a_bundle",
            VerifyError::Unreadable(_) => "migrate::manifest_unreadable",
            VerifyError::UnknownFormat(_) => "migrate::unknown_bundle_format",
            VerifyError::Unlisted(_) => "migrate::member_unlisted",
            VerifyError::Missing(_) => "migrate::member_missing",
            VerifyError::BadListing(_) => "migrate::manifest_listing",
            VerifyError::HashMismatch { .. } => "migrate::member_hash",
            VerifyError::SizeMismatch { .. } => "migrate::member_size",
            VerifyError::SignatureNotText => "migrate::signature_invalid",
            VerifyError::SessionMismatch { .. } => "migrate::session_hash",
        }
    }
}

/// Checks members (in archive order, already free of unsafe paths and duplicates) against the
/// manifest they carry.
pub fn verify(
    members: Vec<(String, Vec<u8>)>,
    is_safe_path: impl Fn(&str) -> bool,
) -> Result<VerifiedBundle, VerifyError> {
    let mut members: BTreeMap<String, Vec<u8>> = members.into_iter().collect();
    let manifest_bytes = members.remove(MANIFEST_PATH).ok_or(VerifyError::NoManifest)?;
    let manifest = Manifest::parse(&manifest_bytes).map_err(|e| match e {
        ManifestError::UnknownFormat(_) => VerifyError::UnknownFormat(e.to_string()),
        other => VerifyError::Unreadable(other.to_string()),
    })?;
    let signature = match members.remove(SIGNATURE_PATH) {
        Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| VerifyError::SignatureNotText)?),
        None => None,
    };
    for (dialect, session) in &manifest.session {
        let actual = crate::core::hash::session_sha256(&session.statements);
        if actual != session.sha256 {
            return Err(VerifyError::SessionMismatch { dialect: *dialect, expected: session.sha256.clone(), actual });
        }
    }
    let mut listed: BTreeMap<&str, (&ContentHash, u64)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for item in &manifest.items {
        let Some(path) = item.path.as_deref() else { continue };
        if !is_safe_path(path) || path == MANIFEST_PATH || path == SIGNATURE_PATH {
            return Err(VerifyError::BadListing(path.to_string()));
        }
        // Dialects share a generic migration file: one member, listed once per dialect.
        if seen.insert(path) {
            listed.insert(path, (&item.sha256, item.size));
        } else if listed.get(path).map(|(h, _)| *h) != Some(&item.sha256) {
            return Err(VerifyError::BadListing(path.to_string()));
        }
    }
    if let Some(unlisted) = members.keys().find(|p| !listed.contains_key(p.as_str())) {
        return Err(VerifyError::Unlisted(unlisted.clone()));
    }
    for (path, (expected, size)) in &listed {
        let Some(bytes) = members.get(*path) else { return Err(VerifyError::Missing(path.to_string())) };
        if bytes.len() as u64 != *size {
            return Err(VerifyError::SizeMismatch {
                path: path.to_string(),
                expected: *size,
                actual: bytes.len() as u64,
            });
        }
        let actual = ContentHash::of(bytes);
        if actual != **expected {
            return Err(VerifyError::HashMismatch { path: path.to_string(), expected: (*expected).clone(), actual });
        }
    }
    Ok(VerifiedBundle { manifest, manifest_bytes, signature, members })
}
