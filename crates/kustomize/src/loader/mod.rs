//! Reading files for a build: load restrictions, size limits and YAML parsing.

pub mod documents;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fs::{EntryKind, Fs, is_under, join};
use crate::yaml::{Limits, parse_documents};

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// Only files in or below the kustomization's own directory (kustomize's default).
    #[default]
    RootOnly,
    /// Any file under the file system's root.
    None,
}

impl std::str::FromStr for LoadRestrictor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "LoadRestrictionsRootOnly" | "RootOnly" | "rootOnly" => Ok(Self::RootOnly),
            "LoadRestrictionsNone" | "None" | "none" => Ok(Self::None),
            other => Err(Error::Build(format!(
                "invalid load restrictor '{other}': expected LoadRestrictionsRootOnly or LoadRestrictionsNone"
            ))),
        }
    }
}

/// Build options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// File access restriction.
    pub load_restrictor: LoadRestrictor,
    /// Safety limits.
    pub limits: Limits,
}

/// Whether a resource path names a remote base (URL or git repository).
pub fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.starts_with("git@")
        || path.starts_with("github.com/")
        || path.starts_with("gitlab.com/")
        || path.starts_with("bitbucket.org/")
        || path.contains(".git?")
        || path.contains("?ref=")
        || path.ends_with(".git")
}

/// File access for one build.
pub struct Loader<'a> {
    fs: &'a dyn Fs,
    /// Options in force.
    pub opts: Options,
    /// The directory of the top-level kustomization (origin paths are relative to it).
    pub top_dir: String,
    /// The OpenAPI choice in force: the first kustomization loaded with an `openapi` field
    /// sets it for the whole build, as kustomize does. `Some(None)` is the builtin schema.
    openapi: std::cell::RefCell<Option<Option<std::rc::Rc<Value>>>>,
}

/// The path of `path` relative to directory `from` (both root-relative), kustomize-style.
pub fn relative_to(from: &str, path: &str) -> String {
    let f: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let common = f.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; f.len() - common];
    out.extend(&p[common..]);
    out.join("/")
}

impl<'a> Loader<'a> {
    /// A loader over `fs`.
    pub fn new(fs: &'a dyn Fs, opts: Options) -> Self {
        Self {
            fs,
            opts,
            top_dir: String::new(),
            openapi: std::cell::RefCell::new(None),
        }
    }

    /// Records a kustomization's `openapi` choice unless one is already in force.
    pub fn set_openapi(&self, custom: Option<Value>) {
        let mut cur = self.openapi.borrow_mut();
        if cur.is_none() {
            *cur = Some(custom.map(std::rc::Rc::new));
        }
    }

    /// The custom OpenAPI document in force, if any.
    pub fn custom_openapi(&self) -> Option<std::rc::Rc<Value>> {
        self.openapi.borrow().clone().flatten()
    }

    /// Resolves `rel` against kustomization directory `dir`.
    pub fn resolve(&self, dir: &str, rel: &str) -> Result<String> {
        if is_remote(rel) {
            return Err(Error::Unsupported {
                feature: "remote resources".into(),
                path: rel.to_string(),
            });
        }
        join(dir, rel).map_err(|e| match e {
            Error::PathEscape { .. } => Error::PathEscape {
                path: rel.to_string(),
                root: "the build root".to_string(),
            },
            other => other,
        })
    }

    /// What `path` is, if anything.
    pub fn kind(&self, path: &str) -> Option<EntryKind> {
        self.fs.kind(path)
    }

    /// Lists a directory.
    pub fn list(&self, path: &str) -> Result<Vec<String>> {
        self.fs.list(path)
    }

    /// Reads file `rel` for the kustomization in `dir`, enforcing the load restrictor.
    pub fn read(&self, dir: &str, rel: &str) -> Result<Vec<u8>> {
        let path = self.resolve(dir, rel)?;
        self.check_restrictor(dir, rel, &path)?;
        self.read_abs(&path)
    }

    /// Checks a resolved path against the load restrictor.
    pub fn check_restrictor(&self, dir: &str, rel: &str, path: &str) -> Result<()> {
        if self.opts.load_restrictor == LoadRestrictor::RootOnly && !is_under(path, dir) {
            return Err(Error::PathEscape {
                path: rel.to_string(),
                root: if dir.is_empty() {
                    ".".into()
                } else {
                    dir.to_string()
                },
            });
        }
        Ok(())
    }

    /// Reads a root-relative file.
    pub fn read_abs(&self, path: &str) -> Result<Vec<u8>> {
        self.fs.read(path, self.opts.limits.max_file_bytes)
    }

    /// Reads a root-relative file as UTF-8 text.
    pub fn read_text(&self, path: &str) -> Result<String> {
        let data = self.read_abs(path)?;
        String::from_utf8(data).map_err(|_| Error::Yaml {
            path: path.to_string(),
            message: "file is not valid UTF-8".into(),
        })
    }

    /// Reads and parses a YAML stream.
    pub fn read_yaml(&self, path: &str) -> Result<Vec<Value>> {
        let text = self.read_text(path)?;
        parse_documents(path, &text, &self.opts.limits)
    }
}
