//! CustomResourceDefinitions: validation, status, registry refresh, pruning and defaulting.

use serde_json::{Map, Value, json};

use crate::resources::{Gr, NameRule, ResourceDef};
use crate::status::ApiError;
use crate::store::State;
use crate::util::{get_path, get_str, now_rfc3339};

/// Whether `def` is the CRD resource itself.
pub fn is_crd(def: &ResourceDef) -> bool {
    def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions"
}

fn crd_gr() -> Gr {
    Gr {
        group: "apiextensions.k8s.io".into(),
        plural: "customresourcedefinitions".into(),
    }
}

/// Validates a CRD and sets its status as an established CRD.
pub fn prepare(obj: &mut Value) -> Result<(), ApiError> {
    let name = get_str(obj, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let group = get_str(obj, &["spec", "group"]).unwrap_or("").to_string();
    let plural = get_str(obj, &["spec", "names", "plural"])
        .unwrap_or("")
        .to_string();
    let kind = get_str(obj, &["spec", "names", "kind"])
        .unwrap_or("")
        .to_string();
    let scope = get_str(obj, &["spec", "scope"]).unwrap_or("").to_string();
    let mut causes: Vec<(String, String, String)> = vec![];
    let mut req = |field: &str| {
        causes.push((
            "FieldValueRequired".into(),
            "Required value".into(),
            field.into(),
        ));
    };
    if group.is_empty() {
        req("spec.group");
    }
    if plural.is_empty() {
        req("spec.names.plural");
    }
    if kind.is_empty() {
        req("spec.names.kind");
    }
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push((
            "FieldValueNotSupported".into(),
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
            "spec.scope".into(),
        ));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "FieldValueInvalid".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            "metadata.name".into(),
        ));
    }
    let versions = get_path(obj, &["spec", "versions"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "FieldValueRequired".into(),
            "Required value: must have exactly one version marked as storage version".into(),
            "spec.versions".into(),
        ));
    }
    let storage: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push((
            "FieldValueInvalid".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
            "spec.versions".into(),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if get_str(v, &["name"]).unwrap_or("").is_empty() {
            causes.push((
                "FieldValueRequired".into(),
                "Required value".into(),
                format!("spec.versions[{i}].name"),
            ));
        }
        if get_path(v, &["schema", "openAPIV3Schema"]).is_none() {
            causes.push((
                "FieldValueRequired".into(),
                "Required value: schemas are required".into(),
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            causes,
        ));
    }
    let storage_name = storage
        .first()
        .and_then(|v| get_str(v, &["name"]))
        .unwrap_or("")
        .to_string();
    let mut stored: Vec<Value> = get_path(obj, &["status", "storedVersions"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !stored.iter().any(|v| v == &json!(storage_name)) {
        stored.push(json!(storage_name));
    }
    let names = get_path(obj, &["spec", "names"])
        .cloned()
        .unwrap_or(json!({}));
    let now = now_rfc3339();
    let status = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
    Ok(())
}

/// Rebuilds the CRD-defined part of the registry from stored CRDs.
pub fn refresh(state: &mut State) {
    let mut defs = vec![];
    for crd in state.store.list(&crd_gr(), None) {
        if get_path(crd, &["metadata", "deletionTimestamp"]).is_some() {
            continue;
        }
        let group = get_str(crd, &["spec", "group"]).unwrap_or("").to_string();
        let names = get_path(crd, &["spec", "names"])
            .cloned()
            .unwrap_or(json!({}));
        let plural = get_str(&names, &["plural"]).unwrap_or("").to_string();
        let kind = get_str(&names, &["kind"]).unwrap_or("").to_string();
        let singular = get_str(&names, &["singular"])
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase());
        let strs = |k: &str| -> Vec<String> {
            names
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let namespaced = get_str(crd, &["spec", "scope"]) == Some("Namespaced");
        let versions = get_path(crd, &["spec", "versions"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in versions {
            if v.get("served") != Some(&json!(true)) {
                continue;
            }
            defs.push(ResourceDef {
                group: group.clone(),
                version: get_str(&v, &["name"]).unwrap_or("").to_string(),
                plural: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                namespaced,
                short_names: strs("shortNames"),
                categories: strs("categories"),
                has_status: get_path(&v, &["subresources", "status"]).is_some(),
                has_generation: true,
                name_rule: NameRule::Subdomain,
                schema: get_path(&v, &["schema", "openAPIV3Schema"]).cloned(),
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                custom: true,
            });
        }
    }
    state.registry.set_custom(defs);
    let crds: Vec<Value> = state
        .store
        .list(&crd_gr(), None)
        .into_iter()
        .filter(|c| get_path(c, &["metadata", "deletionTimestamp"]).is_none())
        .cloned()
        .collect();
    state.merge_schema = std::sync::Arc::new(crate::patch::merge_schema(crds.iter()));
}

/// Removes every custom object of a deleted CRD and refreshes the registry.
pub fn on_crd_deleted(state: &mut State, crd: &Value) {
    let gr = Gr {
        group: get_str(crd, &["spec", "group"]).unwrap_or("").to_string(),
        plural: get_str(crd, &["spec", "names", "plural"])
            .unwrap_or("")
            .to_string(),
    };
    let keys: Vec<(String, String)> = state
        .store
        .list(&gr, None)
        .iter()
        .map(|o| {
            (
                crate::util::namespace_of(o).to_string(),
                crate::util::name_of(o).to_string(),
            )
        })
        .collect();
    for (ns, name) in keys {
        state.store.remove(&gr, &ns, &name);
    }
    refresh(state);
}

/// Prunes unknown fields and applies schema defaults for a custom object.
pub fn prune_and_default(def: &ResourceDef, obj: &mut Value) {
    let mut pruned = vec![];
    prune_root(def, obj, &mut pruned);
}

/// Fields of `obj` that the CRD schema does not declare (as `.spec.x` paths).
pub fn unknown_fields(def: &ResourceDef, obj: &Value) -> Vec<String> {
    let mut copy = obj.clone();
    let mut pruned = vec![];
    prune_root(def, &mut copy, &mut pruned);
    pruned
}

fn prune_root(def: &ResourceDef, obj: &mut Value, pruned: &mut Vec<String>) {
    let Some(schema) = &def.schema else {
        return;
    };
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let keys: Vec<String> = root.keys().cloned().collect();
    for k in keys {
        if k == "apiVersion" || k == "kind" || k == "metadata" {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(s) => {
                if let Some(v) = root.get_mut(&k) {
                    prune(v, s, &format!(".{k}"), pruned);
                }
            }
            None if preserve => {}
            None => {
                root.remove(&k);
                pruned.push(format!(".{k}"));
            }
        }
    }
    if let Some(props) = props {
        apply_defaults_props(root, props);
    }
}

fn prune(v: &mut Value, schema: &Value, path: &str, pruned: &mut Vec<String>) {
    if schema.get("x-kubernetes-embedded-resource") == Some(&json!(true)) {
        return;
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let sub = props
                    .and_then(|p| p.get(&k))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match sub {
                    Some(s) => {
                        if let Some(child) = map.get_mut(&k) {
                            prune(child, s, &format!("{path}.{k}"), pruned);
                        }
                    }
                    None if preserve || additional == Some(&json!(true)) => {}
                    None => {
                        map.remove(&k);
                        pruned.push(format!("{path}.{k}"));
                    }
                }
            }
            if let Some(props) = props {
                apply_defaults_props(map, props);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, it) in items.iter_mut().enumerate() {
                    prune(it, item_schema, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

fn apply_defaults_props(map: &mut Map<String, Value>, props: &Map<String, Value>) {
    for (k, s) in props {
        if !map.contains_key(k)
            && let Some(d) = s.get("default")
        {
            let mut d = d.clone();
            prune(&mut d, s, "", &mut vec![]);
            map.insert(k.clone(), d);
        }
    }
}
