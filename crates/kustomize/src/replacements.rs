//! `replacements`: copy a field from one object into fields of others.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::fieldpath;
use crate::kustomization::Selector;
use crate::resmap::ResMap;
use crate::resource::{ResId, Resource, scalar_to_string};
use crate::transformers::selector;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    #[serde(default)]
    delimiter: String,
    #[serde(default)]
    index: i64,
    #[serde(default)]
    create: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    #[serde(flatten)]
    sel: Selector,
    #[serde(default)]
    field_path: String,
    options: Option<Options>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    select: Option<Selector>,
    #[serde(default)]
    reject: Vec<Selector>,
    #[serde(default)]
    field_paths: Vec<String>,
    options: Option<Options>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Replacement {
    source: Option<Source>,
    #[serde(default)]
    targets: Vec<Target>,
}

fn id_selected(id: &ResId, sel: &Selector) -> bool {
    let exact = |p: &Option<String>, v: &str| p.as_deref().is_none_or(|p| p.is_empty() || p == v);
    exact(&sel.group, &id.gvk.group)
        && exact(&sel.version, &id.gvk.version)
        && exact(&sel.kind, &id.gvk.kind)
        && exact(&sel.name, &id.name)
        && sel
            .namespace
            .as_deref()
            .is_none_or(|n| n.is_empty() || n == id.effective_namespace() || n == id.namespace)
}

fn meta_selected(r: &Resource, sel: &Selector) -> Result<bool> {
    Ok(match sel.label_selector.as_deref() {
        None | Some("") => true,
        Some(s) => selector::selector_matches(s, &r.labels())?,
    } && match sel.annotation_selector.as_deref() {
        None | Some("") => true,
        Some(s) => selector::selector_matches(s, &r.annotations())?,
    })
}

/// kustomize v5.5 semantics: some id of the object (current or previous) is selected by
/// `select` (exact names) and not rejected by any of `reject`.
fn selected(r: &Resource, sel: &Selector, reject: &[Selector]) -> Result<bool> {
    if !meta_selected(r, sel)? {
        return Ok(false);
    }
    let mut rejected_by_meta = false;
    for rej in reject {
        let id_empty = rej.group.is_none()
            && rej.version.is_none()
            && rej.kind.is_none()
            && rej.name.is_none()
            && rej.namespace.is_none();
        let has_meta = rej.label_selector.is_some() || rej.annotation_selector.is_some();
        if id_empty && has_meta && meta_selected(r, rej)? {
            rejected_by_meta = true;
        }
    }
    if rejected_by_meta {
        return Ok(false);
    }
    let ids: Vec<ResId> = std::iter::once(r.cur_id())
        .chain(r.prev_ids.iter().cloned())
        .collect();
    let rejected = ids.iter().any(|id| {
        reject.iter().any(|rej| {
            let id_set = rej.group.is_some()
                || rej.version.is_some()
                || rej.kind.is_some()
                || rej.name.is_some()
                || rej.namespace.is_some();
            id_set && id_selected(id, rej)
        })
    });
    Ok(!rejected && ids.iter().any(|id| id_selected(id, sel)))
}

/// A selector as `group/version/kind name namespace` text for messages.
fn describe(sel: &Selector) -> String {
    let part = |p: &Option<String>| p.clone().unwrap_or_default();
    let mut out = format!(
        "{}/{}/{} {}",
        part(&sel.group),
        part(&sel.version),
        part(&sel.kind),
        part(&sel.name)
    );
    if let Some(ns) = &sel.namespace {
        out.push_str(&format!(" in namespace {ns}"));
    }
    out
}

fn source_value(rm: &ResMap, src: &Source) -> Result<Value> {
    let mut found = Vec::new();
    for r in &rm.resources {
        if selected(r, &src.sel, &[])? {
            found.push(r);
        }
    }
    let r = match found.len() {
        1 => found[0],
        0 => {
            return Err(Error::Build(format!(
                "nothing selected by replacement source {}",
                describe(&src.sel)
            )));
        }
        n => {
            return Err(Error::Build(format!(
                "multiple matches for replacement source {}: {n} resources",
                describe(&src.sel)
            )));
        }
    };
    let path = if src.field_path.is_empty() {
        "metadata.name"
    } else {
        &src.field_path
    };
    let Some(v) = fieldpath::get(&r.obj, path) else {
        return Err(Error::Build(format!(
            "fieldPath `{path}` is missing for replacement source {}",
            r.cur_id()
        )));
    };
    match &src.options {
        Some(o) if !o.delimiter.is_empty() => {
            let s = scalar_to_string(v);
            let parts: Vec<&str> = s.split(o.delimiter.as_str()).collect();
            let idx = usize::try_from(o.index)
                .ok()
                .filter(|i| *i < parts.len())
                .ok_or_else(|| {
                    Error::Build(format!(
                        "options.index {} is out of bounds for value {s}",
                        o.index
                    ))
                })?;
            Ok(Value::String(parts[idx].to_string()))
        }
        _ => Ok(v.clone()),
    }
}

fn set_target(field: &mut Value, value: &Value, opts: Option<&Options>) {
    match opts {
        Some(o) if !o.delimiter.is_empty() => {
            let cur = scalar_to_string(field);
            let mut parts: Vec<String> = cur
                .split(o.delimiter.as_str())
                .map(str::to_string)
                .collect();
            let v = scalar_to_string(value);
            if o.index < 0 {
                parts.insert(0, v);
            } else if (o.index as usize) >= parts.len() {
                parts.push(v);
            } else {
                parts[o.index as usize] = v;
            }
            *field = Value::String(parts.join(&o.delimiter));
        }
        _ => *field = value.clone(),
    }
}

/// Applies replacement entries (already loaded from files when given by path).
pub fn apply(rm: &mut ResMap, entries: &[Value]) -> Result<()> {
    for e in entries {
        let rep: Replacement = serde_json::from_value(e.clone())
            .map_err(|err| Error::Build(format!("invalid replacement: {err}")))?;
        let Some(src) = &rep.source else {
            return Err(Error::Build("replacement source must be specified".into()));
        };
        let value = source_value(rm, src)?;
        for t in &rep.targets {
            let Some(sel) = &t.select else {
                return Err(Error::Build(
                    "target must specify resources to select".into(),
                ));
            };
            for r in &mut rm.resources {
                if !selected(r, sel, &t.reject)? {
                    continue;
                }
                let create = t.options.as_ref().is_some_and(|o| o.create);
                for fp in &t.field_paths {
                    let segs = fieldpath::split(fp);
                    let mut hit = false;
                    fieldpath::set_all(&mut r.obj, &segs, create, &mut |f| {
                        hit = true;
                        set_target(f, &value, t.options.as_ref());
                        Ok(())
                    })?;
                    if !hit && !create {
                        return Err(Error::Build(format!(
                            "unable to find field \"{fp}\" in replacement target {}",
                            r.cur_id()
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}
