//! Kubernetes merge semantics (strategic merge patch, JSON merge patch, server-side apply) as pure functions over `serde_json::Value`.
//!
//! - [`schema`]: per-field type information for the built-in kinds (generated from the
//!   Kubernetes OpenAPI spec) and for registered CRD schemas.
//! - [`smp`]: strategic merge patch, as `kubectl patch --type strategic` / kustomize.
//! - [`merge_patch`]: RFC 7386 JSON merge patch.
//! - [`ssa`]: server-side apply field management (managedFields, conflicts, pruning).
//!
//! ```
//! use k8s_merge::{Schema, smp, ssa};
//! use serde_json::json;
//!
//! let ty = Schema::builtin().lookup("apps/v1", "Deployment").expect("built-in kind");
//! let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
//!     "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}});
//!
//! // Strategic merge patch: containers merge by name.
//! let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
//! let patched = smp::apply(&live, &patch, ty)?;
//! assert_eq!(patched["spec"]["template"]["spec"]["containers"][0]["image"], "app:2");
//!
//! // Server-side apply: the new object plus its managedFields.
//! let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
//!     "spec": {"replicas": 2}});
//! let out = ssa::apply(Some(&patched), &applied, "ferry", false, &[], ty)?;
//! assert_eq!(out.object["spec"]["replicas"], 2);
//! assert_eq!(out.managed_fields[0].fields_v1, json!({"f:spec": {"f:replicas": {}}}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod generator;
pub mod merge_patch;
pub mod schema;
pub mod smp;
pub mod ssa;

pub use schema::{ListType, MapType, PatchStrategy, Schema, SchemaError, TypeKind, TypeRef};
