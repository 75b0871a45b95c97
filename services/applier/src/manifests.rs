//! Parsing a rendered multi-document YAML stream into checked Kubernetes objects.

use serde_json::Value;

/// Group, version, kind, namespace and name of one object: what identifies it in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjMeta {
    /// API group, empty for the core group.
    pub group: String,
    /// API version without the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects (or when not set in the manifest).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjMeta {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Flux's inventory id: `<namespace>_<name>_<group>_<kind>`.
    pub fn inventory_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }
}

impl std::fmt::Display for ObjMeta {
    /// Flux's object naming in messages: `Kind/namespace/name` or `Kind/name`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Splits `apiVersion` into group and version (`apps/v1` → `apps`, `v1`; `v1` → ``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// One object of a render, with its position in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Zero-based index of the (non-empty) YAML document in the render.
    pub index: usize,
    /// Identity of the object.
    pub meta: ObjMeta,
    /// The object as JSON, keys in document order.
    pub object: Value,
}

impl Manifest {
    /// Builds a manifest from a JSON object, checking apiVersion, kind, name and namespace.
    pub fn from_value(index: usize, object: Value) -> Result<Self, ManifestError> {
        let Value::Object(map) = &object else {
            return Err(ManifestError::NotAnObject { index });
        };
        let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        let metadata = map.get("metadata");
        let name = metadata
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let describe = || describe(kind, namespace, name);
        if api_version.is_empty() || kind.is_empty() {
            return Err(ManifestError::MissingTypeMeta {
                index,
                object: describe(),
            });
        }
        let (group, version) = split_api_version(api_version);
        if version.is_empty() {
            return Err(ManifestError::MissingTypeMeta {
                index,
                object: describe(),
            });
        }
        if let Err(why) = check_name(name) {
            return Err(ManifestError::InvalidName {
                index,
                object: describe(),
                why,
            });
        }
        if !namespace.is_empty()
            && let Err(why) = check_dns_label(namespace)
        {
            return Err(ManifestError::InvalidNamespace {
                index,
                object: describe(),
                why,
            });
        }
        let meta = ObjMeta {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Ok(Self {
            index,
            meta,
            object,
        })
    }

    /// The value of an annotation, when set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        annotation(&self.object, key)
    }

    /// Sets `metadata.namespace` (and the identity) of the object.
    pub fn set_namespace(&mut self, namespace: &str) {
        self.meta.namespace = namespace.to_owned();
        if let Some(metadata) = self
            .object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            metadata.insert("namespace".into(), Value::String(namespace.to_owned()));
        }
    }

    /// Adds (or overwrites) a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        set_metadata_entry(&mut self.object, "labels", key, value);
    }

    /// Adds (or overwrites) an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        set_metadata_entry(&mut self.object, "annotations", key, value);
    }
}

/// The value of `metadata.annotations[key]` of a JSON object.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

/// The value of `metadata.labels[key]` of a JSON object.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(key)?.as_str()
}

fn set_metadata_entry(object: &mut Value, field: &str, key: &str, value: &str) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let entries = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Default::default()));
    if !entries.is_object() {
        *entries = Value::Object(Default::default());
    }
    if let Some(entries) = entries.as_object_mut() {
        entries.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn describe(kind: &str, namespace: &str, name: &str) -> String {
    let kind = if kind.is_empty() { "<no kind>" } else { kind };
    let name = if name.is_empty() { "<no name>" } else { name };
    if namespace.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{namespace}/{name}")
    }
}

/// Why a render could not be turned into objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The YAML stream does not parse.
    #[error("failed to parse the rendered manifests: {0}")]
    Yaml(String),
    /// A document is not a mapping.
    #[error("document {index}: not a Kubernetes object (expected a mapping)")]
    NotAnObject {
        /// Document index.
        index: usize,
    },
    /// A document has no apiVersion or kind.
    #[error("document {index} ({object}): apiVersion and kind are required")]
    MissingTypeMeta {
        /// Document index.
        index: usize,
        /// The object as far as it can be named.
        object: String,
    },
    /// `metadata.name` is missing or not a valid object name.
    #[error("document {index} ({object}): invalid metadata.name: {why}")]
    InvalidName {
        /// Document index.
        index: usize,
        /// The object as far as it can be named.
        object: String,
        /// What is wrong with it.
        why: String,
    },
    /// `metadata.namespace` is not a DNS label.
    #[error("document {index} ({object}): invalid metadata.namespace: {why}")]
    InvalidNamespace {
        /// Document index.
        index: usize,
        /// The object as far as it can be named.
        object: String,
        /// What is wrong with it.
        why: String,
    },
    /// Two documents describe the same object.
    #[error("document {index} ({object}): duplicate of document {first}")]
    Duplicate {
        /// Document index of the second copy.
        index: usize,
        /// The object.
        object: String,
        /// Document index of the first copy.
        first: usize,
    },
}

/// Parses a multi-document YAML render; empty documents are skipped, `List` kinds are not
/// expanded (kustomize never emits them).
pub fn parse(yaml: &str) -> Result<Vec<Manifest>, ManifestError> {
    from_values(parse_documents(yaml)?)
}

/// The YAML documents of a render, before any check (the SOPS decryptor works on these).
pub fn parse_documents(yaml: &str) -> Result<Vec<Value>, ManifestError> {
    serde_saphyr::from_multiple(yaml).map_err(|e| ManifestError::Yaml(e.to_string()))
}

/// Checks parsed documents as [`parse`] does: empty ones skipped, no duplicates.
pub fn from_values(docs: Vec<Value>) -> Result<Vec<Manifest>, ManifestError> {
    let mut out = Vec::with_capacity(docs.len());
    let mut seen = std::collections::HashMap::new();
    for (index, doc) in docs.into_iter().filter(|d| !d.is_null()).enumerate() {
        let manifest = Manifest::from_value(index, doc)?;
        let key = (
            manifest.meta.group.clone(),
            manifest.meta.kind.clone(),
            manifest.meta.namespace.clone(),
            manifest.meta.name.clone(),
        );
        if let Some(first) = seen.insert(key, index) {
            return Err(ManifestError::Duplicate {
                index,
                object: manifest.meta.to_string(),
                first,
            });
        }
        out.push(manifest);
    }
    Ok(out)
}

/// Checks an object name as the API server checks any name used in a path segment:
/// non-empty, at most 253 characters, not `.` or `..`, no `/`, `%` or whitespace.
/// (Most kinds are stricter, DNS subdomains; RBAC kinds allow `:`; the server has the last word.)
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is required".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "must be no more than 253 characters, got {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("may not be '{name}'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == '%' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("{name:?} may not contain {c:?}"));
    }
    Ok(())
}

/// Checks an RFC 1123 DNS label (namespaces): lower-case alphanumerics and `-`, at most 63,
/// starting and ending with an alphanumeric.
pub fn check_dns_label(value: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if value.is_empty() || value.len() > 63 {
        return Err(format!("{value:?} must be 1 to 63 characters"));
    }
    if !value.chars().all(ok_char) || value.starts_with('-') || value.ends_with('-') {
        return Err(format!(
            "{value:?} must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents_in_order_and_keeps_key_order() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\ndata:\n  z: '1'\n  a: '2'\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n";
        let objs = parse(yaml).expect("parses");
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].meta.inventory_id(), "default_a__ConfigMap");
        assert_eq!(objs[1].meta.group, "apps");
        assert_eq!(objs[1].index, 1);
        let keys: Vec<_> = objs[0].object["data"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, vec!["z", "a"]);
    }

    #[test]
    fn object_without_kind_is_an_error_naming_the_document() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nmetadata:\n  name: b\n";
        let err = parse(yaml).expect_err("kind missing");
        assert_eq!(
            err,
            ManifestError::MissingTypeMeta {
                index: 1,
                object: "<no kind>/b".into()
            }
        );
        assert!(err.to_string().contains("document 1"));
    }

    #[test]
    fn invalid_names_and_namespaces_are_errors() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a/b\n";
        assert!(matches!(
            parse(yaml),
            Err(ManifestError::InvalidName { index: 0, .. })
        ));
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: Bad_NS\n";
        assert!(matches!(
            parse(yaml),
            Err(ManifestError::InvalidNamespace { index: 0, .. })
        ));
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n";
        assert!(matches!(
            parse(yaml),
            Err(ManifestError::InvalidName { .. })
        ));
    }

    #[test]
    fn duplicate_objects_are_rejected() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        assert!(matches!(
            parse(yaml),
            Err(ManifestError::Duplicate {
                index: 1,
                first: 0,
                ..
            })
        ));
    }

    #[test]
    fn rbac_names_with_colons_are_accepted() {
        let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:foo\n";
        assert_eq!(parse(yaml).map(|o| o.len()), Ok(1));
    }

    #[test]
    fn labels_are_added() {
        let mut m = parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
            .expect("parses")
            .remove(0);
        m.set_label("x/y", "z");
        m.set_annotation("a", "b");
        assert_eq!(label(&m.object, "x/y"), Some("z"));
        assert_eq!(m.annotation("a"), Some("b"));
    }
}
