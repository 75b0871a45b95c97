//! Walking `update.path` for YAML files with markers, and writing the edits only once every
//! file has been edited in memory without error.

use std::path::{Component, Path, PathBuf};

use super::{MARKER_KEY, Policies, SetterError, UnresolvedMarker, UpdateResult, apply_setters};

/// Files larger than this are skipped by default (10 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// Limits of a setters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Files larger than this many bytes are skipped (and reported).
    pub max_file_size: u64,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

/// A YAML file that was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// Repository-relative path.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// Applies `policies` to every `.yaml`/`.yml` file under `root`/`update_path` (default: the
/// whole repository). Symlinks and `.git` are not followed; files over the size limit or not
/// UTF-8 are skipped and reported. Changed files are written only after all edits succeeded.
pub fn update_dir(
    root: &Path,
    update_path: Option<&str>,
    policies: &Policies,
    options: UpdateOptions,
) -> Result<UpdateResult, SetterError> {
    let start = resolve_path(root, update_path)?;
    let mut files = Vec::new();
    collect_yaml_files(root, &start, &mut files)?;
    files.sort();
    let mut result = UpdateResult::default();
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    for path in files {
        let relative = relative_name(root, &path);
        let io = |action, source| SetterError::Io {
            action,
            file: relative.clone(),
            source,
        };
        let size = std::fs::metadata(&path)
            .map_err(|e| io("reading", e))?
            .len();
        if size > options.max_file_size {
            result.skipped.push(super::SkippedFile {
                file: relative.clone(),
                reason: format!("larger than {} bytes", options.max_file_size),
            });
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| io("reading", e))?;
        let Ok(text) = String::from_utf8(bytes) else {
            result.skipped.push(super::SkippedFile {
                file: relative.clone(),
                reason: "not UTF-8".to_owned(),
            });
            continue;
        };
        if !text.contains(MARKER_KEY) {
            continue;
        }
        let update = apply_setters(&relative, &text, policies)?;
        result
            .unresolved
            .extend(
                update
                    .unresolved
                    .into_iter()
                    .map(|(line, setter, reason)| UnresolvedMarker {
                        file: relative.clone(),
                        line,
                        setter,
                        reason,
                    }),
            );
        if update.changes.is_empty() {
            continue;
        }
        let mut objects: Vec<(super::ObjectId, Vec<super::Change>)> = Vec::new();
        for (object, change) in update.changes {
            match objects.iter_mut().find(|(id, _)| *id == object) {
                Some((_, changes)) => changes.push(change),
                None => objects.push((object, vec![change])),
            }
        }
        result.files.insert(relative, objects);
        writes.push((path, update.text));
    }
    for (path, text) in writes {
        std::fs::write(&path, text).map_err(|source| SetterError::Io {
            action: "writing",
            file: relative_name(root, &path),
            source,
        })?;
    }
    Ok(result)
}

fn resolve_path(root: &Path, update_path: Option<&str>) -> Result<PathBuf, SetterError> {
    let Some(path) = update_path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(root.to_owned());
    };
    let relative = Path::new(path);
    let escapes = relative.is_absolute()
        || relative.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
    if escapes {
        return Err(SetterError::InvalidPath(path.to_owned()));
    }
    let start = root.join(relative);
    match std::fs::symlink_metadata(&start) {
        Ok(meta) if !meta.file_type().is_symlink() => Ok(start),
        Ok(_) => Err(SetterError::InvalidPath(path.to_owned())),
        Err(_) => Err(SetterError::PathNotFound(path.to_owned())),
    }
}

fn collect_yaml_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SetterError> {
    let meta = std::fs::symlink_metadata(dir).map_err(|source| SetterError::Io {
        action: "listing",
        file: relative_name(root, dir),
        source,
    })?;
    if meta.is_file() {
        if is_yaml(dir) {
            out.push(dir.to_owned());
        }
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| SetterError::Io {
        action: "listing",
        file: relative_name(root, dir),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| SetterError::Io {
            action: "listing",
            file: relative_name(root, dir),
            source,
        })?;
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_symlink() {
            continue;
        }
        if file_type.is_dir() {
            if entry.file_name() != ".git" {
                collect_yaml_files(root, &path, out)?;
            }
        } else if file_type.is_file() && is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
