//! Decrypts files that `sops` (getsops/sops v3) encrypted for age recipients:
//! YAML, JSON, dotenv, INI and binary, in memory, with the MAC always verified.
//!
//! The format: every encrypted value is `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
//! under the file's 32-byte data key, with the value's key path (`a:b:`) as
//! additional data; the data key is an age file per recipient (or Shamir
//! shares across key groups); the MAC is SHA-512 over the leaf values in
//! document order, stored encrypted with `lastmodified` as additional data.

mod age;
mod formats;
mod metadata;
mod shamir;
mod tree;
mod value;

pub use age::{parse_identities, Identity};
pub use formats::Format;

/// Why a file could not be decrypted. No variant holds a decrypted value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SopsError {
    /// The file does not parse in its format.
    #[error("invalid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// The `sops` metadata is missing or broken.
    #[error("broken SOPS metadata: {0}")]
    Metadata(String),
    /// The data key is encrypted only for key types plumb does not hold.
    #[error("its data key is encrypted only for {types}, not for age; plumb decrypts with age keys only")]
    NoAgeRecipient { types: String },
    /// No identity of the key file opens the data key.
    #[error("no identity in the key file matches its age recipients ({recipients})")]
    NoMatchingIdentity { recipients: String },
    /// Inside the age file that holds the data key.
    #[error("its data key cannot be decrypted: {0}")]
    Age(String),
    /// Internal: no identity opened an age file (turned into NoMatchingIdentity).
    #[error("no identity matches")]
    NoIdentity,
    /// Shamir key groups of which too few could be opened.
    #[error("{opened} of its {groups} key groups could be opened, and {needed} are needed")]
    KeyGroups {
        groups: usize,
        opened: usize,
        needed: usize,
    },
    /// A value that cannot be decrypted (altered, truncated, or not SOPS's format).
    #[error("the value at '{path}' {message}")]
    Value { path: String, message: String },
    /// The values do not match the MAC: the file was altered after sops wrote it.
    #[error("its MAC does not match its values: the file was changed after sops encrypted it")]
    Mac,
}

/// A decrypted file: the plaintext in the file's own format (a YAML file's
/// documents written as JSON, which YAML readers take as it is), and the
/// decrypted values themselves, so that printing can mask them.
pub struct Decrypted {
    pub text: Vec<u8>,
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Decrypted({} bytes, {} secrets)",
            self.text.len(),
            self.secrets.len()
        )
    }
}

/// Whether `bytes` is a file sops encrypted, in `format`. Cheap: looks for the
/// metadata's marks before parsing anything.
pub fn is_encrypted(format: Format, bytes: &[u8]) -> bool {
    formats::is_encrypted(format, bytes)
}

/// Decrypts a file of `format` with `identities`, verifying its MAC.
pub fn decrypt(
    format: Format,
    bytes: &[u8],
    identities: &[Identity],
) -> Result<Decrypted, SopsError> {
    formats::decrypt(format, bytes, identities)
}
