//! minisign-compatible keys and signatures.
//!
//! Keys are made and read with the `minisign` crate, and signatures checked with it. Signing is
//! ours: `minisign::sign` mixes random noise into every signature, and a signed bundle must be
//! reproducible byte for byte, so we sign with plain (deterministic) RFC 8032 ed25519 and write
//! minisign's prehashed format (`ED`: ed25519 over blake2b-512 of the data, then a global
//! signature over the signature and the trusted comment).

use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::Digest as _;

/// Why a key or signature could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read the key `{path}`: {reason}")]
    Key { path: String, reason: String },
    #[error("the signature is invalid: {0}")]
    Invalid(String),
}

/// A secret key and its public half.
pub struct SigningKey {
    keynum: [u8; 8],
    keypair: ed25519_compact::KeyPair,
}

/// Writes a new, unencrypted key pair: `path` (secret, mode 0600) and `path.pub`.
pub fn keygen(path: &Path) -> Result<(), SignError> {
    let failure = |reason: String| SignError::Key { path: path.display().to_string(), reason };
    let pair = minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| failure(e.to_string()))?;
    let secret = pair.sk.to_box(Some("migrate secret key")).map_err(|e| failure(e.to_string()))?.into_string();
    let public = pair.pk.to_box().map_err(|e| failure(e.to_string()))?.into_string();
    let public_path = public_key_path(path);
    if path.exists() || public_path.exists() {
        return Err(failure("the file exists; remove it first or choose another name".into()));
    }
    write_private(path, secret.as_bytes()).map_err(|e| failure(e.to_string()))?;
    std::fs::write(&public_path, public).map_err(|e| failure(e.to_string()))?;
    Ok(())
}

/// The public key file beside a secret key.
pub fn public_key_path(secret: &Path) -> std::path::PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl SigningKey {
    /// Reads an unencrypted minisign secret key.
    pub fn read(path: &Path) -> Result<SigningKey, SignError> {
        let failure = |reason: String| SignError::Key { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| failure(e.to_string()))?;
        let secret =
            minisign::SecretKeyBox::from_string(&text).and_then(|b| b.into_unencrypted_secret_key()).map_err(|e| {
                failure(format!("{e} (password-protected keys are not supported; make one with `migrate keygen`)"))
            })?;
        // Layout of minisign's secret key bytes: algorithm ids and KDF parameters (54 bytes),
        // key id (8), ed25519 secret key = seed and public key (64), checksum (32).
        let bytes = secret.to_bytes();
        if bytes.len() < 126 {
            return Err(failure("the key is too short".into()));
        }
        let mut keynum = [0u8; 8];
        keynum.copy_from_slice(&bytes[54..62]);
        let seed = ed25519_compact::Seed::from_slice(&bytes[62..94]).map_err(|e| failure(e.to_string()))?;
        let keypair = ed25519_compact::KeyPair::from_seed(seed);
        if keypair.pk.as_ref() != &bytes[94..126] {
            return Err(failure("the key's public half does not match its secret half".into()));
        }
        Ok(SigningKey { keynum, keypair })
    }

    /// Returns the minisign signature file of `data`, deterministic for the same key, data and
    /// trusted comment.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> String {
        let prehash = blake2::Blake2b512::digest(data);
        let signature = self.keypair.sk.sign(prehash, None);
        let mut sig_and_comment = signature.to_vec();
        sig_and_comment.extend_from_slice(trusted_comment.as_bytes());
        let global = self.keypair.sk.sign(&sig_and_comment, None);
        let mut packed = b"ED".to_vec();
        packed.extend_from_slice(&self.keynum);
        packed.extend_from_slice(signature.as_ref());
        format!(
            "untrusted comment: signature from migrate\n{}\ntrusted comment: {trusted_comment}\n{}\n",
            BASE64.encode(packed),
            BASE64.encode(global.as_ref())
        )
    }
}

/// A public key a target trusts.
pub struct TrustedKey {
    pub path: String,
    key: minisign::PublicKey,
}

impl TrustedKey {
    /// Reads `--trust KEY`: a minisign public key file (or a file holding the bare base64 key),
    /// or, when no such file exists, the bare base64 key itself (minisign's `-P`).
    pub fn read(path: &Path) -> Result<TrustedKey, SignError> {
        let failure = |reason: String| SignError::Key { path: path.display().to_string(), reason };
        if !path.exists()
            && let Some(text) = path.to_str()
            && let Ok(key) = minisign::PublicKey::from_base64(text.trim())
        {
            return Ok(TrustedKey { path: format!("the key {}", text.trim()), key });
        }
        let text = std::fs::read_to_string(path).map_err(|e| failure(e.to_string()))?;
        let key = minisign::PublicKeyBox::from_string(&text)
            .and_then(|b| b.into_public_key())
            .or_else(|_| minisign::PublicKey::from_base64(text.trim()))
            .map_err(|e| failure(e.to_string()))?;
        Ok(TrustedKey { path: path.display().to_string(), key })
    }

    /// Checks a signature file over `data`; returns its trusted comment.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<String, SignError> {
        let signature =
            minisign::SignatureBox::from_string(signature).map_err(|e| SignError::Invalid(e.to_string()))?;
        minisign::verify(&self.key, &signature, Cursor::new(data), true, false, false)
            .map_err(|e| SignError::Invalid(e.to_string()))?;
        signature.trusted_comment().map_err(|e| SignError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_deterministic_and_minisign_verifies_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("release.key");
        keygen(&key).unwrap();
        let signer = SigningKey::read(&key).unwrap();
        let a = signer.sign(b"manifest", "release sha256:x");
        let b = signer.sign(b"manifest", "release sha256:x");
        assert_eq!(a, b);
        let trusted = TrustedKey::read(&public_key_path(&key)).unwrap();
        assert_eq!(trusted.verify(b"manifest", &a).unwrap(), "release sha256:x");
        assert!(trusted.verify(b"tampered", &a).is_err());
        let forged = a.replace("release sha256:x", "release sha256:y");
        assert!(trusted.verify(b"manifest", &forged).is_err());
        let other = dir.path().join("other.key");
        keygen(&other).unwrap();
        let stranger = TrustedKey::read(&public_key_path(&other)).unwrap();
        assert!(stranger.verify(b"manifest", &a).is_err());
        assert!(keygen(&key).is_err(), "keygen never overwrites a key");
    }
}
