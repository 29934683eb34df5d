//! sops's walk over a tree of values (Tree.Decrypt): every leaf in document
//! order, its key path, the rule that says whether it is encrypted, and the
//! SHA-512 the MAC is checked against.

use ring::digest;
use serde_yaml_ng::{Mapping, Number, Value};

use crate::metadata::Metadata;
use crate::value::{self, Plain};
use crate::SopsError;

/// What sops hashes first with `mac_only_encrypted`, so that the two kinds
/// of MAC never agree.
const MAC_ONLY_ENCRYPTED_SEED: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// One walk: the data key, the rules, the running MAC, and the plaintexts found.
pub struct Walk<'a> {
    key: [u8; 32],
    meta: &'a Metadata,
    mac: digest::Context,
    pub secrets: Vec<String>,
}

impl<'a> Walk<'a> {
    pub fn new(key: [u8; 32], meta: &'a Metadata) -> Walk<'a> {
        let mut mac = digest::Context::new(&digest::SHA512);
        if meta.mac_only_encrypted {
            mac.update(&MAC_ONLY_ENCRYPTED_SEED);
        }
        Walk {
            key,
            meta,
            mac,
            secrets: Vec::new(),
        }
    }

    /// Decrypts one leaf given as text (a flat format's value): the
    /// plaintext, or the text as it is when the rules leave it unencrypted.
    pub fn text_leaf(&mut self, path: &[String], text: &str) -> Result<String, SopsError> {
        if self.meta.rule.encrypted(path, Some(text)) {
            let plain = self.open(path, text)?;
            self.mac.update(&plain.mac_bytes());
            let text = plain.text();
            self.keep(&text);
            Ok(text)
        } else {
            if !self.meta.mac_only_encrypted {
                self.mac.update(text.as_bytes());
            }
            Ok(text.to_owned())
        }
    }

    /// A comment of a flat format at `path`: decrypted when sops encrypted it (a
    /// comment that does not decrypt stays as it is, as sops leaves it); never in the MAC.
    pub fn comment(&self, path: &[String], text: &str) -> String {
        if !value::looks_encrypted(text) {
            return text.to_owned();
        }
        match self.open(path, text) {
            Ok(plain) => plain.text(),
            Err(_) => text.to_owned(),
        }
    }

    /// Decrypts every leaf of a document (a mapping at the top) in place.
    pub fn document(&mut self, doc: &mut Value) -> Result<(), SopsError> {
        let mut path = Vec::new();
        self.value(doc, &mut path)
    }

    fn value(&mut self, v: &mut Value, path: &mut Vec<String>) -> Result<(), SopsError> {
        match v {
            Value::Null => Ok(()),
            Value::Mapping(map) => self.mapping(map, path),
            Value::Sequence(items) => items.iter_mut().try_for_each(|item| self.value(item, path)),
            Value::Tagged(tagged) => self.value(&mut tagged.value, path),
            leaf => self.leaf(leaf, path),
        }
    }

    fn mapping(&mut self, map: &mut Mapping, path: &mut Vec<String>) -> Result<(), SopsError> {
        for (key, v) in map.iter_mut() {
            let Value::String(key) = key else {
                return Err(SopsError::Value {
                    path: joined(path),
                    message: "has a key that is not a string (sops takes string keys only)".into(),
                });
            };
            path.push(key.clone());
            self.value(v, path)?;
            path.pop();
        }
        Ok(())
    }

    fn leaf(&mut self, v: &mut Value, path: &[String]) -> Result<(), SopsError> {
        let text = v.as_str();
        if self.meta.rule.encrypted(path, text) {
            let Some(text) = text else {
                return Err(SopsError::Value {
                    path: joined(path),
                    message: "should be encrypted but is not a string".into(),
                });
            };
            let plain = self.open(path, text)?;
            self.mac.update(&plain.mac_bytes());
            self.keep(&plain.text());
            *v = match plain {
                Plain::Int(i) => Value::Number(i.into()),
                Plain::Float(f) => Value::Number(Number::from(f)),
                Plain::Bool(b) => Value::Bool(b),
                other => Value::String(other.text()),
            };
        } else if !self.meta.mac_only_encrypted {
            self.mac.update(&mac_bytes(v));
        }
        Ok(())
    }

    fn open(&self, path: &[String], text: &str) -> Result<Plain, SopsError> {
        let additional = format!("{}:", path.join(":"));
        value::open(&self.key, text, &additional).map_err(|message| SopsError::Value {
            path: joined(path),
            message,
        })
    }

    fn keep(&mut self, plaintext: &str) {
        if !plaintext.is_empty() {
            self.secrets.push(plaintext.to_owned());
        }
    }

    /// Checks the MAC over every leaf walked.
    pub fn finish(self) -> Result<Vec<String>, SopsError> {
        let digest = self.mac.finish();
        self.meta.verify_mac(&self.key, digest.as_ref())?;
        Ok(self.secrets)
    }
}

fn joined(path: &[String]) -> String {
    path.join(".")
}

/// sops.ToBytes of an unencrypted scalar.
fn mac_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string().into_bytes(),
            (_, Some(u), _) => u.to_string().into_bytes(),
            (_, _, Some(f)) => value::go_float(f).into_bytes(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
