//! SOPS files decrypted as render reads them, in memory: manifests, and the
//! files a kustomization's generators read (dotenv, INI, binary), before the
//! build, so that the MAC is checked over the file as sops wrote it.

use std::cell::{OnceCell, RefCell};
use std::path::Path;

use super::kustomize::Fs;
use super::RenderError;
use crate::config::Decryption;

/// Reads an age key file: readable by its owner only, owned by plumb's user.
pub fn load_identities(path: &Path) -> Result<Vec<sops::Identity>, String> {
    use std::os::unix::fs::MetadataExt;
    let at = |cause: String| format!("ageKeyFile {}: {cause}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| at(e.to_string()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(at(format!(
            "mode {:04o} lets others read it: make it readable by plumb's user only (chmod 600)",
            meta.mode() & 0o777
        )));
    }
    // /proc/self belongs to the process's effective user.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if me.is_some_and(|uid| uid != meta.uid()) {
        return Err(at(format!(
            "it is owned by uid {}, not by plumb's user (uid {}): chown it",
            meta.uid(),
            me.unwrap_or_default()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
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
        let Some(decryption) = self.decryption else {
            return self.fail(
                path,
                "it is encrypted with SOPS, and the sync has no decryption (set decryption: {provider: sops, ageKeyFile: FILE})".into(),
            );
        };
        let identities = self
            .identities
            .get_or_init(|| load_identities(&decryption.age_key_file));
        let identities = match identities {
            Ok(ids) => ids,
            Err(e) => return self.fail(path, e.clone()),
        };
        match sops::decrypt(format, &bytes, identities) {
            Ok(decrypted) => {
                self.secrets.borrow_mut().extend(decrypted.secrets);
                Some(decrypted.text)
            }
            Err(e) => self.fail(path, e.to_string()),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.inner.is_dir(path)
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        self.inner.files_under(dir)
    }
}
