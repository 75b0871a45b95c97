//! Field specs: kind-filtered paths into objects, and walking them.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::resource::Gvk;

/// A path into objects of some kinds, as in kustomize's transformer configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    /// Group filter (empty: any).
    #[serde(default)]
    pub group: String,
    /// Version filter (empty: any).
    #[serde(default)]
    pub version: String,
    /// Kind filter (empty: any).
    #[serde(default)]
    pub kind: String,
    /// `/`-separated path; `\/` escapes a slash, `[]` marks a sequence.
    #[serde(default)]
    pub path: String,
    /// Whether missing fields along the path are created.
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    /// A spec for any kind.
    pub fn any(path: &str, create: bool) -> Self {
        Self {
            path: path.to_string(),
            create,
            ..Self::default()
        }
    }

    /// A spec for one kind.
    pub fn for_kind(kind: &str, path: &str, create: bool) -> Self {
        Self {
            kind: kind.to_string(),
            path: path.to_string(),
            create,
            ..Self::default()
        }
    }

    /// The gvk filter.
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Whether this spec applies to objects of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk())
    }

    /// The path split into segments.
    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field path on `/`, honouring `\/` escapes.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `f` on every value at `segments` below `v`; sequences met on the way are fanned out.
///
/// With `create`, missing mappings along the path are made and the leaf is passed as `Null`.
pub fn walk(
    v: &mut Value,
    segments: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((first, rest)) = segments.split_first() else {
        return f(v);
    };
    if let Value::Array(items) = v {
        for item in items {
            walk(item, segments, create, f)?;
        }
        return Ok(());
    }
    let (key, is_seq) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (first.as_str(), false),
    };
    let Value::Object(map) = v else {
        return Ok(());
    };
    if !map.contains_key(key) || map.get(key).is_some_and(Value::is_null) {
        if !create {
            return Ok(());
        }
        if is_seq {
            return Ok(());
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        map.insert(key.to_string(), fresh);
    }
    match map.get_mut(key) {
        Some(child) => walk(child, rest, create, f),
        None => Ok(()),
    }
}

/// Read-only variant of [`walk`] (never creates).
pub fn visit<'a>(v: &'a Value, segments: &[String], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(v);
        return;
    };
    match v {
        Value::Array(items) => {
            for item in items {
                visit(item, segments, out);
            }
        }
        Value::Object(map) => {
            let key = first.strip_suffix("[]").unwrap_or(first);
            if let Some(child) = map.get(key) {
                visit(child, rest, out);
            }
        }
        _ => {}
    }
}
