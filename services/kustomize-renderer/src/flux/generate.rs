//! Flux's kustomization generation (`fluxcd/pkg/kustomize` `Generator`): a kustomization
//! file for a path without one, and the Kustomization's own fields laid over it.

use ferry_kustomize::Limits;
use ferry_kustomize::fs::{EntryKind, Fs, join};
use serde_json::{Map, Value, json};

use super::spec::RenderSpec;

/// The file names kustomize recognises, in the order it looks for them.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// How deep the directory walk of a generated kustomization goes (symlink loops end here).
pub const MAX_WALK_DEPTH: usize = 64;

/// Whether the kustomization file was found or generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The path had no kustomization file; one was generated.
    Created,
    /// The path's own kustomization file was used.
    Unchanged,
}

/// The kustomization file to lay over the artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Its root-relative path (the existing file's name, or `kustomization.yaml`).
    pub path: String,
    /// Its content.
    pub content: String,
    /// Found or generated.
    pub action: Action,
}

/// Why no kustomization could be produced; every message names the file concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// A YAML file picked up for a generated kustomization is not valid Kubernetes YAML.
    #[error("failed to decode Kubernetes YAML from {path}: {message}")]
    Decode {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The existing kustomization file cannot be read or is not a mapping.
    #[error("invalid kustomization '{path}': {message}")]
    Kustomization {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `spec.components` names a remote or absolute path.
    #[error("component path '{0}' must be local and relative")]
    Component(String),
    /// Listing a directory failed, or the walk went too deep.
    #[error("walking '{path}': {message}")]
    Walk {
        /// The directory.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The kustomization file of directory `dir` (root-relative) with `spec`'s fields applied,
/// generated from the directory's YAML files when it has none. `fs` is only read.
pub fn generate(
    fs: &dyn Fs,
    dir: &str,
    spec: &RenderSpec,
    limits: &Limits,
) -> Result<Generated, GenerateError> {
    let (path, mut kus, action) = match find_kustomization(fs, dir) {
        Some(path) => {
            let kus = read_kustomization(fs, &path, limits)?;
            (path, kus, Action::Unchanged)
        }
        None => (
            join_dir(dir, "kustomization.yaml"),
            scaffold(fs, dir, limits)?,
            Action::Created,
        ),
    };
    kus.entry("apiVersion")
        .or_insert_with(|| json!("kustomize.config.k8s.io/v1beta1"));
    kus.entry("kind").or_insert_with(|| json!("Kustomization"));
    if action == Action::Unchanged
        && kus
            .get("resources")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    {
        kus.insert("buildMetadata".into(), json!(["originAnnotations"]));
    }
    apply_spec(fs, dir, spec, &mut kus)?;
    Ok(Generated {
        path,
        content: ferry_kustomize::output::to_yaml(&Value::Object(kus)),
        action,
    })
}

fn join_dir(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The kustomization file in `dir`, if it has one.
pub fn find_kustomization(fs: &dyn Fs, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| join_dir(dir, name))
        .find(|p| fs.kind(p) == Some(EntryKind::File))
}

fn read_kustomization(
    fs: &dyn Fs,
    path: &str,
    limits: &Limits,
) -> Result<Map<String, Value>, GenerateError> {
    let err = |message: String| GenerateError::Kustomization {
        path: path.to_string(),
        message,
    };
    let bytes = fs
        .read(path, limits.max_file_bytes)
        .map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| err("file is not valid UTF-8".into()))?;
    match ferry_kustomize::yaml::parse_one(path, &text, limits).map_err(|e| err(e.to_string()))? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(err("expected a mapping".into())),
    }
}

/// A kustomization listing the YAML files under `dir` and the subdirectories that have a
/// kustomization of their own (which are not descended into), as Flux generates it.
fn scaffold(fs: &dyn Fs, dir: &str, limits: &Limits) -> Result<Map<String, Value>, GenerateError> {
    let mut resources = Vec::new();
    walk(fs, dir, "", limits, 0, &mut resources)?;
    let mut kus = Map::new();
    kus.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    kus.insert("kind".into(), json!("Kustomization"));
    if resources.is_empty() {
        // As Flux: avoids kustomize's "kustomization.yaml is empty" error.
        kus.insert("namespace".into(), json!("_placeholder"));
    } else {
        kus.insert("resources".into(), json!(resources));
    }
    Ok(kus)
}

fn walk(
    fs: &dyn Fs,
    base: &str,
    rel: &str,
    limits: &Limits,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), GenerateError> {
    let here = if rel.is_empty() {
        base.to_string()
    } else {
        join_dir(base, rel)
    };
    if depth > MAX_WALK_DEPTH {
        return Err(GenerateError::Walk {
            path: here,
            message: format!("directories nested deeper than {MAX_WALK_DEPTH} (a symlink loop?)"),
        });
    }
    let names = fs.list(&here).map_err(|e| GenerateError::Walk {
        path: here.clone(),
        message: e.to_string(),
    })?;
    for name in names {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let child = join_dir(base, &child_rel);
        match fs.kind(&child) {
            Some(EntryKind::Dir) => {
                if find_kustomization(fs, &child).is_some() {
                    out.push(format!("./{child_rel}"));
                } else {
                    walk(fs, base, &child_rel, limits, depth + 1, out)?;
                }
            }
            // A listed entry that does not resolve is a link leading outside the artifact
            // or nowhere: reading it fails with the reason, as Flux's walk does.
            Some(EntryKind::File) | None if name.ends_with(".yaml") || name.ends_with(".yml") => {
                check_manifests(fs, &child, limits)?;
                out.push(format!("./{child_rel}"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_manifests(fs: &dyn Fs, path: &str, limits: &Limits) -> Result<(), GenerateError> {
    let err = |message: String| GenerateError::Decode {
        path: path.to_string(),
        message,
    };
    let bytes = fs
        .read(path, limits.max_file_bytes)
        .map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| err("file is not valid UTF-8".into()))?;
    let docs = ferry_kustomize::yaml::parse_documents(path, &text, limits)
        .map_err(|e| err(e.to_string()))?;
    if docs.iter().any(|d| !d.is_object()) {
        return Err(err("a document is not a mapping".into()));
    }
    Ok(())
}

/// Whether a component path is local and relative (Flux's `IsLocalRelativePath`).
pub fn is_local_relative(path: &str) -> bool {
    let lower = path.to_lowercase();
    for prefix in [
        "git::",
        "gh:",
        "ssh://",
        "https://",
        "http://",
        "git@",
        "github.com:",
        "github.com/",
    ] {
        if prefix.len() < path.len() && lower.starts_with(prefix) {
            return false;
        }
    }
    !(path.starts_with('/') || lower.trim_start_matches("file://").starts_with('/'))
}

fn apply_spec(
    fs: &dyn Fs,
    dir: &str,
    spec: &RenderSpec,
    kus: &mut Map<String, Value>,
) -> Result<(), GenerateError> {
    if let Some(ns) = &spec.target_namespace {
        kus.insert("namespace".into(), json!(ns));
    }
    if let Some(prefix) = &spec.name_prefix {
        kus.insert("namePrefix".into(), json!(prefix));
    }
    if let Some(suffix) = &spec.name_suffix {
        kus.insert("nameSuffix".into(), json!(suffix));
    }
    for patch in spec.patches.iter().flatten() {
        let mut p = Map::new();
        p.insert("patch".into(), json!(patch.patch));
        if let Some(target) = &patch.target {
            let mut t = Map::new();
            for (key, value) in [
                ("group", &target.group),
                ("version", &target.version),
                ("kind", &target.kind),
                ("name", &target.name),
                ("namespace", &target.namespace),
                ("labelSelector", &target.label_selector),
                ("annotationSelector", &target.annotation_selector),
            ] {
                if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                    t.insert(key.into(), json!(v));
                }
            }
            p.insert("target".into(), Value::Object(t));
        }
        push(kus, "patches", Value::Object(p));
    }
    let ignore_missing = spec.ignore_missing_components.unwrap_or(false);
    for component in spec.components.iter().flatten() {
        if !is_local_relative(component) {
            return Err(GenerateError::Component(component.clone()));
        }
        let exists = join(dir, component)
            .ok()
            .and_then(|p| fs.kind(&p))
            .is_some();
        if !exists && ignore_missing {
            continue;
        }
        push(kus, "components", json!(component));
    }
    for image in spec.images.iter().flatten() {
        merge_image(kus, image);
    }
    if let Some(meta) = spec.build_metadata.as_ref().filter(|m| !m.is_empty()) {
        kus.insert(
            "buildMetadata".into(),
            serde_json::to_value(meta).unwrap_or_else(|_| json!([])),
        );
    }
    Ok(())
}

fn push(kus: &mut Map<String, Value>, field: &str, value: Value) {
    let entry = kus.entry(field).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    if let Value::Array(items) = entry {
        items.push(value);
    }
}

/// Flux's image merge: an entry with the same name is updated field by field (tag and digest
/// together), otherwise the image is appended.
fn merge_image(kus: &mut Map<String, Value>, image: &flux_api::kustomize::Image) {
    let set = |m: &mut Map<String, Value>, key: &str, value: &Option<String>| match value
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        Some(v) => {
            m.insert(key.into(), json!(v));
        }
        None => {
            m.remove(key);
        }
    };
    let existing = kus
        .get_mut("images")
        .and_then(Value::as_array_mut)
        .and_then(|images| {
            images
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .find(|i| i.get("name").and_then(Value::as_str) == Some(image.name.as_str()))
        });
    match existing {
        Some(entry) => {
            if image.new_name.as_deref().is_some_and(|n| !n.is_empty()) {
                set(entry, "newName", &image.new_name);
            }
            let tag = image.new_tag.as_deref().is_some_and(|t| !t.is_empty());
            let digest = image.digest.as_deref().is_some_and(|d| !d.is_empty());
            if tag || digest {
                set(entry, "newTag", &image.new_tag);
                set(entry, "digest", &image.digest);
            }
        }
        None => {
            let mut m = Map::new();
            m.insert("name".into(), json!(image.name));
            set(&mut m, "newName", &image.new_name);
            set(&mut m, "newTag", &image.new_tag);
            set(&mut m, "digest", &image.digest);
            push(kus, "images", Value::Object(m));
        }
    }
}

/// Adds `spec.commonMetadata` labels and annotations to every object, replacing keys that
/// exist (Flux's `SetCommonMetadata`; selectors and templates are left alone).
pub fn apply_common_metadata(objects: &mut [Value], spec: &RenderSpec) {
    let Some(cm) = &spec.common_metadata else {
        return;
    };
    for obj in objects.iter_mut() {
        let Some(map) = obj.as_object_mut() else {
            continue;
        };
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        let Some(meta) = meta.as_object_mut() else {
            continue;
        };
        for (field, values) in [("labels", &cm.labels), ("annotations", &cm.annotations)] {
            let Some(values) = values.as_ref().filter(|v| !v.is_empty()) else {
                continue;
            };
            let target = meta.entry(field).or_insert_with(|| json!({}));
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(target) = target.as_object_mut() {
                for (k, v) in values {
                    target.insert(k.clone(), json!(v));
                }
            }
        }
    }
}
