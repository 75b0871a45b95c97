//! Write handlers: create, update (main and status), patch, delete, deletecollection.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{HandlerResult, Target, object_response, present};
use crate::patch::{self, PatchKind};
use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::{Shared, State};
use crate::util::{get_path, get_str, json_response, name_of, now_rfc3339, parse_body};
use crate::validation::{check_labels, check_name};
use crate::{crd, defaults};

/// The field manager for non-apply writes.
pub(super) fn manager(req: &ApiRequest) -> String {
    if let Some(m) = req.q("fieldManager")
        && !m.is_empty()
    {
        return m.to_string();
    }
    let ua = req.header("user-agent");
    let first = ua.split('/').next().unwrap_or("").trim();
    if first.is_empty() {
        "unknown".into()
    } else {
        first.to_string()
    }
}

fn parse_object(req: &ApiRequest) -> Result<Value, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    let v = parse_body(&req.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Object): {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized (must be of type Object): expected a JSON object",
        ));
    }
    Ok(v)
}

/// Checks `apiVersion`/`kind` of a body against the URL's resource.
fn check_type(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&obj.to_string())
        )));
    }
    if av.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'apiVersion' is missing in '{}'",
            truncate(&obj.to_string())
        )));
    }
    let (group, _) = av.rsplit_once('/').unwrap_or(("", av));
    if group != def.group {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    if kind != def.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({}) for the resource {}",
            def.kind, def.plural
        )));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Normalises metadata.namespace against the URL.
fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let body_ns = get_str(obj, &["metadata", "namespace"])
        .unwrap_or("")
        .to_string();
    let meta = crate::util::ensure_obj(obj, &["metadata"])
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    if t.def.namespaced {
        let url_ns = t.ns();
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta.insert("namespace".into(), json!(url_ns));
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

fn validate_meta(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    let mut causes = vec![];
    if name.is_empty() {
        causes.push((
            "FieldValueRequired".to_string(),
            "Required value: name or generateName is required".to_string(),
            "metadata.name".to_string(),
        ));
    } else if let Some(msg) = check_name(&name, def.name_rule) {
        causes.push((
            "FieldValueInvalid".into(),
            format!("Invalid value: \"{name}\": {msg}"),
            "metadata.name".into(),
        ));
    }
    if let Some(labels) = get_path(obj, &["metadata", "labels"]) {
        for (field, msg) in check_labels(labels) {
            causes.push(("FieldValueInvalid".into(), msg, field));
        }
    }
    if let Some(f) = get_path(obj, &["metadata", "finalizers"]) {
        let ok = f
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty())));
        if !ok {
            causes.push((
                "FieldValueInvalid".into(),
                "Invalid value: finalizers must be non-empty strings".into(),
                "metadata.finalizers".into(),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.kind, &def.group, &name, causes))
    }
}

/// Applies `fieldValidation` for custom resources: `Strict` rejects unknown
/// fields, `Warn` (the default) returns them as warnings, `Ignore` drops them silently.
fn field_validation(
    req: &ApiRequest,
    schema: &k8s_merge::Schema,
    def: &ResourceDef,
    obj: &Value,
    apply: bool,
) -> Result<Vec<String>, ApiError> {
    let unknown = if def.custom {
        crd::unknown_fields(def, obj)
    } else {
        patch::prune_builtin(schema, def, &mut obj.clone())
    };
    if unknown.is_empty() {
        return Ok(vec![]);
    }
    match req.q("fieldValidation").unwrap_or("Warn") {
        "Ignore" => Ok(vec![]),
        "Strict" => {
            let msg = if apply {
                format!(
                    "failed to create typed patch object ({}/{}; {}, Kind={}): {}: field not declared in schema",
                    crate::util::namespace_of(obj),
                    name_of(obj),
                    def.api_version(),
                    def.kind,
                    unknown[0]
                )
            } else {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|u| format!("unknown field \"{}\"", u.trim_start_matches('.')))
                    .collect();
                format!("strict decoding error: {}", list.join(", "))
            };
            Err(ApiError::bad_request(msg))
        }
        _ => Ok(unknown
            .iter()
            .map(|u| format!("unknown field \"{}\"", u.trim_start_matches('.')))
            .collect()),
    }
}

/// Adds `Warning` headers (RFC 7234 style, code 299) to a response.
fn with_warnings(
    mut resp: http::Response<crate::util::Body>,
    warnings: &[String],
) -> http::Response<crate::util::Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn check_namespace_exists(state: &State, t: &Target, name: &str) -> Result<(), ApiError> {
    if !t.def.namespaced {
        return Ok(());
    }
    let ns_gr = crate::resources::Gr {
        group: String::new(),
        plural: "namespaces".into(),
    };
    let Some(ns) = state
        .store
        .get(&ns_gr, t.ns(), t.ns())
        .or_else(|| state.store.get(&ns_gr, "", t.ns()))
    else {
        return Err(ApiError::not_found(&crate::status::Subject {
            group: "",
            resource: "namespaces",
            name: t.ns(),
        }));
    };
    if get_path(ns, &["metadata", "deletionTimestamp"]).is_some() {
        return Err(ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
            t.def.plural,
            t.ns()
        )));
    }
    Ok(())
}

/// Fills system metadata and defaults of a new object (shared by create and apply-create).
fn prepare_new(state: &mut State, t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let def = &t.def;
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("selfLink");
        if def.has_generation || def.custom {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    if def.custom
        && def.has_status
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if !def.custom
        && def.has_status
        && !matches!(
            def.kind.as_str(),
            "Pod" | "Namespace" | "CustomResourceDefinition" | "PersistentVolumeClaim" | "Service"
        )
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if def.custom {
        crd::prune_and_default(def, obj);
        crate::crd_validation::validate(def, obj, None)?;
    } else {
        patch::prune_builtin(&state.merge_schema.clone(), def, obj);
        defaults::fold_secret_string_data(def, obj)?;
        defaults::apply(def, obj, None, state);
    }
    if crd::is_crd(def) {
        crd::prepare(obj)?;
    }
    Ok(())
}

/// POST to a collection.
pub fn create(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let mut obj = parse_object(req)?;
    check_type(&t.def, &obj)?;
    check_namespace(t, &mut obj)?;
    if name_of(&obj).is_empty()
        && let Some(gn) = get_str(&obj, &["metadata", "generateName"]).map(str::to_string)
        && !gn.is_empty()
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("name".into(), json!(format!("{gn}{}", random_suffix())));
    }
    validate_meta(&t.def, &obj)?;
    let mut state = shared.state.lock();
    let warnings = field_validation(req, &state.merge_schema.clone(), &t.def, &obj, false)?;
    let name = name_of(&obj).to_string();
    check_namespace_exists(&state, t, &name)?;
    let key = t.def.key();
    if state.store.get(&key, t.ns(), &name).is_some() {
        return Err(ApiError::already_exists(&t.subject(&name)));
    }
    prepare_new(&mut state, t, &mut obj)?;
    let schema = state.merge_schema.clone();
    patch::track_update(&schema, &t.def, None, &mut obj, &manager(req), None)?;
    if req.dry_run() {
        return Ok(with_warnings(object_response(201, &t.def, &obj), &warnings));
    }
    let stored = state.store.put(&key, obj);
    after_write(&mut state, t, &stored);
    Ok(with_warnings(
        object_response(201, &t.def, &stored),
        &warnings,
    ))
}

/// Side effects after a committed write.
fn after_write(state: &mut State, t: &Target, stored: &Value) {
    if crd::is_crd(&t.def) {
        crd::refresh(state);
    }
    if t.def.plural == "namespaces" && t.def.group.is_empty() {
        crate::workloads::namespace_children(&mut state.store, name_of(stored));
    }
}

fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    c
}

fn without_volatile(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    if let Some(m) = c.as_object_mut() {
        m.remove("apiVersion");
    }
    c
}

/// How the candidate object of an update was produced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Update,
    Patch,
    Apply,
}

/// Turns a candidate into the object to store, given the current one.
pub(super) fn finish_update(
    state: &mut State,
    t: &Target,
    old: &Value,
    mut new: Value,
    manager_name: &str,
    source: Source,
) -> Result<Value, ApiError> {
    let def = &t.def;
    let sub = t.sub.as_deref();
    let name = name_of(old).to_string();
    match sub {
        Some("status") => {
            let mut merged = old.clone();
            if let Some(m) = merged.as_object_mut() {
                match new.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
                if let Some(mf) = get_path(&new, &["metadata", "managedFields"]).cloned()
                    && let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    meta.insert("managedFields".into(), mf);
                }
            }
            new = merged;
        }
        Some("finalize") => {
            let mut merged = old.clone();
            if let Some(f) = get_path(&new, &["spec", "finalizers"]).cloned() {
                crate::util::ensure_obj(&mut merged, &["spec"])
                    .map(|s| s.insert("finalizers".into(), f));
            }
            new = merged;
        }
        _ => {
            if def.has_status
                && let Some(m) = new.as_object_mut()
            {
                match old.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
        }
    }
    // Immutable and system-owned metadata.
    if let (Some(nm), Some(om)) = (
        new.get_mut("metadata").and_then(Value::as_object_mut),
        old.get("metadata").and_then(Value::as_object),
    ) {
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match om.get(k) {
                Some(v) => nm.insert(k.into(), v.clone()),
                None => nm.remove(k),
            };
        }
    } else {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    if name_of(&new) != name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    validate_meta(def, &new)?;
    if sub.is_none() {
        if def.custom {
            crd::prune_and_default(def, &mut new);
        } else {
            patch::prune_builtin(&state.merge_schema.clone(), def, &mut new);
            defaults::fold_secret_string_data(def, &mut new)?;
            defaults::apply(def, &mut new, Some(old), state);
        }
        if crd::is_crd(def) {
            crd::prepare(&mut new)?;
        }
        defaults::check_immutable(def, old, &new)?;
    }
    if def.custom {
        crate::crd_validation::validate(def, &new, Some(old))?;
    }
    if (def.has_generation || def.custom) && spec_part(old) != spec_part(&new) {
        let generation = get_path(old, &["metadata", "generation"])
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("generation".into(), json!(generation + 1));
        }
    }
    if source != Source::Apply {
        let schema = state.merge_schema.clone();
        patch::track_update(&schema, def, Some(old), &mut new, manager_name, sub)?;
    }
    let _ = name;
    Ok(new)
}

/// Commits an updated object, handling no-ops and finalizer completion.
pub(super) fn commit(
    state: &mut State,
    t: &Target,
    old: &Value,
    new: Value,
    dry_run: bool,
) -> Value {
    let key = t.def.key();
    if without_volatile(old) == without_volatile(&new) && managed_equal(old, &new) {
        return old.clone();
    }
    let deleting = get_path(&new, &["metadata", "deletionTimestamp"]).is_some();
    let no_finalizers = get_path(&new, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if dry_run {
        return new;
    }
    if deleting && no_finalizers && t.def.plural != "namespaces" {
        let stored = state.store.put(&key, new);
        state
            .store
            .remove(&key, crate::util::namespace_of(&stored), name_of(&stored));
        if crd::is_crd(&t.def) {
            crd::on_crd_deleted(state, &stored);
        }
        return stored;
    }
    let stored = state.store.put(&key, new);
    after_write(state, t, &stored);
    stored
}

fn managed_equal(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut mf = get_path(v, &["metadata", "managedFields"])
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(a) = mf.as_array_mut() {
            for e in a {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        mf
    };
    strip(old) == strip(new)
}

pub(super) fn check_rv(t: &Target, old: &Value, new: &Value) -> Result<(), ApiError> {
    let want = get_str(new, &["metadata", "resourceVersion"]).unwrap_or("");
    let have = get_str(old, &["metadata", "resourceVersion"]).unwrap_or("");
    if !want.is_empty() && want != have {
        let name = name_of(old);
        return Err(ApiError::conflict(
            &t.subject(name),
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    Ok(())
}

/// PUT of an object or its status.
pub fn update(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let name = t.name.clone().unwrap_or_default();
    let mut obj = parse_object(req)?;
    check_type(&t.def, &obj)?;
    check_namespace(t, &mut obj)?;
    let body_name = name_of(&obj).to_string();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let mut state = shared.state.lock();
    let old = state
        .store
        .get(&t.def.key(), t.ns(), &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    check_rv(t, &old, &obj)?;
    let warnings = field_validation(req, &state.merge_schema.clone(), &t.def, &obj, false)?;
    let new = finish_update(&mut state, t, &old, obj, &manager(req), Source::Update)?;
    let stored = commit(&mut state, t, &old, new, req.dry_run());
    Ok(with_warnings(
        object_response(200, &t.def, &stored),
        &warnings,
    ))
}

/// PATCH (json, merge, strategic merge, apply).
pub fn patch(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let name = t.name.clone().unwrap_or_default();
    let ct = req
        .header("content-type")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let kind = match ct.as_str() {
        "application/json-patch+json" => PatchKind::Json,
        "application/merge-patch+json" => PatchKind::Merge,
        "application/strategic-merge-patch+json" => PatchKind::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchKind::Apply,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    let patch_doc = parse_body(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if kind == PatchKind::Strategic && t.def.custom {
        return Err(ApiError::unsupported_media_type(&ct));
    }
    let mut state = shared.state.lock();
    let key = t.def.key();
    let existing = state.store.get(&key, t.ns(), &name).cloned();
    if kind == PatchKind::Apply {
        return apply(&mut state, t, req, existing, patch_doc, &name);
    }
    let old = existing.ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    let presented = present(&t.def, &old);
    let candidate = match kind {
        PatchKind::Json => patch::json_patch(&presented, &patch_doc)?,
        PatchKind::Merge => patch::merge_patch(&presented, &patch_doc),
        _ => patch::strategic_merge(&state.merge_schema.clone(), &t.def, &presented, &patch_doc)?,
    };
    if !candidate.is_object() {
        return Err(ApiError::bad_request("patched object is not a JSON object"));
    }
    check_type(&t.def, &candidate)?;
    let mut candidate = candidate;
    check_namespace(t, &mut candidate)?;
    let patched_name = name_of(&candidate).to_string();
    if patched_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({patched_name}) does not match the name on the URL ({name})"
        )));
    }
    check_rv(t, &old, &candidate)?;
    let warnings = field_validation(req, &state.merge_schema.clone(), &t.def, &candidate, false)?;
    let new = finish_update(&mut state, t, &old, candidate, &manager(req), Source::Patch)?;
    let stored = commit(&mut state, t, &old, new, req.dry_run());
    Ok(with_warnings(
        object_response(200, &t.def, &stored),
        &warnings,
    ))
}

fn apply(
    state: &mut State,
    t: &Target,
    req: &ApiRequest,
    existing: Option<Value>,
    mut applied: Value,
    name: &str,
) -> HandlerResult {
    let mgr = req.q("fieldManager").unwrap_or("").to_string();
    if mgr.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    }
    let force = req.q("force").is_some_and(|f| f == "true");
    if !applied.is_object() {
        return Err(ApiError::bad_request("apply patch must be an object"));
    }
    check_type(&t.def, &applied)?;
    check_namespace(t, &mut applied)?;
    let body_name = name_of(&applied).to_string();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    // The real field manager refuses an apply body that carries managedFields (null is
    // the same as absent there).
    if get_path(&applied, &["metadata", "managedFields"]).is_some_and(|mf| !mf.is_null()) {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    if let Some(m) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("creationTimestamp");
    }
    let warnings = field_validation(req, &state.merge_schema.clone(), &t.def, &applied, true)?;
    let sub = t.sub.as_deref();
    let schema = state.merge_schema.clone();
    let resp = match existing {
        None => {
            if sub.is_some() {
                return Err(ApiError::not_found(&t.subject(name)));
            }
            validate_meta(&t.def, &applied)?;
            check_namespace_exists(state, t, name)?;
            let mut obj = patch::apply(&schema, &t.def, None, &applied, &mgr, force, None)?;
            prepare_new(state, t, &mut obj)?;
            if req.dry_run() {
                return Ok(with_warnings(object_response(201, &t.def, &obj), &warnings));
            }
            let stored = state.store.put(&t.def.key(), obj);
            after_write(state, t, &stored);
            object_response(201, &t.def, &stored)
        }
        Some(old) => {
            check_rv(t, &old, &applied)?;
            let presented = present(&t.def, &old);
            let candidate = patch::apply(
                &schema,
                &t.def,
                Some(&presented),
                &applied,
                &mgr,
                force,
                sub,
            )?;
            let new = finish_update(state, t, &old, candidate, &mgr, Source::Apply)?;
            let stored = commit(state, t, &old, new, req.dry_run());
            object_response(200, &t.def, &stored)
        }
    };
    Ok(with_warnings(resp, &warnings))
}

fn preconditions(t: &Target, obj: &Value, body: &Value) -> Result<(), ApiError> {
    let name = name_of(obj);
    if let Some(uid) = get_str(body, &["preconditions", "uid"])
        && Some(uid) != get_str(obj, &["metadata", "uid"])
    {
        return Err(ApiError::conflict(
            &t.subject(name),
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                get_str(obj, &["metadata", "uid"]).unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = get_str(body, &["preconditions", "resourceVersion"])
        && Some(rv) != get_str(obj, &["metadata", "resourceVersion"])
    {
        return Err(ApiError::conflict(
            &t.subject(name),
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                get_str(obj, &["metadata", "resourceVersion"]).unwrap_or("")
            ),
        ));
    }
    Ok(())
}

/// Deletes one object (state already locked). Returns the object as it is after the call.
pub fn delete_object(
    state: &mut State,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    propagation: Option<&str>,
    dry_run: bool,
) -> Option<Value> {
    let key = def.key();
    let obj = state.store.get(&key, ns, name)?.clone();
    if dry_run {
        return Some(obj);
    }
    let is_ns = def.plural == "namespaces" && def.group.is_empty();
    let mut finalizers: Vec<Value> = get_path(&obj, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if propagation == Some("Foreground") && !finalizers.iter().any(|f| f == "foregroundDeletion") {
        finalizers.push(json!("foregroundDeletion"));
    }
    if propagation == Some("Orphan") && !finalizers.iter().any(|f| f == "orphan") {
        finalizers.push(json!("orphan"));
    }
    if is_ns || !finalizers.is_empty() {
        if get_path(&obj, &["metadata", "deletionTimestamp"]).is_some() {
            return Some(obj);
        }
        let mut new = obj.clone();
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if !finalizers.is_empty() {
                m.insert("finalizers".into(), json!(finalizers));
            }
        }
        if is_ns && let Some(m) = new.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Terminating"}));
        }
        return Some(state.store.put(&key, new));
    }
    let removed = state.store.remove(&key, ns, name)?;
    if crd::is_crd(def) {
        crd::on_crd_deleted(state, &removed);
    }
    Some(removed)
}

/// DELETE of one object.
pub fn delete(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let name = t.name.clone().unwrap_or_default();
    let body = if req.body.is_empty() {
        json!({})
    } else {
        parse_body(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let propagation = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or(req.q("propagationPolicy"))
        .map(str::to_string);
    let dry_run = req.dry_run()
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    let mut state = shared.state.lock();
    let obj = state
        .store
        .get(&t.def.key(), t.ns(), &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    preconditions(t, &obj, &body)?;
    let after = delete_object(
        &mut state,
        &t.def,
        t.ns(),
        &name,
        propagation.as_deref(),
        dry_run,
    )
    .ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    let code = if get_path(&after, &["metadata", "deletionTimestamp"]).is_some() && !dry_run {
        202
    } else {
        200
    };
    let code = if t.def.plural == "namespaces" {
        200
    } else {
        code
    };
    Ok(object_response(code, &t.def, &after))
}

/// DELETE of a collection (with selectors).
pub fn delete_collection(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    if t.def.plural == "namespaces" {
        return Err(ApiError::method_not_allowed("DELETE"));
    }
    let selectors =
        crate::selectors::Selectors::from_query(req.q("labelSelector"), req.q("fieldSelector"))?;
    let mut state = shared.state.lock();
    let targets: Vec<(String, String)> = state
        .store
        .list(&t.def.key(), t.namespace.as_deref())
        .into_iter()
        .filter(|o| super::selected(&selectors, &t.def, o))
        .map(|o| {
            (
                crate::util::namespace_of(o).to_string(),
                name_of(o).to_string(),
            )
        })
        .collect();
    let mut items = vec![];
    for (ns, name) in targets {
        if let Some(o) = delete_object(
            &mut state,
            &t.def,
            &ns,
            &name,
            req.q("propagationPolicy"),
            req.dry_run(),
        ) {
            items.push(present(&t.def, &o));
        }
    }
    let rv = state.store.rv();
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", t.def.kind),
            "apiVersion": t.def.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }),
    ))
}
