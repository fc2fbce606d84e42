//! Key material the tool generates locally: the deployer key pair, the bastion's SSH host key and the
//! cluster tag. Generated once per environment and kept in the state, so re-runs reuse them.

use std::fmt;

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};
use ssh_key::private::Ed25519Keypair;
use ssh_key::rand_core::{OsRng, RngCore};
use ssh_key::{LineEnding, PrivateKey};

/// An SSH key pair in OpenSSH formats. `Debug` never shows the private half.
/// Empty (the default) in a state recovered by discovery, whose keys were lost with the state file.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMaterial {
    /// OpenSSH private key (PEM-armoured `OPENSSH PRIVATE KEY`).
    pub private_key: String,
    /// One `authorized_keys` line, e.g. `ssh-ed25519 AAAA... comment`.
    pub public_key: String,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("public_key", &self.public_key)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn material(key: PrivateKey, comment: &str) -> anyhow::Result<KeyMaterial> {
    let mut key = key;
    key.set_comment(comment);
    Ok(KeyMaterial {
        private_key: key
            .to_openssh(LineEnding::LF)
            .context("encoding a private key")?
            .to_string(),
        public_key: key
            .public_key()
            .to_openssh()
            .context("encoding a public key")?,
    })
}

/// The deployer key (the EC2 key pair of the bastion, the director and every BOSH VM). Ed25519:
/// EC2 key pairs, OpenSSH and the bosh CLI all take it, and it is made in microseconds where an
/// RSA-4096 key takes a second or two, on the critical path of every new environment.
pub fn deployer_key(comment: &str) -> anyhow::Result<KeyMaterial> {
    ed25519(comment)
}

/// The bastion's host key, pinned through cloud-init so the first connection is already verified.
pub fn host_key(comment: &str) -> anyhow::Result<KeyMaterial> {
    ed25519(comment)
}

fn ed25519(comment: &str) -> anyhow::Result<KeyMaterial> {
    material(
        PrivateKey::from(Ed25519Keypair::random(&mut OsRng)),
        comment,
    )
}

/// A public key's SHA-256 fingerprint as OpenSSH prints it (`SHA256:...`); empty for a key that
/// does not parse (a recovered state has none).
pub fn fingerprint(public_key: &str) -> String {
    ssh_key::PublicKey::from_openssh(public_key)
        .map(|key| key.fingerprint(ssh_key::HashAlg::Sha256).to_string())
        .unwrap_or_default()
}

/// 16 random bytes, URL-safe base64 without padding: 22 characters.
pub fn cluster_tag() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_tags_are_22_url_safe_characters() {
        let tag = cluster_tag();
        assert_eq!(tag.len(), 22);
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(tag, cluster_tag());
    }

    #[test]
    fn keys_are_ed25519_and_never_debug_printed() {
        for key in [deployer_key("test").unwrap(), host_key("test").unwrap()] {
            assert!(key.public_key.starts_with("ssh-ed25519 "));
            assert!(key.public_key.ends_with(" test"));
            assert!(key.private_key.contains("OPENSSH PRIVATE KEY"));
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
        assert_ne!(deployer_key("a").unwrap(), deployer_key("a").unwrap());
    }
}
