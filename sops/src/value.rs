//! One encrypted value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// sops's IV is 32 bytes, not GCM's usual 12.
type Cipher = AesGcm<Aes256, U32>;

/// A decrypted value, typed as sops recorded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Time(String),
    Comment(String),
}

impl Plain {
    /// The bytes the MAC hashes for this value (sops.ToBytes).
    pub fn mac_bytes(&self) -> Vec<u8> {
        match self {
            Plain::Str(s) | Plain::Time(s) | Plain::Comment(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => go_float(*f).into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
            Plain::Bytes(b) => b.clone(),
        }
    }

    /// The value as text, for masking and for flat formats.
    pub fn text(&self) -> String {
        match self {
            Plain::Bool(b) => b.to_string(),
            Plain::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => String::from_utf8_lossy(&other.mac_bytes()).into_owned(),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits that
/// round-trip, never an exponent — as Rust's `Display` prints them.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

/// Whether `text` has the shape of an encrypted value.
pub fn looks_encrypted(text: &str) -> bool {
    text.starts_with("ENC[AES256_GCM,") && text.ends_with(']')
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split(',')
        .find_map(|part| part.strip_prefix(name)?.strip_prefix(':'))
}

/// Decrypts one value with the data key; `path` is the additional data
/// (the key path joined with ':' and ending in ':'). Errors say what is
/// wrong without quoting the value.
pub fn open(key: &[u8; 32], text: &str, path: &str) -> Result<Plain, String> {
    if text.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("is not encrypted in sops's format (ENC[AES256_GCM,…])")?;
    let part = |name: &str| -> Result<Vec<u8>, String> {
        let b64 = field(inner, name).ok_or_else(|| format!("has no {name}"))?;
        STANDARD
            .decode(b64)
            .map_err(|_| format!("has a {name} that is not base64"))
    };
    let mut sealed = part("data")?;
    let iv = part("iv")?;
    let tag = part("tag")?;
    let kind = field(inner, "type").ok_or("has no type")?;
    if iv.len() != 32 || tag.len() != 16 {
        return Err("has an IV or tag of the wrong length".into());
    }
    sealed.extend_from_slice(&tag);
    let cipher = Cipher::new_from_slice(key).map_err(|_| "cannot use the data key")?;
    let plain = cipher
        .decrypt(
            aes_gcm::Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &sealed,
                aad: path.as_bytes(),
            },
        )
        .map_err(|_| "does not decrypt: it was altered, moved to another key, or encrypted with another data key")?;
    let as_text = || String::from_utf8(plain.clone()).map_err(|_| "is not UTF-8 text".to_owned());
    let bad_type = || format!("does not hold a valid {kind}");
    Ok(match kind {
        "str" => Plain::Str(as_text()?),
        "int" => Plain::Int(as_text()?.parse().map_err(|_| bad_type())?),
        "float" => Plain::Float(as_text()?.parse().map_err(|_| bad_type())?),
        "bool" => Plain::Bool(go_bool(&as_text()?).ok_or_else(bad_type)?),
        "bytes" => Plain::Bytes(plain),
        "time" => Plain::Time(as_text()?),
        "comment" => Plain::Comment(as_text()?),
        other => return Err(format!("has an unknown type '{other}'")),
    })
}

/// Go's `strconv.ParseBool`.
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_formats_them() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.1), "0.1");
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(-2.5e-7), "-0.00000025");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn a_value_not_in_sops_format_is_refused_without_quoting_it() {
        let err = open(&[0; 32], "hunter2", "a:").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = open(&[0; 32], "ENC[AES256_GCM,data:!!,iv:,tag:,type:str]", "a:").unwrap_err();
        assert!(err.contains("not base64"), "{err}");
    }
}
