//! Who signed a Git commit or tag: the signature split from the raw object as
//! Git does (`git verify-commit`, `git verify-tag`), and SSH signatures
//! (`gpg.format ssh`, the `sshsig` format, namespace `git`) verified against
//! an OpenSSH `allowed_signers` file (or an `authorized_keys` file, as Flux
//! takes SSH keys).
//!
//! Verification is ring's (already linked for TLS): Ed25519, ECDSA P-256 and
//! P-384, and RSA with SHA-256 or SHA-512; the `ssh-key` crate would add about
//! 250 KiB for the same.

mod object;
mod ssh;

pub use object::{split_commit, split_tag, Signed};
pub use ssh::{AllowedSigners, Signer};

/// Why a signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The object carries no signature.
    #[error("it is not signed")]
    Unsigned,
    /// A signature of a kind this build does not verify (OpenPGP, X.509).
    #[error("it is signed with {0}, which is not verified here")]
    UnsupportedKind(&'static str),
    /// The signature block does not parse.
    #[error("its signature is malformed: {0}")]
    Malformed(String),
    /// Signed by a key that is not among the allowed signers.
    #[error("it is signed by {fingerprint}, which is not an allowed signer")]
    NotAllowed { fingerprint: String },
    /// The key is allowed, but not for this time (`valid-after`, `valid-before`).
    #[error("it is signed by {principal} ({fingerprint}), whose key is not valid at this time")]
    OutsideValidity {
        principal: String,
        fingerprint: String,
    },
    /// The signature does not match the object: altered, or signed for another namespace.
    #[error("its signature by {fingerprint} does not verify: the object was changed after it was signed")]
    BadSignature { fingerprint: String },
}
