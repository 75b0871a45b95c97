//! Patch boundary: JSON patch, RFC 7386 merge patch, and strategic merge patch and
//! server-side apply delegated to the `k8s-merge` crate.
//!
//! Handlers only call the functions of this module.

use k8s_merge::ssa::{self, ApplyError, FieldSet, WriteOptions};
use k8s_merge::{Schema, TypeKind, TypeRef};
use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::status::ApiError;

/// Patch content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut out = doc.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| {
        ApiError::unprocessable(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    Ok(out)
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(doc: &Value, patch: &Value) -> Value {
    match (doc, patch) {
        (Value::Object(d), Value::Object(p)) => {
            let mut out = d.clone();
            for (k, pv) in p {
                if pv.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(d.get(k).unwrap_or(&Value::Null), pv);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, Value::Object(p)) => merge_patch(&Value::Object(Map::new()), &Value::Object(p.clone())),
        (_, p) => p.clone(),
    }
}

/// The merge type of a resource: the built-in table for built-in kinds, the CRD's
/// structural schema for custom kinds (untyped when unknown).
fn type_of<'s>(schema: &'s Schema, def: &ResourceDef) -> TypeRef<'s> {
    schema.lookup_or_untyped(&def.api_version(), &def.kind)
}

/// Builds the merge schema: built-in kinds plus every served version of the given CRDs.
pub fn merge_schema<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Schema {
    let mut schema = Schema::builtin().clone();
    for crd in crds {
        if let Err(e) = schema.register_crd(crd) {
            tracing::warn!(error = %e, "CRD schema not usable for merging; its kinds merge untyped");
        }
    }
    schema
}

/// Strategic merge patch with the merge keys and patch strategies of the kind.
pub fn strategic_merge(
    schema: &Schema,
    def: &ResourceDef,
    doc: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    k8s_merge::smp::apply(doc, patch, type_of(schema, def))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn options<'a>(sub: Option<&'a str>, ignored: &'a FieldSet) -> WriteOptions<'a> {
    WriteOptions {
        time: None,
        subresource: sub.unwrap_or(""),
        ignored: Some(ignored),
    }
}

fn reset(def: &ResourceDef, ty: TypeRef<'_>, sub: Option<&str>) -> FieldSet {
    if def.has_status || sub.is_some() {
        ssa::reset_fields(ty, sub.unwrap_or(""))
    } else {
        FieldSet::new()
    }
}

fn entries(obj: Option<&Value>) -> Result<Vec<ssa::ManagedFieldsEntry>, ApiError> {
    match obj {
        None => Ok(vec![]),
        Some(o) => ssa::managed_fields_of(o).map_err(|e| ApiError::internal(e.to_string())),
    }
}

/// What the object a non-apply write produced says about `metadata.managedFields`, decided as
/// the apiserver's field manager does (`decodeLiveOrNew`).
#[derive(Debug, PartialEq)]
enum Requested {
    /// Absent, `null` or not decodable: the live object's entries stay the base.
    Live,
    /// `[]` or `[{}]`: the entries are reset (to none).
    Reset,
    /// A valid, non-empty list: it replaces the live object's entries.
    Entries(Vec<ssa::ManagedFieldsEntry>),
}

fn requested(new: &Value) -> Requested {
    let Some(Value::Array(items)) = new.pointer("/metadata/managedFields") else {
        return Requested::Live;
    };
    let zero_entry = |v: &Value| {
        v.as_object().is_some_and(|m| {
            m.values()
                .all(|x| x.is_null() || x.as_str().is_some_and(str::is_empty))
        })
    };
    match items.as_slice() {
        [] => Requested::Reset,
        [only] if zero_entry(only) => Requested::Reset,
        _ => decode_requested(items).map_or(Requested::Live, Requested::Entries),
    }
}

/// Decodes client-supplied entries with the apiserver's checks (operation `Apply` or `Update`,
/// a non-empty apiVersion, fieldsType `FieldsV1`, a decodable fieldsV1); `None` when any fails.
/// Entries with the same manager identity collapse to the last one, as there.
fn decode_requested(items: &[Value]) -> Option<Vec<ssa::ManagedFieldsEntry>> {
    let mut out: Vec<ssa::ManagedFieldsEntry> = Vec::with_capacity(items.len());
    for item in items {
        let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        if !matches!(field("operation"), "Apply" | "Update")
            || field("apiVersion").is_empty()
            || field("fieldsType") != "FieldsV1"
        {
            return None;
        }
        let entry: ssa::ManagedFieldsEntry = serde_json::from_value(item.clone()).ok()?;
        if !entry.fields_v1.is_null() {
            ssa::fieldsv1::decode(&entry.fields_v1).ok()?;
        }
        let same = |e: &ssa::ManagedFieldsEntry| {
            e.manager == entry.manager
                && e.operation == entry.operation
                && e.subresource == entry.subresource
                && (entry.operation == ssa::Operation::Apply || e.api_version == entry.api_version)
        };
        out.retain(|e| !same(e));
        out.push(entry);
    }
    Some(out)
}

fn apply_error(e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflict { conflicts } => {
            let causes = conflicts
                .iter()
                .map(|c| {
                    json!({
                        "reason": "FieldManagerConflict",
                        "message": c.cause_message(),
                        "field": c.field_path,
                    })
                })
                .collect();
            ApiError::apply_conflict(ssa::conflict_message(&conflicts), causes)
        }
        ApplyError::Invalid(msg) => ApiError::unprocessable(msg),
        ApplyError::InvalidManagedFields(msg) => {
            ApiError::bad_request(format!("invalid managedFields: {msg}"))
        }
    }
}

/// Records a non-apply write (create, update, patch) by `manager` in `new`'s managedFields.
///
/// As the apiserver's field manager: on the main resource, `managedFields` in `new` (from the
/// request body, or as a patch left them) replace the live object's when they are a valid
/// non-empty list, and `[]` or `[{}]` resets them; absent, `null` or invalid ones keep the live
/// object's. Writes through a subresource always keep the live object's. An update whose
/// starting entries are empty is not tracked at all (the object then has no managedFields);
/// a create always is.
pub fn track_update(
    schema: &Schema,
    def: &ResourceDef,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    sub: Option<&str>,
) -> Result<(), ApiError> {
    let ty = type_of(schema, def);
    let ignored = reset(def, ty, sub);
    let live = || entries(old).unwrap_or_default();
    let managed = match (sub, requested(new)) {
        (Some(_), _) | (None, Requested::Live) => live(),
        (None, Requested::Reset) => vec![],
        (None, Requested::Entries(e)) => e,
    };
    if managed.is_empty() && old.is_some() {
        ssa::set_managed_fields(new, &[]);
        return Ok(());
    }
    let outcome = ssa::update_with(old, new, manager, &managed, ty, options(sub, &ignored))
        .map_err(apply_error)?;
    *new = outcome.object;
    Ok(())
}

/// Records the fields of an object the emulator creates itself (the seeded namespaces, the
/// `default/kubernetes` Service) as owned by `manager` with an `Update` entry, as if created
/// through the API; `status` is not recorded.
pub fn seed_managed_fields(obj: &mut Value, manager: &str) {
    let schema = Schema::builtin();
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let ty = schema.lookup_or_untyped(av, kind);
    let ignored = ssa::reset_fields(ty, "");
    if let Ok(out) = ssa::update_with(None, obj, manager, &[], ty, options(None, &ignored)) {
        *obj = out.object;
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (None: create).
/// Returns the merged object with updated managedFields, or a 409 conflict.
pub fn apply(
    schema: &Schema,
    def: &ResourceDef,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    sub: Option<&str>,
) -> Result<Value, ApiError> {
    let ty = type_of(schema, def);
    let ignored = reset(def, ty, sub);
    let managed = entries(live)?;
    let outcome = ssa::apply_with(
        live,
        applied,
        manager,
        force,
        &managed,
        ty,
        options(sub, &ignored),
    )
    .map_err(apply_error)?;
    Ok(outcome.object)
}

/// Removes the fields a built-in kind does not declare (as decoding into the real server's
/// typed structs does) and returns their paths (`.spec.x`). Custom kinds are left alone.
pub fn prune_builtin(schema: &Schema, def: &ResourceDef, obj: &mut Value) -> Vec<String> {
    let mut out = vec![];
    if def.custom {
        return out;
    }
    if let Some(ty) = schema.lookup(&def.api_version(), &def.kind) {
        prune_typed(ty, obj, "", &mut out);
    }
    out
}

fn prune_typed(ty: TypeRef<'_>, v: &mut Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if ty.kind() == TypeKind::Map => {
            // Only named OpenAPI definitions are structs; unnamed maps are free-form.
            let is_struct = ty.name().is_some();
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let p = format!("{path}.{k}");
                let child_ty = ty.field(&k);
                if is_struct && !ty.has_field(&k) && child_ty.kind() == TypeKind::Untyped {
                    m.remove(&k);
                    out.push(p);
                    continue;
                }
                if let Some(child) = m.get_mut(&k) {
                    prune_typed(child_ty, child, &p, out);
                }
            }
        }
        Value::Array(items) if ty.kind() == TypeKind::List => {
            let item_ty = ty.items();
            for (i, x) in items.iter_mut().enumerate() {
                prune_typed(item_ty, x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let patch = json!({"a": "z", "c": {"f": null}});
        assert_eq!(
            merge_patch(&doc, &patch),
            json!({"a": "z", "c": {"d": "e"}})
        );
        assert_eq!(
            merge_patch(&json!({"a": [1]}), &json!({"a": [2]})),
            json!({"a": [2]})
        );
    }

    #[test]
    fn json_patch_failures_are_422_and_malformed_patches_400() {
        let doc = json!({"a": 1});
        let failing = json!([{"op": "test", "path": "/a", "value": 2}]);
        assert_eq!(json_patch(&doc, &failing).map_err(|e| e.code), Err(422));
        assert_eq!(
            json_patch(&doc, &json!({"op": "add"})).map_err(|e| e.code),
            Err(400)
        );
    }

    #[test]
    fn requested_managed_fields_follow_the_apiserver_rules() {
        let with = |mf: Value| json!({"metadata": {"name": "x", "managedFields": mf}});
        assert_eq!(requested(&json!({"metadata": {}})), Requested::Live);
        assert_eq!(requested(&with(Value::Null)), Requested::Live);
        assert_eq!(requested(&with(json!([]))), Requested::Reset);
        assert_eq!(requested(&with(json!([{}]))), Requested::Reset);
        let valid = json!({"manager": "m", "operation": "Update", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}});
        let Requested::Entries(e) = requested(&with(json!([valid.clone(), valid.clone()]))) else {
            panic!("valid entries are taken");
        };
        assert_eq!(e.len(), 1, "duplicate identities collapse");
        for broken in [
            json!({"manager": "m", "operation": "Other", "apiVersion": "v1", "fieldsType": "FieldsV1"}),
            json!({"manager": "m", "operation": "Update", "fieldsType": "FieldsV1"}),
            json!({"manager": "m", "operation": "Update", "apiVersion": "v1"}),
            json!({"manager": "m", "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"x:bad": {}}}),
        ] {
            assert_eq!(
                requested(&with(json!([valid.clone(), broken.clone()]))),
                Requested::Live,
                "{broken}"
            );
        }
    }

    #[test]
    fn prune_builtin_drops_undeclared_fields_but_keeps_free_form_maps() {
        let def = crate::resources::Registry::new()
            .find("apps", "v1", "deployments")
            .cloned()
            .expect("deployments");
        let mut obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"any": "thing"}, "bogus": 1},
            "spec": {"replica": 2, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}},
        });
        let pruned = prune_builtin(Schema::builtin(), &def, &mut obj);
        assert_eq!(
            pruned,
            vec![
                ".metadata.bogus",
                ".spec.replica",
                ".spec.template.spec.containers[0].imagee"
            ]
        );
        assert_eq!(obj["metadata"]["labels"]["any"], "thing");
    }
}
