//! The part of age (age-encryption.org/v1) that SOPS needs: X25519 identities
//! from a key file, and decryption of an armored file to those identities.
//!
//! Written over ring (already linked for TLS: HKDF, HMAC, ChaCha20-Poly1305)
//! and x25519-dalek for the one operation ring lacks, a static X25519 key:
//! the `age` crate would bring about 180 crates (post-quantum KEMs, scrypt,
//! P-256, localisation) for the same 200 lines.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ring::{aead, hkdf, hmac};

use crate::SopsError;

const SECRET_KEY_HRP: &str = "age-secret-key-";
const RECIPIENT_HRP: &str = "age";
const VERSION_LINE: &str = "age-encryption.org/v1";
const X25519_INFO: &[u8] = b"age-encryption.org/v1/X25519";
const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &str = "-----END AGE ENCRYPTED FILE-----";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// One X25519 identity (`AGE-SECRET-KEY-1…`).
pub struct Identity {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.recipient())
    }
}

impl Identity {
    /// Parses one `AGE-SECRET-KEY-1…` line.
    pub fn parse(text: &str) -> Result<Identity, String> {
        let (hrp, data) = bech32_decode(text)?;
        if hrp != SECRET_KEY_HRP {
            return Err(format!(
                "not an age X25519 identity (it starts '{}1', not 'AGE-SECRET-KEY-1')",
                hrp.to_uppercase()
            ));
        }
        let bytes: [u8; 32] = data
            .try_into()
            .map_err(|_| "an age identity holds 32 bytes".to_owned())?;
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Identity { secret, public })
    }

    /// The `age1…` recipient this identity decrypts for.
    pub fn recipient(&self) -> String {
        bech32_encode(RECIPIENT_HRP, self.public.as_bytes())
    }
}

/// Parses an age key file as `age-keygen` writes it: `#` comments, blank
/// lines and one `AGE-SECRET-KEY-1…` a line. `Err` names the line.
pub fn parse_identities(text: &str) -> Result<Vec<Identity>, String> {
    let mut identities = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            return Err(format!(
                "line {}: age plugin identities are not supported (only X25519 'AGE-SECRET-KEY-1…')",
                n + 1
            ));
        }
        identities.push(Identity::parse(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    if identities.is_empty() {
        return Err("holds no age identity (AGE-SECRET-KEY-1…)".into());
    }
    Ok(identities)
}

/// Decrypts an armored age file (as SOPS stores a data key) with the first
/// identity that opens one of its X25519 stanzas.
pub fn decrypt_armored(armored: &str, identities: &[Identity]) -> Result<Vec<u8>, SopsError> {
    let binary = dearmor(armored).map_err(SopsError::Age)?;
    decrypt(&binary, identities)
}

fn dearmor(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let body = text
        .strip_prefix(ARMOR_BEGIN)
        .and_then(|t| t.strip_suffix(ARMOR_END))
        .ok_or("the data key is not an armored age file (BEGIN/END AGE ENCRYPTED FILE)")?;
    let joined: String = body.split_whitespace().collect();
    STANDARD
        .decode(joined)
        .map_err(|e| format!("the armored age file is not valid base64: {e}"))
}

struct Stanza<'a> {
    kind: &'a str,
    args: Vec<&'a str>,
    body: Vec<u8>,
}

/// An age file, split.
struct Parsed<'a> {
    stanzas: Vec<Stanza<'a>>,
    /// What the header MAC covers: the header up to and including "---".
    covered: &'a [u8],
    mac: Vec<u8>,
    payload: &'a [u8],
}

/// Splits the header into stanzas, and returns them with the bytes the header
/// MAC covers, the MAC, and the payload.
fn parse_header(file: &[u8]) -> Result<Parsed<'_>, String> {
    let broken = |what: &str| format!("broken age header: {what}");
    let mut pos = 0;
    let mut next_line = || -> Result<(usize, &[u8]), String> {
        let rest = &file[pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| broken("a line does not end"))?;
        let start = pos;
        pos += end + 1;
        Ok((start, &rest[..end]))
    };
    let (_, version) = next_line()?;
    if version != VERSION_LINE.as_bytes() {
        return Err(broken("not age-encryption.org/v1"));
    }
    let mut stanzas = Vec::new();
    let (mut line_start, mut line) = next_line()?;
    loop {
        let text = std::str::from_utf8(line).map_err(|_| broken("not text"))?;
        if let Some(mac) = text.strip_prefix("--- ") {
            let mac = STANDARD_NO_PAD
                .decode(mac)
                .map_err(|_| broken("the MAC is not base64"))?;
            return Ok(Parsed {
                stanzas,
                covered: &file[..line_start + 3],
                mac,
                payload: &file[line_start + line.len() + 1..],
            });
        }
        let mut words = text
            .strip_prefix("-> ")
            .ok_or_else(|| broken("a stanza does not start with '->'"))?
            .split(' ');
        let kind = words.next().unwrap_or_default();
        let args = words.collect();
        let mut body = Vec::new();
        loop {
            let (_, body_line) = next_line()?;
            body.extend_from_slice(body_line);
            if body_line.len() < 64 {
                break;
            }
        }
        let body = STANDARD_NO_PAD
            .decode(&body)
            .map_err(|_| broken("a stanza's body is not base64"))?;
        stanzas.push(Stanza { kind, args, body });
        (line_start, line) = next_line()?;
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    // Fails only for lengths over 255 × 32 bytes; ours are 32.
    prk.expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output of 32 bytes");
}

fn chacha_open(key: &[u8; 32], nonce: [u8; 12], sealed: &mut [u8]) -> Option<usize> {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).ok()?);
    let plain = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            sealed,
        )
        .ok()?;
    Some(plain.len())
}

/// The 16-byte file key, from the first X25519 stanza one of `identities` opens.
fn unwrap_file_key(stanzas: &[Stanza], identities: &[Identity]) -> Result<[u8; 16], SopsError> {
    for stanza in stanzas.iter().filter(|s| s.kind == "X25519") {
        let [share] = stanza.args[..] else {
            return Err(SopsError::Age("broken X25519 stanza".into()));
        };
        let share: [u8; 32] = STANDARD_NO_PAD
            .decode(share)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SopsError::Age("broken X25519 stanza".into()))?;
        if stanza.body.len() != 32 {
            return Err(SopsError::Age("broken X25519 stanza".into()));
        }
        let ephemeral = x25519_dalek::PublicKey::from(share);
        for identity in identities {
            let shared = identity.secret.diffie_hellman(&ephemeral);
            if !shared.was_contributory() {
                continue;
            }
            let mut salt = [0u8; 64];
            salt[..32].copy_from_slice(&share);
            salt[32..].copy_from_slice(identity.public.as_bytes());
            let mut wrap_key = [0u8; 32];
            hkdf_sha256(shared.as_bytes(), &salt, X25519_INFO, &mut wrap_key);
            let mut body = stanza.body.clone();
            if chacha_open(&wrap_key, [0; 12], &mut body) == Some(16) {
                let mut key = [0u8; 16];
                key.copy_from_slice(&body[..16]);
                return Ok(key);
            }
        }
    }
    Err(SopsError::NoIdentity)
}

fn decrypt(file: &[u8], identities: &[Identity]) -> Result<Vec<u8>, SopsError> {
    let Parsed {
        stanzas,
        covered,
        mac,
        payload,
    } = parse_header(file).map_err(SopsError::Age)?;
    let file_key = unwrap_file_key(&stanzas, identities)?;
    let mut mac_key = [0u8; 32];
    hkdf_sha256(&file_key, &[], b"header", &mut mac_key);
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), covered, &mac)
        .map_err(|_| SopsError::Age("the age header's MAC does not match".into()))?;
    if payload.len() < 16 {
        return Err(SopsError::Age("the age payload is truncated".into()));
    }
    let (nonce, mut sealed) = payload.split_at(16);
    let mut payload_key = [0u8; 32];
    hkdf_sha256(&file_key, nonce, b"payload", &mut payload_key);
    let mut plain = Vec::new();
    let mut counter: u64 = 0;
    loop {
        let take = sealed.len().min(CHUNK + TAG);
        let last = take == sealed.len();
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        chunk_nonce[11] = u8::from(last);
        let mut chunk = sealed[..take].to_vec();
        let n = chacha_open(&payload_key, chunk_nonce, &mut chunk)
            .ok_or_else(|| SopsError::Age("the age payload is corrupt or truncated".into()))?;
        if last && n == 0 && counter > 0 {
            return Err(SopsError::Age(
                "the age payload ends in an empty chunk".into(),
            ));
        }
        plain.extend_from_slice(&chunk[..n]);
        sealed = &sealed[take..];
        if last {
            return Ok(plain);
        }
        counter += 1;
    }
}

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &str) -> Vec<u8> {
    let bytes = hrp.as_bytes();
    let mut out: Vec<u8> = bytes.iter().map(|b| b >> 5).collect();
    out.push(0);
    out.extend(bytes.iter().map(|b| b & 31));
    out
}

fn regroup(data: &[u8], from: u32, to: u32, pad: bool) -> Option<Vec<u8>> {
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    let max = (1u32 << to) - 1;
    for &value in data {
        acc = (acc << from) | u32::from(value);
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & max) as u8);
        }
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & max) as u8);
        }
    } else if bits >= from || ((acc << (to - bits)) & max) != 0 {
        return None;
    }
    Some(out)
}

/// Bech32 (BIP 173, as age uses it), one case throughout; returns the
/// lower-case human-readable part and the data bytes.
fn bech32_decode(text: &str) -> Result<(String, Vec<u8>), String> {
    let invalid = || "not a valid Bech32 key (a character is wrong or missing)".to_owned();
    if text.chars().any(|c| c.is_ascii_lowercase()) && text.chars().any(|c| c.is_ascii_uppercase())
    {
        return Err(invalid());
    }
    let lower = text.to_ascii_lowercase();
    let (hrp, data) = lower.rsplit_once('1').ok_or_else(invalid)?;
    if hrp.is_empty() || data.len() < 6 {
        return Err(invalid());
    }
    let values: Vec<u8> = data
        .bytes()
        .map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    if polymod(hrp_expand(hrp).into_iter().chain(values.iter().copied())) != 1 {
        return Err(invalid());
    }
    let bytes = regroup(&values[..values.len() - 6], 5, 8, false).ok_or_else(invalid)?;
    Ok((hrp.to_owned(), bytes))
}

fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let values = regroup(data, 8, 5, true).unwrap_or_default();
    let checksum_input = hrp_expand(hrp)
        .into_iter()
        .chain(values.iter().copied())
        .chain([0; 6]);
    let pm = polymod(checksum_input) ^ 1;
    let mut out = format!("{hrp}1");
    for v in values
        .iter()
        .copied()
        .chain((0..6).map(|i| ((pm >> (5 * (5 - i))) & 31) as u8))
    {
        out.push(CHARSET[v as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by age-keygen 1.1.1 and `age -a -r R2 -r R1` (R1's stanza second).
    const IDENTITY_1: &str =
        "AGE-SECRET-KEY-1UW3M2S9KY3CSSNNCJ684LQJMEYU088X6L8P9ZZ88DN0EP3RVTW4QL2KRYR";
    const RECIPIENT_1: &str = "age156cz74307hv4pg7hq2p6rrh7vtgt86rt6wnvrgtmwa36ua3skp3sa9tvfg";
    const IDENTITY_2: &str =
        "AGE-SECRET-KEY-17NQP644VF558YTVT3H5JY33ENW0J09SLF96A5YMGCGDVDDWY36YS3HXAZF";
    const ARMORED: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSAyaU5mL3duRG41Sy9BaHZ1\nNWJ3dUl5RWoveTUyT0VTalZndHJRZkppbFdVCkkwMDhPeVRBVmxtaitSNE1lZXRo\neVl1c1ZwQmt3VEY5UXIwaUcyNmZoVW8KLT4gWDI1NTE5IGN0NFJSUVF5R3YvSzBa\nL2RSMWQxUmxYMERWem1PZ256NVdhUHNwaG16eTgKR0gzYno3UU05S3pyRDZpSzBR\nWFNsazhFRUp6Rm10SWhaQ1NrVDh3cUlqcwotLS0gMUEzL3BjYVVqQ1lUQlp6bW9v\na2Z0c1l0NkVWeWxDY3p4Q25Fc3dWWEw4RQpwTmFmwyV/u2y6lkmzvKhn+PyDXI87\nJPocJydX8BHAOi52yM8SbOO2wVm/ldPrAn30jTLHBLGrL9hxL27gKeIc\n-----END AGE ENCRYPTED FILE-----";

    #[test]
    fn each_recipient_opens_the_file() {
        for identity in [IDENTITY_1, IDENTITY_2] {
            let ids = parse_identities(&format!("# c\n{identity}\n")).unwrap();
            assert_eq!(
                decrypt_armored(ARMORED, &ids).unwrap(),
                b"0123456789abcdef0123456789abcdef"
            );
        }
    }

    #[test]
    fn another_identity_opens_nothing() {
        let other = Identity::parse(IDENTITY_1).unwrap().secret.to_bytes();
        let mut flipped = other;
        flipped[1] ^= 1; // not bits X25519 clamps away
        let stranger = Identity {
            public: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(flipped)),
            secret: x25519_dalek::StaticSecret::from(flipped),
        };
        assert!(matches!(
            decrypt_armored(ARMORED, &[stranger]),
            Err(SopsError::NoIdentity)
        ));
    }

    #[test]
    fn a_changed_byte_is_refused() {
        let ids = parse_identities(IDENTITY_1).unwrap();
        let mut binary = dearmor(ARMORED).unwrap();
        let last = binary.len() - 1;
        binary[last] ^= 1;
        assert!(matches!(decrypt(&binary, &ids), Err(SopsError::Age(m)) if m.contains("payload")));
        let mut binary = dearmor(ARMORED).unwrap();
        binary[60] ^= 1; // inside the first stanza's share: another key, no match
        assert!(decrypt(&binary, &ids).is_err());
        assert!(decrypt(&dearmor(ARMORED).unwrap()[..100], &ids).is_err());
    }

    #[test]
    fn an_identity_names_its_recipient() {
        let identity = Identity::parse(IDENTITY_1).unwrap();
        assert_eq!(identity.recipient(), RECIPIENT_1);
    }

    #[test]
    fn a_changed_character_is_refused() {
        let broken = IDENTITY_1.replace("L2KRYR", "L2KRYQ");
        assert!(Identity::parse(&broken).unwrap_err().contains("Bech32"));
        let recipient = Identity::parse(RECIPIENT_1).unwrap_err();
        assert!(
            recipient.contains("not an age X25519 identity"),
            "{recipient}"
        );
    }

    #[test]
    fn a_key_file_without_identities_is_refused() {
        assert!(parse_identities("# created: now\n\n").is_err());
        let err = parse_identities("# c\nAGE-SECRET-KEY-1XYZ\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn bech32_round_trips() {
        let data: Vec<u8> = (0u8..32).collect();
        let text = bech32_encode("age", &data);
        assert_eq!(bech32_decode(&text).unwrap(), ("age".to_owned(), data));
    }
}
