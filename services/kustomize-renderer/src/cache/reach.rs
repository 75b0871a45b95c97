//! Path-aware reuse: does a change set touch any file a Kustomization's build can read?
//!
//! Reachable are the Kustomization's path (everything below it) and whatever the
//! kustomization files found there reference by relative path (`resources`, `components`,
//! `bases`, `crds`, patch and replacement files, generator files, transformer configs),
//! followed recursively. Whenever the answer is not certain (remote bases, symlinks, an
//! unreadable kustomization, a `.sourceignore` change), the answer is "changed".

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use ferry_kustomize::fs::{is_under, join};
use serde_json::Value;

use crate::flux::generate::KUSTOMIZATION_FILES;
use crate::flux::spec::RenderSpec;

/// Most directories followed before giving up (and answering "changed").
pub const MAX_DIRS: usize = 10_000;

/// The outcome of a reachability check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// No changed path is reachable: the previous render is still valid.
    Unaffected,
    /// A changed path is reachable, or the check could not be sure (the reason says which).
    Affected(String),
}

/// What a Kustomization's build can read in an unpacked artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachable {
    /// Directories read as a whole (root-relative; `""` is the root).
    pub dirs: BTreeSet<String>,
    /// Single files read.
    pub files: BTreeSet<String>,
}

impl Reachable {
    /// Whether `path` (root-relative) is in, under, or above what is reachable.
    pub fn touches(&self, path: &str) -> bool {
        self.files.contains(path)
            || self
                .dirs
                .iter()
                .any(|d| is_under(path, d) || is_under(d, path))
    }
}

/// Collects what the Kustomization at `spec.path` can read in the artifact unpacked at
/// `root`; `Err` carries why the answer cannot be trusted.
pub fn reachable(root: &Path, spec: &RenderSpec) -> Result<Reachable, String> {
    let top = join("", &spec.normalized_path()).map_err(|e| e.to_string())?;
    let mut reach = Reachable::default();
    let mut queue = VecDeque::from([top.clone()]);
    for component in spec.components.iter().flatten() {
        queue.push_back(join(&top, component).map_err(|e| e.to_string())?);
    }
    while let Some(dir) = queue.pop_front() {
        if reach.dirs.iter().any(|d| is_under(&dir, d)) {
            continue;
        }
        if reach.dirs.len() >= MAX_DIRS {
            return Err("too many directories to follow".into());
        }
        reach.dirs.insert(dir.clone());
        let mut kustomizations = Vec::new();
        find_kustomizations(root, &dir, 0, &mut kustomizations)?;
        for kfile in kustomizations {
            for target in references(root, &kfile)? {
                let full = root.join(&target);
                match std::fs::symlink_metadata(&full) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(format!("'{target}' is a symbolic link"));
                    }
                    Ok(m) if m.is_dir() => queue.push_back(target),
                    _ => {
                        reach.files.insert(target);
                    }
                }
            }
        }
    }
    Ok(reach)
}

/// Decides whether `changed_paths` touch the Kustomization; see [`reachable`].
pub fn check(root: &Path, spec: &RenderSpec, changed_paths: &[String]) -> Reach {
    if let Some(p) = changed_paths
        .iter()
        .find(|p| p.rsplit('/').next() == Some(".sourceignore"))
    {
        return Reach::Affected(format!("ignore rules changed ('{p}')"));
    }
    let reach = match reachable(root, spec) {
        Ok(r) => r,
        Err(why) => return Reach::Affected(why),
    };
    match changed_paths.iter().find(|p| reach.touches(&clean(p))) {
        Some(p) => Reach::Affected(format!("'{p}' changed")),
        None => Reach::Unaffected,
    }
}

fn clean(path: &str) -> String {
    crate::flux::spec::normalize_path(path)
}

/// Every kustomization file at or below `dir`; a symlink anywhere makes the answer unsure.
fn find_kustomizations(
    root: &Path,
    dir: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), String> {
    if depth > 64 {
        return Err(format!("'{dir}' is nested too deeply"));
    }
    let full = root.join(dir);
    let read = match std::fs::read_dir(&full) {
        Ok(read) => read,
        // A path that does not exist reads nothing (the build itself will fail).
        Err(_) => return Ok(()),
    };
    let mut names: Vec<(String, std::fs::FileType)> = read
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.file_type().ok()?)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if kind.is_symlink() {
            return Err(format!("'{rel}' is a symbolic link"));
        }
        if kind.is_dir() {
            find_kustomizations(root, &rel, depth + 1, out)?;
        } else if KUSTOMIZATION_FILES.contains(&name.as_str()) {
            out.push(rel);
        }
    }
    Ok(())
}

/// The root-relative paths a kustomization file references.
fn references(root: &Path, kfile: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(root.join(kfile)).map_err(|e| format!("{kfile}: {e}"))?;
    let kus = ferry_kustomize::yaml::parse_one(kfile, &text, &ferry_kustomize::Limits::default())
        .map_err(|e| e.to_string())?;
    let Value::Object(kus) = kus else {
        return Ok(Vec::new());
    };
    let dir = ferry_kustomize::fs::parent(kfile);
    let mut paths = Vec::new();
    let mut add = |p: &str| -> Result<(), String> {
        if ferry_kustomize::loader::is_remote(p) {
            return Err(format!("{kfile} references remote '{p}'"));
        }
        let resolved = join(dir, p).map_err(|e| format!("{kfile}: {e}"))?;
        paths.push(resolved);
        Ok(())
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    for field in [
        "resources",
        "bases",
        "components",
        "crds",
        "configurations",
        "patchesStrategicMerge",
        "generators",
        "transformers",
        "validators",
    ] {
        for s in strings(kus.get(field)) {
            // Inline YAML (a patch or plugin config written in place) is not a path.
            if s.contains('\n') || s.contains(": ") {
                continue;
            }
            add(&s)?;
        }
    }
    for field in ["patches", "patchesJson6902", "replacements"] {
        for item in kus
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = item.get("path").and_then(Value::as_str) {
                add(p)?;
            }
        }
    }
    for field in ["configMapGenerator", "secretGenerator"] {
        for item in kus
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for f in strings(item.get("files")) {
                let path = f.split_once('=').map_or(f.as_str(), |(_, p)| p);
                add(path)?;
            }
            for e in strings(item.get("envs"))
                .into_iter()
                .chain(strings(item.get("env")))
            {
                add(&e)?;
            }
        }
    }
    if let Some(p) = kus
        .get("openapi")
        .and_then(|o| o.get("path"))
        .and_then(Value::as_str)
    {
        add(p)?;
    }
    if kus.contains_key("helmCharts") || kus.contains_key("helmChartInflationGenerator") {
        return Err(format!("{kfile} uses helm charts"));
    }
    Ok(paths)
}
