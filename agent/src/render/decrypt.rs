//! SOPS files decrypted as render reads them, in memory: manifests, and the
//! files a kustomization's generators read (dotenv, INI, binary), before the
//! build, so that the MAC is checked over the file as sops wrote it.

use std::cell::{OnceCell, RefCell};
use std::path::Path;

use super::kustomize::Fs;
use super::{Manifest, RenderError};
use crate::config::Decryption;

/// Reads an age key file: readable by its owner only (as every credential file),
/// and owned by plumb's user.
pub fn load_identities(path: &Path) -> Result<Vec<sops::Identity>, String> {
    use std::os::unix::fs::MetadataExt;
    let at = |cause: String| format!("ageKeyFile {}: {cause}", path.display());
    let text = crate::source::read_secret(path).map_err(at)?;
    let owner = std::fs::metadata(path)
        .map_err(|e| at(e.to_string()))?
        .uid();
    // /proc/self belongs to the process's effective user.
    if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
        if me != owner {
            return Err(at(format!(
                "it is owned by uid {owner}, not by plumb's user (uid {me}): chown it"
            )));
        }
    }
    sops::parse_identities(&text).map_err(at)
}

/// A revision's files with the SOPS-encrypted ones decrypted. Errors are kept
/// (an unreadable file reads as empty) and [`Decrypting::finish`] reports them,
/// so that a revision with one bad file renders nothing.
pub struct Decrypting<'a> {
    inner: &'a dyn Fs,
    decryption: Option<&'a Decryption>,
    identities: OnceCell<Result<Vec<sops::Identity>, String>>,
    errors: RefCell<Vec<RenderError>>,
    secrets: RefCell<Vec<String>>,
}

impl<'a> Decrypting<'a> {
    pub fn new(inner: &'a dyn Fs, decryption: Option<&'a Decryption>) -> Decrypting<'a> {
        Decrypting {
            inner,
            decryption,
            identities: OnceCell::new(),
            errors: RefCell::new(Vec::new()),
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// The decryption errors, if any; else the plaintext values decrypted
    /// (for masking what is printed).
    pub fn finish(self) -> Result<Vec<String>, Vec<RenderError>> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(self.secrets.into_inner())
        } else {
            Err(errors)
        }
    }

    /// Decrypts a Secret's `data` values that are whole SOPS files in base64 (a Secret
    /// made from encrypted files by other tools), as Flux does; each key's name
    /// (`app.env`, `tls.key`) says the file's format.
    pub fn secret_values(&self, manifests: &mut [Manifest]) {
        use base64::Engine;
        let b64 = &base64::engine::general_purpose::STANDARD;
        for m in manifests.iter_mut() {
            if m.object["kind"] != "Secret" || m.object["apiVersion"] != "v1" {
                continue;
            }
            let Some(data) = m.object["data"].as_object_mut() else {
                continue;
            };
            for (key, value) in data.iter_mut() {
                let Some(bytes) = value.as_str().and_then(|v| b64.decode(v).ok()) else {
                    continue;
                };
                let format = sops::Format::of_path(key);
                if !sops::is_encrypted(format, &bytes) {
                    continue;
                }
                let at = format!("{} (Secret data '{key}')", m.origin);
                if let Some(plain) = self.decrypt(&at, format, &bytes) {
                    *value = serde_json::Value::String(b64.encode(plain));
                }
            }
        }
    }

    fn decrypt(&self, at: &str, format: sops::Format, bytes: &[u8]) -> Option<Vec<u8>> {
        let Some(decryption) = self.decryption else {
            return self.fail(
                at,
                "it is encrypted with SOPS, and the sync has no decryption (set decryption: {provider: sops, ageKeyFile: FILE})".into(),
            );
        };
        let identities = self
            .identities
            .get_or_init(|| load_identities(&decryption.age_key_file));
        let identities = match identities {
            Ok(ids) => ids,
            Err(e) => return self.fail(at, e.clone()),
        };
        match sops::decrypt(format, bytes, identities) {
            Ok(decrypted) => {
                self.secrets.borrow_mut().extend(decrypted.secrets);
                Some(decrypted.text)
            }
            Err(e) => self.fail(at, e.to_string()),
        }
    }

    fn fail(&self, path: &str, message: String) -> Option<Vec<u8>> {
        self.errors.borrow_mut().push(RenderError::Decrypt {
            file: path.to_owned(),
            message,
        });
        Some(Vec::new())
    }
}

impl Fs for Decrypting<'_> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let bytes = self.inner.read(path)?;
        let format = sops::Format::of_path(path);
        if !sops::is_encrypted(format, &bytes) {
            return Some(bytes);
        }
        self.decrypt(path, format, &bytes)
    }

    fn is_dir(&self, path: &str) -> bool {
        self.inner.is_dir(path)
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        self.inner.files_under(dir)
    }
}
