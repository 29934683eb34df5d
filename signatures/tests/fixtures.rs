//! Commits and a tag signed by the real `git commit -S` / `git tag -s` with
//! `gpg.format ssh` (OpenSSH 9.2's ssh-keygen: Ed25519, RSA 3072, ECDSA P-256),
//! and the allowed_signers file `git verify-commit` accepted them with.

use signatures::{split_commit, split_tag, AllowedSigners, VerifyError};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn signers() -> AllowedSigners {
    AllowedSigners::parse(&String::from_utf8(fixture("allowed_signers")).unwrap()).unwrap()
}

const NOW: i64 = 1_796_412_130;

#[test]
fn commits_signed_with_each_key_type_verify() {
    for kind in ["ed25519", "rsa", "ecdsa"] {
        let signed = split_commit(&fixture(&format!("commit-{kind}.txt"))).expect("signed");
        let signer = signers()
            .verify(&signed.payload, &signed.signature, NOW)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(signer.principal, format!("{kind}@plumb.test"));
        assert!(signer.fingerprint.starts_with("SHA256:"));
    }
    let ecdsa = split_commit(&fixture("commit-ecdsa.txt")).unwrap();
    let signer = signers()
        .verify(&ecdsa.payload, &ecdsa.signature, NOW)
        .unwrap();
    // As `git verify-commit` printed it.
    assert_eq!(
        signer.fingerprint,
        "SHA256:qZXJiU0wCUQLRftc/zA3EEeQegeFXWw5/S+02jXg3J0"
    );
}

#[test]
fn an_annotated_tag_verifies() {
    let signed = split_tag(&fixture("tag-ed25519.txt")).expect("signed");
    assert!(signed.payload.ends_with(b"release v1\n"));
    let signer = signers()
        .verify(&signed.payload, &signed.signature, NOW)
        .unwrap();
    assert_eq!(signer.principal, "ed25519@plumb.test");
}

#[test]
fn an_unsigned_commit_has_no_signature() {
    assert!(split_commit(&fixture("commit-unsigned.txt")).is_none());
}

#[test]
fn a_changed_commit_or_a_stranger_s_key_is_refused() {
    let raw = fixture("commit-ed25519.txt");
    let changed = String::from_utf8(raw.clone())
        .unwrap()
        .replace("signed by ed25519", "signed by evil");
    let signed = split_commit(changed.as_bytes()).unwrap();
    assert!(matches!(
        signers().verify(&signed.payload, &signed.signature, NOW),
        Err(VerifyError::BadSignature { .. })
    ));
    let signed = split_commit(&raw).unwrap();
    let only_rsa = String::from_utf8(fixture("allowed_signers"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("rsa@"))
        .collect::<Vec<_>>()
        .join("\n");
    let err = AllowedSigners::parse(&only_rsa)
        .unwrap()
        .verify(&signed.payload, &signed.signature, NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::NotAllowed { .. }), "{err}");
    assert!(err.to_string().contains("SHA256:"), "{err}");
}

#[test]
fn validity_and_namespaces_of_the_allowed_signers_apply() {
    let raw = fixture("commit-ed25519.txt");
    let signed = split_commit(&raw).unwrap();
    let line = String::from_utf8(fixture("allowed_signers"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("ed25519@"))
        .unwrap()
        .to_owned();
    let (principal, key) = line.split_once(' ').unwrap();
    let with = |options: &str| {
        AllowedSigners::parse(&format!("{principal} {options} {key}"))
            .unwrap()
            .verify(&signed.payload, &signed.signature, NOW)
    };
    assert!(with(r#"valid-after="20260101""#).is_ok());
    assert!(matches!(
        with(r#"valid-before="20260101""#),
        Err(VerifyError::OutsideValidity { .. })
    ));
    assert!(with(r#"namespaces="file,git""#).is_ok());
    assert!(matches!(
        with(r#"namespaces="file""#),
        Err(VerifyError::BadSignature { .. })
    ));
    // authorized_keys format, as Flux takes SSH keys: the comment names the signer.
    let authorized = AllowedSigners::parse(key).unwrap();
    let signer = authorized
        .verify(&signed.payload, &signed.signature, NOW)
        .unwrap();
    assert_eq!(signer.principal, "ed25519@plumb.test");
}

#[test]
fn broken_input_is_an_error_never_a_panic() {
    let raw = fixture("commit-rsa.txt");
    for cut in (0..raw.len()).step_by(13) {
        if let Some(signed) = split_commit(&raw[..cut]) {
            let _ = signers().verify(&signed.payload, &signed.signature, NOW);
        }
    }
    assert!(AllowedSigners::parse("someone ssh-ed25519 !!!").is_err());
    assert!(AllowedSigners::parse("just words").is_err());
    let pgp = "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
    assert_eq!(
        signers().verify(b"x", pgp, NOW),
        Err(VerifyError::UnsupportedKind("OpenPGP"))
    );
}
