//! Server-side apply field management, with the semantics of Kubernetes' structured-merge-diff.
//!
//! [`apply()`] merges an applied configuration into the live object, records the applier's fields,
//! reports conflicts with other managers (or takes the fields over with `force`), and prunes
//! fields the applier stopped applying. [`update()`] records the fields a non-apply write
//! (create, update, patch) changed. Both return the new object and its `managedFields`.

pub mod fieldset;
pub mod fieldsv1;

mod apply;
mod managers;
mod typed;
mod update;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use apply::{BEFORE_FIRST_APPLY, apply, apply_at, apply_with};
pub use fieldset::{FieldSet, Path, PathElement};
pub use update::{update, update_at, update_with};

use crate::schema::TypeRef;

/// The manager used by the apiserver for `kubectl apply` (client-side).
pub const KUBECTL_CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";

/// Optional parameters of [`apply_with`] and [`update_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    /// Timestamp (RFC 3339) for the writer's entry; the current time when `None`.
    pub time: Option<&'a str>,
    /// The subresource written through (`"status"`, `"scale"`); empty for the main resource.
    /// Part of the manager's identity and recorded in its entry.
    pub subresource: &'a str,
    /// Fields this write neither takes nor releases ownership of, nor conflicts on, such as the
    /// fields the apiserver resets for the endpoint (`status` on main-resource writes of kinds
    /// with a status subresource, everything but `status` on `/status` writes; see
    /// [`reset_fields`]). Only ownership is affected: resetting the values themselves is the
    /// caller's job.
    pub ignored: Option<&'a FieldSet>,
}

impl WriteOptions<'_> {
    pub(crate) fn now(&self) -> String {
        self.time
            .map(str::to_string)
            .unwrap_or_else(managers::now_rfc3339)
    }
}

/// The operation recorded in a managed fields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    /// `"Apply"` or `"Update"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

fn fields_v1_type() -> String {
    "FieldsV1".to_string()
}

/// One `metadata.managedFields` entry (`meta/v1 ManagedFieldsEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    /// The workflow managing the fields.
    pub manager: String,
    /// The operation that made the fields managed.
    pub operation: Operation,
    /// The API version of the object the fields were recorded against.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// When the entry last changed (RFC 3339, seconds precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Always `"FieldsV1"`.
    #[serde(default = "fields_v1_type")]
    pub fields_type: String,
    /// The field set, FieldsV1-encoded (see [`fieldsv1`]).
    #[serde(rename = "fieldsV1", default, skip_serializing_if = "Value::is_null")]
    pub fields_v1: Value,
    /// The subresource written through (`status`, `scale`), empty for the main resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// A field owned by another manager that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// That manager's operation.
    pub operation: Operation,
    /// The API version of that manager's entry.
    pub api_version: String,
    /// The conflicting field, e.g. `.spec.replicas`.
    pub field_path: String,
}

impl Conflict {
    /// The manager as the apiserver prints it: `"name"` for appliers, `"name" using apps/v1` for
    /// updaters.
    pub fn manager_display(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using {}", self.manager, self.api_version),
        }
    }

    /// The message of this conflict's `StatusCause` (`type: FieldManagerConflict`, `field` =
    /// [`Conflict::field_path`]): `conflict with "name" using apps/v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_display())
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conflict with {}: {}",
            self.manager_display(),
            self.field_path
        )
    }
}

/// The apiserver's message for an apply conflict error (HTTP 409, reason `Conflict`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: {only}");
    }
    let mut managers: Vec<String> = conflicts.iter().map(Conflict::manager_display).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in &managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| &c.manager_display() == m) {
            lines.push(format!("- {}", c.field_path));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Errors of [`apply()`] and [`update()`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (and `force` was not set).
    #[error("{}", conflict_message(conflicts))]
    Conflict {
        /// The conflicting fields, by manager.
        conflicts: Vec<Conflict>,
    },
    /// The object or configuration is malformed (not an object, duplicate or missing list keys).
    #[error("invalid object: {0}")]
    Invalid(String),
    /// A managed fields entry could not be decoded.
    #[error("invalid managedFields: {0}")]
    InvalidManagedFields(String),
}

/// The result of [`apply()`] or [`update()`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOutcome {
    /// The new object, with `metadata.managedFields` set to [`ApplyOutcome::managed_fields`]
    /// (removed when empty).
    pub object: Value,
    /// The new managed fields, sorted as the apiserver sorts them.
    pub managed_fields: Vec<ManagedFieldsEntry>,
    /// Whether the object (ignoring managed fields) differs from the live object.
    pub changed: bool,
}

/// Reads `metadata.managedFields` of an object (empty when absent).
pub fn managed_fields_of(object: &Value) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| ApplyError::InvalidManagedFields(e.to_string())),
    }
}

/// Sets (or, when `entries` is empty, removes) `metadata.managedFields` of an object.
pub fn set_managed_fields(object: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(root) = object else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Value::Object(meta) = meta {
        let encoded = serde_json::to_value(entries).unwrap_or(Value::Null);
        meta.insert("managedFields".to_string(), encoded);
    }
}

/// The default field manager for a request without `fieldManager`: the user agent up to its
/// first `/`, at most 128 characters (as the apiserver derives it).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    prefix.chars().take(128).collect()
}

/// The fields the apiserver resets on a write through `subresource` (`""` for the main resource)
/// of a kind with a `status` field, for [`WriteOptions::ignored`]: `status` for the main
/// resource; `spec` and `metadata.labels` for `status` (as the workload strategies do). Empty
/// for other subresources or kinds without `status`.
pub fn reset_fields(ty: TypeRef<'_>, subresource: &str) -> FieldSet {
    let mut set = FieldSet::new();
    if !ty.has_field("status") {
        return set;
    }
    let f = |s: &str| PathElement::Field(s.to_string());
    match subresource {
        "" => set.insert(&[f("status")]),
        "status" => {
            if ty.has_field("spec") {
                set.insert(&[f("spec")]);
            }
            set.insert(&[f("metadata"), f("labels")]);
        }
        _ => {}
    }
    set
}

/// The set of fields `object` specifies under `ty` (what an apply of `object` would own), before
/// the apiserver's exclusion of identity and bookkeeping metadata.
pub fn field_set_of(object: &Value, ty: TypeRef<'_>) -> Result<FieldSet, ApplyError> {
    typed::to_field_set(object, ty, true).map_err(ApplyError::Invalid)
}
