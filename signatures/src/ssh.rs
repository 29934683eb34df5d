//! SSH signatures (OpenSSH's PROTOCOL.sshsig) and the `allowed_signers` file.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ring::{digest, signature};

use crate::VerifyError;

const NAMESPACE: &str = "git";
const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END: &str = "-----END SSH SIGNATURE-----";

/// Who signed: the principal the allowed signers give the key, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub principal: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
struct Entry {
    principals: Vec<String>,
    /// The key in SSH wire format.
    key: Vec<u8>,
    namespaces: Option<Vec<String>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// Keys allowed to sign, from an OpenSSH `allowed_signers` file
/// (`principals [options] keytype base64 [comment]`) or an `authorized_keys`
/// file (`[options] keytype base64 [comment]`, the comment as the principal).
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}

/// Splits a line into words, a double-quoted part staying within its word.
fn words(line: &str) -> Vec<String> {
    split_unquoted(line, char::is_whitespace)
}

/// Splits at the characters `at` accepts, except inside double quotes.
fn split_unquoted(line: &str, at: fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if at(c) && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// `YYYYMMDD[HHMM[SS]][Z]` as seconds since 1970 (UTC).
fn timestamp(text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z').unwrap_or(text);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).map_or(Some(0), |s| s.parse::<i64>().ok());
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}

fn parse_options(text: &str, entry: &mut Entry) -> Result<(), String> {
    for option in split_unquoted(text, |c| c == ',') {
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (option.as_str(), None),
        };
        match (name, value) {
            ("namespaces", Some(v)) => {
                entry.namespaces = Some(v.split(',').map(str::to_owned).collect())
            }
            ("valid-after", Some(v)) => {
                entry.valid_after = Some(timestamp(v).ok_or(format!("valid-after '{v}'"))?)
            }
            ("valid-before", Some(v)) => {
                entry.valid_before = Some(timestamp(v).ok_or(format!("valid-before '{v}'"))?)
            }
            ("cert-authority", None) => {
                return Err("cert-authority keys (SSH certificates) are not supported".into())
            }
            // authorized_keys options that do not bear on signatures.
            _ => {}
        }
    }
    Ok(())
}

impl AllowedSigners {
    /// Parses the file; `Err` names the line.
    pub fn parse(text: &str) -> Result<AllowedSigners, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", n + 1);
            let words = words(line);
            let Some(type_at) = words.iter().position(|w| is_key_type(w)) else {
                return Err(at(
                    "no key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256…)".into(),
                ));
            };
            let blob = words
                .get(type_at + 1)
                .and_then(|b| STANDARD.decode(b).ok())
                .ok_or_else(|| at("the key is not base64".into()))?;
            let mut reader = Reader(&blob);
            if reader
                .string()
                .ok()
                .and_then(|t| std::str::from_utf8(t).ok())
                != Some(words[type_at].as_str())
            {
                return Err(at("the key's type does not match its data".into()));
            }
            let mut entry = Entry {
                principals: Vec::new(),
                key: blob,
                namespaces: None,
                valid_after: None,
                valid_before: None,
            };
            let comment = words.get(type_at + 2).cloned();
            match type_at {
                // authorized_keys: no principals, perhaps options.
                0 => entry.principals.extend(comment),
                1 if looks_like_options(&words[0]) => {
                    parse_options(&words[0], &mut entry).map_err(at)?;
                    entry.principals.extend(comment);
                }
                _ => {
                    entry.principals = words[0].split(',').map(str::to_owned).collect();
                    for options in &words[1..type_at] {
                        parse_options(options, &mut entry).map_err(at)?;
                    }
                }
            }
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Verifies an armored SSH signature over `payload`, as `git verify-commit`
    /// does with `gpg.ssh.allowedSignersFile`; `now` (seconds since 1970) is judged
    /// against `valid-after` and `valid-before`.
    pub fn verify(&self, payload: &[u8], armored: &str, now: i64) -> Result<Signer, VerifyError> {
        let sig = SshSig::parse(armored)?;
        let fingerprint = fingerprint(&sig.public_key);
        let entry = self
            .entries
            .iter()
            .find(|e| e.key == sig.public_key)
            .ok_or_else(|| VerifyError::NotAllowed {
                fingerprint: fingerprint.clone(),
            })?;
        let principal = entry
            .principals
            .first()
            .cloned()
            .unwrap_or_else(|| fingerprint.clone());
        let bad = || VerifyError::BadSignature {
            fingerprint: fingerprint.clone(),
        };
        if sig.namespace != NAMESPACE
            || entry
                .namespaces
                .as_ref()
                .is_some_and(|n| !n.iter().any(|n| n == NAMESPACE))
        {
            return Err(bad());
        }
        if entry.valid_after.is_some_and(|t| now < t)
            || entry.valid_before.is_some_and(|t| now >= t)
        {
            return Err(VerifyError::OutsideValidity {
                principal,
                fingerprint,
            });
        }
        let hashed = match sig.hash_algorithm.as_str() {
            "sha512" => digest::digest(&digest::SHA512, payload),
            "sha256" => digest::digest(&digest::SHA256, payload),
            other => {
                return Err(VerifyError::Malformed(format!("hash algorithm '{other}'")));
            }
        };
        let mut signed = b"SSHSIG".to_vec();
        for part in [
            NAMESPACE.as_bytes(),
            &sig.reserved,
            sig.hash_algorithm.as_bytes(),
            hashed.as_ref(),
        ] {
            put_string(&mut signed, part);
        }
        verify_raw(&sig.public_key, &sig.signature, &signed).map_err(|_| bad())?;
        Ok(Signer {
            principal,
            fingerprint,
        })
    }
}

fn looks_like_options(word: &str) -> bool {
    word.contains('=') || word == "cert-authority"
}

/// OpenSSH's fingerprint: `SHA256:` and the key's SHA-256 in base64.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(digest::digest(&digest::SHA256, key))
    )
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// SSH wire format: big-endian u32s and length-prefixed strings.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VerifyError> {
        if self.0.len() < n {
            return Err(VerifyError::Malformed("it ends early".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, VerifyError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], VerifyError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, VerifyError> {
        String::from_utf8(self.string()?.to_vec())
            .map_err(|_| VerifyError::Malformed("a name is not text".into()))
    }
}

struct SshSig {
    public_key: Vec<u8>,
    namespace: String,
    reserved: Vec<u8>,
    hash_algorithm: String,
    signature: Vec<u8>,
}

impl SshSig {
    fn parse(armored: &str) -> Result<SshSig, VerifyError> {
        let armored = armored.trim();
        if armored.starts_with("-----BEGIN PGP SIGNATURE-----") {
            return Err(VerifyError::UnsupportedKind("OpenPGP"));
        }
        if armored.starts_with("-----BEGIN SIGNED MESSAGE-----") {
            return Err(VerifyError::UnsupportedKind("X.509 (gpgsm)"));
        }
        let body = armored
            .strip_prefix(ARMOR_BEGIN)
            .and_then(|t| t.strip_suffix(ARMOR_END))
            .ok_or_else(|| VerifyError::Malformed("no SSH SIGNATURE armor".into()))?;
        let joined: String = body.split_whitespace().collect();
        let blob = STANDARD
            .decode(joined)
            .map_err(|_| VerifyError::Malformed("not base64".into()))?;
        let mut r = Reader(&blob);
        if r.take(6)? != b"SSHSIG" || r.u32()? != 1 {
            return Err(VerifyError::Malformed("not an SSHSIG version 1".into()));
        }
        Ok(SshSig {
            public_key: r.string()?.to_vec(),
            namespace: r.text()?,
            reserved: r.string()?.to_vec(),
            hash_algorithm: r.text()?,
            signature: r.string()?.to_vec(),
        })
    }
}

/// An SSH mpint as an unsigned big-endian number without leading zeros.
fn unsigned(mpint: &[u8]) -> &[u8] {
    let zeros = mpint.iter().take_while(|&&b| b == 0).count();
    &mpint[zeros..]
}

fn left_pad(n: &[u8], width: usize) -> Option<Vec<u8>> {
    let n = unsigned(n);
    if n.len() > width {
        return None;
    }
    let mut out = vec![0u8; width - n.len()];
    out.extend_from_slice(n);
    Some(out)
}

/// Verifies an SSH signature blob (`string algorithm, string signature`) by `key`.
fn verify_raw(key: &[u8], sig_blob: &[u8], signed: &[u8]) -> Result<(), VerifyError> {
    let malformed = |what: &str| VerifyError::Malformed(what.to_owned());
    let fail = || malformed("the signature does not verify");
    let mut k = Reader(key);
    let key_type = k.text()?;
    let mut s = Reader(sig_blob);
    let sig_type = s.text()?;
    let sig = s.string()?;
    match (key_type.as_str(), sig_type.as_str()) {
        ("ssh-ed25519", "ssh-ed25519") => {
            let public = k.string()?;
            signature::UnparsedPublicKey::new(&signature::ED25519, public)
                .verify(signed, sig)
                .map_err(|_| fail())
        }
        ("ssh-rsa", "rsa-sha2-256" | "rsa-sha2-512") => {
            let e = unsigned(k.string()?);
            let n = unsigned(k.string()?);
            let alg = if sig_type == "rsa-sha2-512" {
                &signature::RSA_PKCS1_2048_8192_SHA512
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(alg, signed, sig)
                .map_err(|_| fail())
        }
        ("ssh-rsa", "ssh-rsa") => Err(malformed(
            "RSA with SHA-1 (ssh-rsa) is refused, as OpenSSH refuses it",
        )),
        (
            "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384",
        ) if key_type == sig_type => {
            let _curve = k.string()?;
            let point = k.string()?;
            let (alg, width) = if key_type.ends_with("256") {
                (&signature::ECDSA_P256_SHA256_FIXED, 32)
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED, 48)
            };
            let mut rs = Reader(sig);
            let r = left_pad(rs.string()?, width).ok_or_else(fail)?;
            let s = left_pad(rs.string()?, width).ok_or_else(fail)?;
            let fixed = [r, s].concat();
            signature::UnparsedPublicKey::new(alg, point)
                .verify(signed, &fixed)
                .map_err(|_| fail())
        }
        (k, s) => Err(malformed(&format!(
            "a {s} signature by a {k} key is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(timestamp("19700101"), Some(0));
        assert_eq!(timestamp("20261204"), Some(1_796_342_400));
        assert_eq!(
            timestamp("202612041830Z"),
            Some(1_796_342_400 + 18 * 3600 + 30 * 60)
        );
        assert_eq!(timestamp("2026120"), None);
        assert_eq!(timestamp("20261304"), None);
    }

    #[test]
    fn words_keep_quoted_commas() {
        assert_eq!(
            words(r#"a@b namespaces="git,file" ssh-ed25519 AAAA c"#),
            vec![
                "a@b",
                r#"namespaces="git,file""#,
                "ssh-ed25519",
                "AAAA",
                "c"
            ]
        );
    }
}
