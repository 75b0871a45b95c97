//! File views for a build: generated files laid over the (read-only) artifact tree, and a
//! recorder of what the build read.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_kustomize::fs::{EntryKind, Fs, is_under, parent};
use parking_lot::Mutex;

/// `base` with some files added or replaced in memory; the base is never written to, so a
/// cached unpacked artifact stays pristine.
pub struct OverlayFs {
    base: Arc<dyn Fs>,
    files: BTreeMap<String, Vec<u8>>,
    read_log: Mutex<Vec<String>>,
}

impl OverlayFs {
    /// An overlay with no files yet.
    pub fn new(base: Arc<dyn Fs>) -> Self {
        Self {
            base,
            files: BTreeMap::new(),
            read_log: Mutex::new(Vec::new()),
        }
    }

    /// Adds or replaces the file at normalized path `path`.
    pub fn insert(&mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), content.into());
    }

    /// The files laid over the base.
    pub fn overlay_files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The paths read so far, in order (repeats included).
    pub fn reads(&self) -> Vec<String> {
        self.read_log.lock().clone()
    }
}

impl Fs for OverlayFs {
    fn read(&self, path: &str, limit: u64) -> ferry_kustomize::Result<Vec<u8>> {
        self.read_log.lock().push(path.to_string());
        match self.files.get(path) {
            Some(data) if data.len() as u64 > limit => Err(ferry_kustomize::Error::FileTooLarge {
                path: path.to_string(),
                size: data.len() as u64,
                limit,
            }),
            Some(data) => Ok(data.clone()),
            None => self.base.read(path, limit),
        }
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        if self.files.contains_key(path) {
            return Some(EntryKind::File);
        }
        self.base.kind(path).or_else(|| {
            self.files
                .keys()
                .any(|k| is_under(k, path))
                .then_some(EntryKind::Dir)
        })
    }

    fn list(&self, path: &str) -> ferry_kustomize::Result<Vec<String>> {
        let mut names = match self.base.list(path) {
            Ok(names) => names,
            Err(e) if !self.files.keys().any(|k| parent(k) == path) => return Err(e),
            Err(_) => Vec::new(),
        };
        for k in self.files.keys().filter(|k| parent(k) == path) {
            let name = k.rsplit('/').next().unwrap_or(k).to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}
