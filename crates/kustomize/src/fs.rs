//! File-system abstraction confining every read to one root directory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// A read-only file system rooted at one directory.
///
/// Paths given to it are normalized, `/`-separated and relative to the root
/// (`""` is the root itself); see [`join`]. Implementations must never read
/// anything outside the root, symlinks included.
pub trait Fs: Send + Sync {
    /// Reads a whole file, failing if it is larger than `limit` bytes.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>>;
    /// Whether `path` is a file, a directory, or absent (`None`).
    fn kind(&self, path: &str) -> Option<EntryKind>;
    /// The sorted names of the entries of directory `path`.
    fn list(&self, path: &str) -> Result<Vec<String>>;
}

/// Joins `rel` onto directory `dir` (both relative to the root) and normalizes `.` and `..`.
///
/// Absolute paths and paths climbing above the root are errors.
pub fn join(dir: &str, rel: &str) -> Result<String> {
    if rel.starts_with('/') || Path::new(rel).is_absolute() {
        return Err(Error::AbsolutePath(rel.to_string()));
    }
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::PathEscape {
                        path: rel.to_string(),
                        root: "/".to_string(),
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The parent directory of a normalized path (`""` for top-level entries).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Whether normalized `path` is `dir` or lies below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

/// A real directory on disk; symlinks are resolved and must stay inside it.
#[derive(Debug, Clone)]
pub struct DiskFs {
    root: PathBuf,
}

impl DiskFs {
    /// Roots a file system at `root`, which must exist.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let root = root.canonicalize().map_err(|e| Error::Io {
            path: root.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Self { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Converts a path on disk (absolute, or relative to the current directory)
    /// to the normalized root-relative form used by [`Fs`].
    pub fn relative(&self, path: impl AsRef<Path>) -> Result<String> {
        let path = path.as_ref();
        let canon = path
            .canonicalize()
            .map_err(|_| Error::NotFound(path.display().to_string()))?;
        let rel = canon
            .strip_prefix(&self.root)
            .map_err(|_| Error::PathEscape {
                path: path.display().to_string(),
                root: self.root.display().to_string(),
            })?;
        let mut out = Vec::new();
        for c in rel.components() {
            if let Component::Normal(s) = c {
                out.push(s.to_string_lossy().into_owned());
            }
        }
        Ok(out.join("/"))
    }

    fn resolve(&self, path: &str) -> Result<PathBuf> {
        let full = self.root.join(path);
        let canon = full
            .canonicalize()
            .map_err(|_| Error::NotFound(path.to_string()))?;
        if !canon.starts_with(&self.root) {
            return Err(Error::PathEscape {
                path: path.to_string(),
                root: self.root.display().to_string(),
            });
        }
        Ok(canon)
    }
}

impl Fs for DiskFs {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let full = self.resolve(path)?;
        let io = |e: std::io::Error| Error::Io {
            path: path.to_string(),
            message: e.to_string(),
        };
        let meta = std::fs::metadata(&full).map_err(io)?;
        if meta.is_dir() {
            return Err(Error::Io {
                path: path.to_string(),
                message: "is a directory".to_string(),
            });
        }
        if meta.len() > limit {
            return Err(Error::FileTooLarge {
                path: path.to_string(),
                size: meta.len(),
                limit,
            });
        }
        std::fs::read(&full).map_err(io)
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        let full = self.resolve(path).ok()?;
        let meta = std::fs::metadata(full).ok()?;
        Some(if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let full = self.resolve(path)?;
        let rd = std::fs::read_dir(&full).map_err(|e| Error::Io {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// An in-memory file system, for tests and for callers that already hold the files.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; `path` is relative to the root and is normalized.
    pub fn add(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        let path = join("", path.trim_start_matches('/')).unwrap_or_else(|_| path.to_string());
        self.files.insert(path, content.into());
        self
    }

    /// Builder form of [`MemFs::add`].
    pub fn with(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.add(path, content);
        self
    }
}

impl Fs for MemFs {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        match self.files.get(path) {
            Some(data) if data.len() as u64 > limit => Err(Error::FileTooLarge {
                path: path.to_string(),
                size: data.len() as u64,
                limit,
            }),
            Some(data) => Ok(data.clone()),
            None => Err(Error::NotFound(path.to_string())),
        }
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        if self.files.contains_key(path) {
            return Some(EntryKind::File);
        }
        if path.is_empty() || self.files.keys().any(|k| is_under(k, path)) {
            return Some(EntryKind::Dir);
        }
        None
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter(|k| is_under(k, path) && k.as_str() != path)
            .filter_map(|k| {
                let rest = if path.is_empty() {
                    k.as_str()
                } else {
                    &k[path.len() + 1..]
                };
                rest.split('/').next().map(str::to_string)
            })
            .collect();
        names.dedup();
        if names.is_empty() && self.kind(path).is_none() {
            return Err(Error::NotFound(path.to_string()));
        }
        Ok(names)
    }
}
