//! Reading kustomization files and resource documents.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fs::EntryKind;
use crate::kustomization::{KUSTOMIZATION_FILE_NAMES, Kustomization};
use crate::loader::Loader;
use crate::resource::Resource;
use crate::yaml;

/// Finds and parses the kustomization file in `dir`.
pub fn load_kustomization(ldr: &Loader<'_>, dir: &str) -> Result<(String, Kustomization)> {
    let mut found = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let p = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        if ldr.kind(&p) == Some(EntryKind::File) {
            found.push(p);
        }
    }
    let file = match found.len() {
        0 => {
            return Err(Error::MissingKustomization(if dir.is_empty() {
                ".".into()
            } else {
                dir.into()
            }));
        }
        1 => found.remove(0),
        _ => {
            return Err(Error::Build(format!(
                "Found multiple kustomization files under: {dir}"
            )));
        }
    };
    let text = ldr.read_text(&file)?;
    if text.trim().is_empty() {
        return Err(Error::Kustomization {
            path: file,
            message: "kustomization file is empty".into(),
        });
    }
    let value = yaml::parse_one(&file, &text, &ldr.opts.limits)?;
    let kust = Kustomization::from_value(&file, value)?;
    Ok((file, kust))
}

fn expand_list(doc: Value, path: &str, out: &mut Vec<Value>) -> Result<()> {
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && doc.get("items").is_some();
    if is_list {
        if let Some(Value::Array(items)) = doc.get("items") {
            for item in items {
                expand_list(item.clone(), path, out)?;
            }
        }
        return Ok(());
    }
    if !doc.is_object() {
        return Err(Error::InvalidResource {
            path: path.to_string(),
            message: "a resource must be a YAML mapping".into(),
        });
    }
    out.push(doc);
    Ok(())
}

/// Turns parsed documents into resources, validating the basics.
pub fn docs_to_resources(docs: Vec<Value>, path: &str) -> Result<Vec<Resource>> {
    let mut flat = Vec::new();
    for d in docs {
        expand_list(d, path, &mut flat)?;
    }
    let mut out = Vec::new();
    for d in flat {
        let kind = d
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind.is_empty() {
            return Err(Error::InvalidResource {
                path: path.to_string(),
                message: "missing Resource metadata: 'kind' is required".into(),
            });
        }
        let mut d = d;
        stringify_metadata_maps(&mut d);
        let r = Resource::new(d);
        if r.name().is_empty()
            && r.obj
                .get("metadata")
                .and_then(|m| m.get("generateName"))
                .is_none()
        {
            return Err(Error::InvalidResource {
                path: path.to_string(),
                message: format!("missing metadata.name in object of kind {kind}"),
            });
        }
        out.push(r);
    }
    Ok(out)
}

/// kustomize rewrites annotations as strings (`port: 8080` becomes `"8080"`); labels keep
/// their YAML types.
fn stringify_metadata_maps(obj: &mut Value) {
    let Some(Value::Object(md)) = obj.get_mut("metadata") else {
        return;
    };
    for field in ["annotations"] {
        if let Some(Value::Object(m)) = md.get_mut(field) {
            for v in m.values_mut() {
                if !v.is_string() {
                    *v = Value::String(crate::resource::scalar_to_string(v));
                }
            }
        }
    }
}
