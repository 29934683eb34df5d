//! The `sops` metadata: who may decrypt the data key, which values are
//! encrypted, and the MAC.

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::age::{self, Identity};
use crate::{shamir, value, SopsError};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AgeKey {
    recipient: String,
    enc: String,
}

/// One key group: the age keys, and whether any other kind of key is there.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyGroup {
    age: Option<Vec<AgeKey>>,
    pgp: Value,
    kms: Value,
    gcp_kms: Value,
    azure_kv: Value,
    hc_vault: Value,
    hckms: Value,
}

impl KeyGroup {
    fn age(&self) -> &[AgeKey] {
        self.age.as_deref().unwrap_or_default()
    }

    fn other_types(&self) -> Vec<&'static str> {
        let len = |v: &Value| v.as_sequence().map_or(0, Vec::len);
        [
            ("PGP", len(&self.pgp)),
            ("AWS KMS", len(&self.kms)),
            ("GCP KMS", len(&self.gcp_kms)),
            ("Azure Key Vault", len(&self.azure_kv)),
            ("HashiCorp Vault", len(&self.hc_vault)),
            ("HuaweiCloud KMS", len(&self.hckms)),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| name)
        .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    #[serde(flatten)]
    keys: KeyGroup,
    key_groups: Option<Vec<KeyGroup>>,
    shamir_threshold: Option<usize>,
    lastmodified: Option<String>,
    mac: Option<String>,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<String>,
    encrypted_regex: Option<String>,
    unencrypted_comment_regex: Option<String>,
    encrypted_comment_regex: Option<String>,
    mac_only_encrypted: Option<bool>,
}

/// Which values are encrypted: sops's `shouldBeEncrypted`, one rule at most.
#[derive(Debug)]
pub enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(regex_lite::Regex),
    EncryptedRegex(regex_lite::Regex),
    /// The comment rules: comments are not kept here, so a value is taken as
    /// encrypted when it has the encrypted form (the MAC still catches a
    /// value swapped for plaintext).
    ByShape,
}

impl Rule {
    pub fn encrypted(&self, path: &[String], text: Option<&str>) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Rule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
            Rule::ByShape => text.is_some_and(value::looks_encrypted),
        }
    }
}

/// The metadata a file's values are decrypted with.
#[derive(Debug)]
pub struct Metadata {
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    mac: String,
    lastmodified: String,
    groups: Vec<KeyGroup>,
    threshold: usize,
}

impl Metadata {
    /// Reads the `sops` mapping.
    pub fn parse(raw: Value) -> Result<Metadata, SopsError> {
        let bad = |m: String| SopsError::Metadata(m);
        if !raw.is_mapping() {
            return Err(bad("'sops' is not a mapping".into()));
        }
        let raw: Raw = serde_yaml_ng::from_value(raw).map_err(|e| bad(e.to_string()))?;
        let mac = raw
            .mac
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("it has no mac".into()))?;
        let lastmodified = raw
            .lastmodified
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("it has no lastmodified".into()))?;
        let set = |s: Option<String>| s.filter(|s| !s.is_empty());
        let regex = |r: &str| {
            regex_lite::Regex::new(r).map_err(|e| bad(format!("a regular expression: {e}")))
        };
        let mut rules = Vec::new();
        if let Some(s) = set(raw.unencrypted_suffix) {
            rules.push(Rule::UnencryptedSuffix(s));
        }
        if let Some(s) = set(raw.encrypted_suffix) {
            rules.push(Rule::EncryptedSuffix(s));
        }
        if let Some(r) = set(raw.unencrypted_regex) {
            rules.push(Rule::UnencryptedRegex(regex(&r)?));
        }
        if let Some(r) = set(raw.encrypted_regex) {
            rules.push(Rule::EncryptedRegex(regex(&r)?));
        }
        for comment_rule in [raw.unencrypted_comment_regex, raw.encrypted_comment_regex] {
            if set(comment_rule).is_some() {
                rules.push(Rule::ByShape);
            }
        }
        if rules.len() > 1 {
            return Err(bad(
                "it sets more than one of the encrypted/unencrypted suffixes and regexes".into(),
            ));
        }
        let rule = rules
            .pop()
            .unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
        let (groups, threshold) = match raw.key_groups {
            Some(groups) if !groups.is_empty() => {
                let threshold = raw
                    .shamir_threshold
                    .filter(|&t| t > 0)
                    .unwrap_or(groups.len());
                (groups, threshold)
            }
            _ => (vec![raw.keys], 1),
        };
        Ok(Metadata {
            rule,
            mac_only_encrypted: raw.mac_only_encrypted.unwrap_or(false),
            mac,
            lastmodified,
            groups,
            threshold,
        })
    }

    /// The 32-byte data key, from the age keys `identities` open.
    pub fn data_key(&self, identities: &[Identity]) -> Result<[u8; 32], SopsError> {
        let recipients: Vec<&str> = self
            .groups
            .iter()
            .flat_map(|g| g.age().iter().map(|k| k.recipient.as_str()))
            .collect();
        if recipients.is_empty() {
            let mut types: Vec<&str> = self.groups.iter().flat_map(|g| g.other_types()).collect();
            types.dedup();
            let types = if types.is_empty() {
                "no key at all".to_owned()
            } else {
                types.join(", ")
            };
            return Err(SopsError::NoAgeRecipient { types });
        }
        let mut parts = Vec::new();
        for group in &self.groups {
            for key in group.age() {
                match age::decrypt_armored(&key.enc, identities) {
                    Ok(part) => {
                        parts.push(part);
                        break;
                    }
                    Err(SopsError::NoIdentity) => continue,
                    Err(other) => return Err(other),
                }
            }
        }
        let key = if self.groups.len() == 1 {
            parts.pop()
        } else if parts.len() >= self.threshold {
            Some(shamir::combine(&parts).map_err(SopsError::Age)?)
        } else if parts.is_empty() {
            None
        } else {
            return Err(SopsError::KeyGroups {
                groups: self.groups.len(),
                opened: parts.len(),
                needed: self.threshold,
            });
        };
        let key = key.ok_or_else(|| SopsError::NoMatchingIdentity {
            recipients: recipients.join(", "),
        })?;
        key.try_into()
            .map_err(|_| SopsError::Age("the data key is not 32 bytes".into()))
    }

    /// Checks the SHA-512 of the values against the stored MAC.
    pub fn verify_mac(&self, key: &[u8; 32], digest: &[u8]) -> Result<(), SopsError> {
        let stored = value::open(key, &self.mac, &rfc3339(&self.lastmodified))
            .map_err(|_| SopsError::Mac)?;
        let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
        match stored {
            value::Plain::Str(s) if s == hex => Ok(()),
            _ => Err(SopsError::Mac),
        }
    }
}

/// `lastmodified` as Go's `time.Format(time.RFC3339)` prints it again:
/// without fractional seconds.
fn rfc3339(text: &str) -> String {
    match text.find('.') {
        Some(dot) => {
            let zone = text[dot..]
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .map_or("", |i| &text[dot + i..]);
            format!("{}{}", &text[..dot], zone)
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_drops_fractional_seconds() {
        assert_eq!(rfc3339("2026-12-04T18:34:02Z"), "2026-12-04T18:34:02Z");
        assert_eq!(rfc3339("2026-12-04T18:34:02.123Z"), "2026-12-04T18:34:02Z");
        assert_eq!(
            rfc3339("2026-12-04T18:34:02.5+01:00"),
            "2026-12-04T18:34:02+01:00"
        );
    }

    #[test]
    fn rules_choose_the_encrypted_values() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = Rule::EncryptedRegex(regex_lite::Regex::new("^(data|stringData)$").unwrap());
        assert!(r.encrypted(&path(&["data", "password"]), None));
        assert!(!r.encrypted(&path(&["metadata", "name"]), None));
        let r = Rule::UnencryptedSuffix("_unencrypted".into());
        assert!(!r.encrypted(&path(&["a", "b_unencrypted", "c"]), None));
        assert!(r.encrypted(&path(&["a"]), None));
    }

    #[test]
    fn a_pgp_only_file_names_the_key_type() {
        let raw: Value = serde_yaml_ng::from_str(
            "pgp: [{fp: ABC, enc: x}]\nlastmodified: '2026-01-01T00:00:00Z'\nmac: ENC[x]\n",
        )
        .unwrap();
        let meta = Metadata::parse(raw).unwrap();
        let err = meta.data_key(&[]).unwrap_err();
        assert_eq!(
            err,
            SopsError::NoAgeRecipient {
                types: "PGP".into()
            }
        );
    }
}
