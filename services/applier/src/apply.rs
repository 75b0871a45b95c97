//! Server-side apply of staged objects with Flux's labels, per-object annotations, field-manager
//! takeover and recreate-on-immutable, reporting created / configured / unchanged per object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::drift::{self, FieldChange};
use crate::health::{WaitOutcome, WaitTarget, Waiter};
use crate::live::LiveIndex;
use crate::manifests::{Manifest, ObjMeta};
use crate::order::{self, StageKind};

/// Field manager of every apply (`PatchParams::apply(FIELD_MANAGER).force()`).
pub const FIELD_MANAGER: &str = "ferry-applier";
/// Label naming the owning Kustomization.
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Label naming the owning Kustomization's namespace.
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// Per-object apply policy annotation: `Override` (default), `Merge`, `IfNotPresent`, `Ignore`.
pub const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// Per-object recreate-on-immutable-change annotation (`Enabled`).
pub const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";
/// Per-object prune annotation (`Disabled` keeps the object when it leaves the source).
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// Per-object reconcile annotation (`Disabled` stops applying and pruning the object).
pub const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";

/// Managers whose field ownership moves to [`FIELD_MANAGER`] before every apply (prefix match,
/// operation), as Flux's `ApplyCleanupOptions.FieldManagers`: `kubectl` client-side apply and
/// edits, `before-first-apply`, and Flux's own `kustomize-controller` (so a cluster moves from
/// Flux to Ferry without leaving fields owned by Flux behind), and `ferry bootstrap`'s `ferry`
/// (so the Kustomization that manages Ferry itself owns every field the install wrote).
pub const TAKEOVER_MANAGERS: &[(&str, &str)] = &[
    ("ferry", "Apply"),
    ("kubectl", "Apply"),
    ("kubectl", "Update"),
    ("before-first-apply", "Update"),
    ("kustomize-controller", "Update"),
    ("kustomize-controller", "Apply"),
];

/// Annotations stripped before apply (left over by kubectl and older Flux versions).
pub const CLEANUP_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];

/// `true` when an annotation value means "disabled" (compared loosely, as Flux does).
pub fn is_disabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// `true` when an annotation value means "enabled" (compared loosely, as Flux does).
pub fn is_enabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

/// The per-object apply policy (`kustomize.toolkit.fluxcd.io/ssa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SsaPolicy {
    /// Take over every field (managed-fields cleanup, then forced apply).
    #[default]
    Override,
    /// Forced apply, but keep fields other managers added (no managed-fields cleanup).
    Merge,
    /// Create the object when it is missing, never touch it afterwards.
    IfNotPresent,
    /// Never apply the object.
    Ignore,
}

impl SsaPolicy {
    /// The policy from the annotation value; unknown values mean `Override`, as in Flux.
    pub fn from_annotation(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("merge") => Self::Merge,
            Some("ifnotpresent") => Self::IfNotPresent,
            Some("ignore") => Self::Ignore,
            _ => Self::Override,
        }
    }
}

/// What an apply did to one object (Flux's change-set actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and changed.
    Configured,
    /// The object existed and the apply changed nothing.
    Unchanged,
    /// The object was left alone (`ssa: Ignore`, `IfNotPresent` on an existing object,
    /// `reconcile: disabled`).
    Skipped,
}

impl Action {
    /// Flux's word for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
        }
    }
}

/// The result of applying one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSetEntry {
    /// The object (namespace as applied).
    pub meta: ObjMeta,
    /// What happened.
    pub action: Action,
    /// The object was deleted and created again because an immutable field changed.
    pub recreated: bool,
    /// Fields the apply changed on an existing object (live before vs after).
    pub changes: Vec<FieldChange>,
}

/// The results of an apply, in apply order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    /// One entry per object.
    pub entries: Vec<ChangeSetEntry>,
}

impl ChangeSet {
    /// Number of entries with this action.
    pub fn count(&self, action: Action) -> usize {
        self.entries.iter().filter(|e| e.action == action).count()
    }

    /// Every object of the change set, skipped ones included (Flux records them in the
    /// inventory too), for the inventory.
    pub fn applied(&self) -> impl Iterator<Item = &ObjMeta> {
        self.entries.iter().map(|e| &e.meta)
    }

    /// Flux's one-line-per-object summary, e.g. `Deployment/app/web configured`, for changed
    /// objects only.
    pub fn summary(&self) -> String {
        self.entries
            .iter()
            .filter(|e| matches!(e.action, Action::Created | Action::Configured))
            .map(|e| format!("{} {}", e.meta, e.action.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The Kustomization that owns the applied objects (written as labels on each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

impl Owner {
    /// Whether an object's owner labels name this Kustomization.
    pub fn owns(&self, object: &Value) -> bool {
        crate::manifests::label(object, OWNER_NAME_LABEL) == Some(self.name.as_str())
            && crate::manifests::label(object, OWNER_NAMESPACE_LABEL)
                == Some(self.namespace.as_str())
    }
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Owner labels to write.
    pub owner: Owner,
    /// Recreate every object whose immutable fields changed (`spec.force`).
    pub force: bool,
    /// Namespace for namespaced objects that have none, and override for all (`spec.targetNamespace`).
    pub target_namespace: Option<String>,
    /// Objects applied at once within a stage.
    pub concurrency: usize,
    /// When waiting for CRDs, namespaces and recreated objects gives up.
    pub deadline: Instant,
}

/// Why an object could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The cluster does not serve the kind (CRD missing or not established yet).
    #[error("{object}: no matches for kind \"{kind}\" in version \"{api_version}\": {message}")]
    UnknownKind {
        /// The object.
        object: String,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
        /// The discovery answer.
        message: String,
    },
    /// A namespaced object has no namespace and the Kustomization sets no targetNamespace.
    #[error(
        "{object}: namespace not specified for a namespaced kind (set metadata.namespace or spec.targetNamespace)"
    )]
    NamespaceRequired {
        /// The object.
        object: String,
    },
    /// An immutable field changed and neither `spec.force` nor the force annotation is set.
    #[error(
        "{object}: immutable field(s) {fields} changed; set spec.force or the annotation kustomize.toolkit.fluxcd.io/force: Enabled to recreate it: {message}"
    )]
    Immutable {
        /// The object.
        object: String,
        /// The fields the server named, comma-separated.
        fields: String,
        /// The server's message.
        message: String,
    },
    /// The API server refused the request.
    #[error("{object} {operation} failed: {message}")]
    Api {
        /// The object.
        object: String,
        /// `apply`, `get`, `delete`, `dry-run`, ...
        operation: &'static str,
        /// HTTP code, 0 when the request did not get an answer.
        code: u16,
        /// The server's message.
        message: String,
    },
    /// Waiting for CRDs or namespaces, or for a recreated object's deletion, timed out.
    #[error("{object}: {message}")]
    Wait {
        /// The object.
        object: String,
        /// What did not happen in time.
        message: String,
    },
}

impl ApplyError {
    pub(crate) fn api(object: &ObjMeta, operation: &'static str, err: kube::Error) -> Self {
        let (code, message) = match &err {
            kube::Error::Api(status) => (status.code, status.message.clone()),
            other => (0, other.to_string()),
        };
        Self::Api {
            object: object.to_string(),
            operation,
            code,
            message,
        }
    }
}

/// An apply that stopped at a stage with failures: what was applied before, and the errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ApplyFailure {
    /// Objects applied successfully (earlier stages and the successes of the failing stage).
    pub applied: ChangeSet,
    /// One error per failed object.
    pub errors: Vec<ApplyError>,
}

/// A resolved kind: the API resource and whether it is namespaced.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// URL parts of the kind.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

impl Resolved {
    /// A dynamic API for the kind, in `namespace` when the kind is namespaced.
    pub fn api(&self, client: Client, namespace: &str) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client, namespace, &self.resource)
        } else {
            Api::all_with(client, &self.resource)
        }
    }
}

/// Group, version and kind.
type KindKey = (String, String, String);

/// Cache of resolved kinds, shared by the appliers of one cluster. Only hits are kept, so a
/// kind whose CRD was just established is found by asking discovery again.
#[derive(Clone, Default)]
pub struct KindCache {
    inner: Arc<RwLock<HashMap<KindKey, Resolved>>>,
}

/// Applies objects to one cluster as one identity.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    kinds: KindCache,
    field_manager: String,
}

impl Applier {
    /// An applier using `client`, with its own kind cache.
    pub fn new(client: Client) -> Self {
        Self::with_cache(client, KindCache::default())
    }

    /// An applier sharing a kind cache (same cluster, e.g. an impersonating client).
    pub fn with_cache(client: Client, kinds: KindCache) -> Self {
        Self {
            client,
            kinds,
            field_manager: FIELD_MANAGER.to_owned(),
        }
    }

    /// The client it applies with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The field manager it applies as.
    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    /// Maps group, version and kind to the API resource, asking discovery on a cache miss.
    pub async fn resolve(&self, meta: &ObjMeta) -> Result<Resolved, ApplyError> {
        let key = (meta.group.clone(), meta.version.clone(), meta.kind.clone());
        if let Some(hit) = self.kinds.inner.read().await.get(&key) {
            return Ok(hit.clone());
        }
        let gvk = GroupVersionKind::gvk(&meta.group, &meta.version, &meta.kind);
        let (resource, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| ApplyError::UnknownKind {
                object: meta.to_string(),
                kind: meta.kind.clone(),
                api_version: meta.api_version(),
                message: e.to_string(),
            })?;
        let resolved = Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.kinds.inner.write().await.insert(key, resolved.clone());
        Ok(resolved)
    }

    /// A dynamic API for the object's kind and namespace.
    pub fn api_for(&self, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
        resolved.api(self.client.clone(), namespace)
    }

    /// Fixes the namespace of an object for its scope and writes the owner labels.
    pub async fn prepare(
        &self,
        mut manifest: Manifest,
        opts: &ApplyOptions,
    ) -> Result<(Manifest, Resolved), ApplyError> {
        let resolved = self.resolve(&manifest.meta).await?;
        if resolved.namespaced {
            if let Some(ns) = &opts.target_namespace {
                manifest.set_namespace(ns);
            } else if manifest.meta.namespace.is_empty() {
                return Err(ApplyError::NamespaceRequired {
                    object: manifest.meta.to_string(),
                });
            }
        } else if !manifest.meta.namespace.is_empty() {
            manifest.meta.namespace.clear();
            if let Some(metadata) = manifest
                .object
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
            {
                metadata.remove("namespace");
            }
        }
        manifest.set_label(OWNER_NAME_LABEL, &opts.owner.name);
        manifest.set_label(OWNER_NAMESPACE_LABEL, &opts.owner.namespace);
        Ok((manifest, resolved))
    }

    /// Applies the objects stage by stage (Flux's order), concurrently within a stage, waiting
    /// for CRDs to be established and namespaces to be active between stages. Stops after the
    /// first stage with a failure.
    pub async fn apply_all(
        &self,
        objects: Vec<Manifest>,
        opts: &ApplyOptions,
    ) -> Result<ChangeSet, ApplyFailure> {
        let mut changes = ChangeSet::default();
        for stage in order::stages(objects) {
            let live = LiveIndex::load(self, &stage.objects, opts).await;
            let live = &live;
            let results: Vec<(usize, Result<ChangeSetEntry, ApplyError>)> =
                futures::stream::iter(stage.objects.into_iter().enumerate())
                    .map(|(i, m)| async move { (i, self.apply_one(m, opts, live).await) })
                    .buffer_unordered(opts.concurrency.max(1))
                    .collect()
                    .await;
            let mut results = results;
            results.sort_by_key(|(i, _)| *i);
            let mut errors = Vec::new();
            let mut stage_entries = Vec::new();
            for (_, r) in results {
                match r {
                    Ok(entry) => stage_entries.push(entry),
                    Err(e) => errors.push(e),
                }
            }
            if errors.is_empty() && stage.kind.waits() {
                errors.extend(self.wait_stage(stage.kind, &stage_entries, opts).await);
            }
            changes.entries.extend(stage_entries);
            if !errors.is_empty() {
                return Err(ApplyFailure {
                    applied: changes,
                    errors,
                });
            }
        }
        Ok(changes)
    }

    async fn wait_stage(
        &self,
        kind: StageKind,
        entries: &[ChangeSetEntry],
        opts: &ApplyOptions,
    ) -> Vec<ApplyError> {
        let mut targets = Vec::new();
        for e in entries
            .iter()
            .filter(|e| e.action != Action::Skipped)
            .filter(|e| {
                matches!(
                    e.meta.kind.as_str(),
                    "CustomResourceDefinition" | "Namespace"
                )
            })
        {
            match self.resolve(&e.meta).await {
                Ok(resolved) => targets.push(WaitTarget {
                    meta: e.meta.clone(),
                    resolved,
                }),
                Err(err) => return vec![err],
            }
        }
        if targets.is_empty() {
            return Vec::new();
        }
        let waiter = Waiter::new(self.client.clone());
        let outcome = waiter
            .wait(
                targets,
                opts.deadline,
                tokio_util::sync::CancellationToken::new(),
            )
            .await;
        match outcome {
            WaitOutcome::AllCurrent => Vec::new(),
            WaitOutcome::Failed(list) | WaitOutcome::TimedOut(list) => list
                .into_iter()
                .map(|(meta, message)| ApplyError::Wait {
                    object: meta.to_string(),
                    message: format!("not ready after the {kind:?} stage: {message}"),
                })
                .collect(),
            WaitOutcome::Cancelled => Vec::new(),
        }
    }

    /// Applies one object: owner labels, policy annotations, managed-fields takeover, forced
    /// server-side apply, and recreate on an immutable-field error when allowed. The live object
    /// comes from `live` when the stage listed it, else from a GET.
    pub async fn apply_one(
        &self,
        manifest: Manifest,
        opts: &ApplyOptions,
        live: &LiveIndex,
    ) -> Result<ChangeSetEntry, ApplyError> {
        let policy = SsaPolicy::from_annotation(manifest.annotation(SSA_ANNOTATION));
        let skip = |meta: ObjMeta| ChangeSetEntry {
            meta,
            action: Action::Skipped,
            recreated: false,
            changes: Vec::new(),
        };
        if policy == SsaPolicy::Ignore || is_disabled(manifest.annotation(RECONCILE_ANNOTATION)) {
            return Ok(skip(manifest.meta));
        }
        let force = opts.force || is_enabled(manifest.annotation(FORCE_ANNOTATION));
        let (manifest, resolved) = self.prepare(manifest, opts).await?;
        let meta = manifest.meta.clone();
        let api = self.api_for(&resolved, &meta.namespace);
        let mut live = match live.lookup(&resolved, &meta.namespace, &meta.name) {
            Some(obj) => Some(obj),
            None => api
                .get_opt(&meta.name)
                .await
                .map_err(|e| ApplyError::api(&meta, "get", e))?,
        };
        if live.is_some() && policy == SsaPolicy::IfNotPresent {
            return Ok(skip(meta));
        }
        // The live object as JSON, converted once for the takeover, no-op and diff checks.
        let as_json = |obj: &DynamicObject| {
            serde_json::to_value(obj).map_err(|e| ApplyError::Api {
                object: meta.to_string(),
                operation: "get",
                code: 0,
                message: e.to_string(),
            })
        };
        let mut live_json = live.as_ref().map(as_json).transpose()?;
        let mut cleaned = false;
        if let Some(value) = &live_json
            && policy == SsaPolicy::Override
            && let Some(patch) = takeover_patch(value, &self.field_manager)
        {
            let patched = api
                .patch(
                    &meta.name,
                    &PatchParams::default(),
                    &Patch::Json::<()>(patch),
                )
                .await
                .map_err(|e| ApplyError::api(&meta, "managed fields takeover", e))?;
            live_json = Some(as_json(&patched)?);
            live = Some(patched);
            cleaned = true;
        }
        if !cleaned
            && let Some(value) = &live_json
            && crate::noop::apply_is_noop(value, &manifest.object, &self.field_manager)
        {
            return Ok(ChangeSetEntry {
                meta,
                action: Action::Unchanged,
                recreated: false,
                changes: Vec::new(),
            });
        }
        let params = PatchParams::apply(&self.field_manager).force();
        let applied = match api
            .patch(&meta.name, &params, &Patch::Apply(&manifest.object))
            .await
        {
            Ok(obj) => obj,
            Err(err) if is_immutable_error(&err) => {
                let (fields, message) = immutable_details(&err);
                if !force {
                    return Err(ApplyError::Immutable {
                        object: meta.to_string(),
                        fields,
                        message,
                    });
                }
                self.recreate(&api, &meta, &manifest, opts).await?;
                return Ok(ChangeSetEntry {
                    meta,
                    action: Action::Created,
                    recreated: true,
                    changes: Vec::new(),
                });
            }
            Err(err) => return Err(ApplyError::api(&meta, "apply", err)),
        };
        let (Some(before), Some(before_json)) = (live, live_json) else {
            return Ok(ChangeSetEntry {
                meta,
                action: Action::Created,
                recreated: false,
                changes: Vec::new(),
            });
        };
        let unchanged = !cleaned
            && before.metadata.resource_version.is_some()
            && before.metadata.resource_version == applied.metadata.resource_version;
        let changes = match serde_json::to_value(&applied) {
            Ok(after) if !unchanged => drift::diff(&before_json, &after),
            _ => Vec::new(),
        };
        // A status write by a controller between the read and the apply moves the
        // resourceVersion without a change of ours: only a changed field makes it Configured.
        Ok(ChangeSetEntry {
            meta,
            action: if unchanged || (!cleaned && changes.is_empty()) {
                Action::Unchanged
            } else {
                Action::Configured
            },
            recreated: false,
            changes,
        })
    }

    async fn recreate(
        &self,
        api: &Api<DynamicObject>,
        meta: &ObjMeta,
        manifest: &Manifest,
        opts: &ApplyOptions,
    ) -> Result<(), ApplyError> {
        let old_uid = api
            .get_opt(&meta.name)
            .await
            .map_err(|e| ApplyError::api(meta, "get", e))?
            .and_then(|o| o.metadata.uid);
        match api.delete(&meta.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(ApplyError::api(meta, "delete", e)),
        }
        loop {
            let current = api
                .get_opt(&meta.name)
                .await
                .map_err(|e| ApplyError::api(meta, "get", e))?;
            match current {
                None => break,
                Some(o) if o.metadata.uid != old_uid => break,
                Some(_) => {}
            }
            if Instant::now() >= opts.deadline {
                return Err(ApplyError::Wait {
                    object: meta.to_string(),
                    message: "timed out waiting for the deletion before recreating it".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let params = PatchParams::apply(&self.field_manager).force();
        api.patch(&meta.name, &params, &Patch::Apply(&manifest.object))
            .await
            .map_err(|e| ApplyError::api(meta, "apply", e))?;
        Ok(())
    }

    /// Server-side dry-run apply of a prepared object; `None` when it does not exist yet.
    pub async fn dry_run(
        &self,
        manifest: &Manifest,
        resolved: &Resolved,
    ) -> Result<Option<(Value, Value)>, ApplyError> {
        let meta = &manifest.meta;
        let api = self.api_for(resolved, &meta.namespace);
        let Some(live) = api
            .get_opt(&meta.name)
            .await
            .map_err(|e| ApplyError::api(meta, "get", e))?
        else {
            return Ok(None);
        };
        let params = PatchParams::apply(&self.field_manager).force().dry_run();
        let result = api
            .patch(&meta.name, &params, &Patch::Apply(&manifest.object))
            .await
            .map_err(|e| ApplyError::api(meta, "dry-run", e))?;
        let to_value = |o: &DynamicObject| {
            serde_json::to_value(o).map_err(|e| ApplyError::Api {
                object: meta.to_string(),
                operation: "dry-run",
                code: 0,
                message: e.to_string(),
            })
        };
        Ok(Some((to_value(&live)?, to_value(&result)?)))
    }
}

/// The JSON patch that moves field ownership of [`TAKEOVER_MANAGERS`] to `manager` (Flux's
/// `patchReplaceFieldsManagers`, merging into an existing entry of `manager` so the list has
/// no duplicate) and strips [`CLEANUP_ANNOTATIONS`]; `None` when there is nothing to do.
pub fn takeover_patch(live: &Value, manager: &str) -> Option<json_patch::Patch> {
    let mut ops: Vec<Value> = Vec::new();
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matches = |e: &Value| {
        let name = e.get("manager").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operation").and_then(Value::as_str).unwrap_or("");
        let sub = e.get("subresource").and_then(Value::as_str).unwrap_or("");
        sub.is_empty()
            && name != manager
            && TAKEOVER_MANAGERS
                .iter()
                .any(|(prefix, operation)| name.starts_with(prefix) && op == *operation)
    };
    if entries.iter().any(matches) {
        let mut out: Vec<Value> = Vec::with_capacity(entries.len());
        let mut ours: Option<usize> = None;
        let mut taken = Vec::new();
        for e in entries {
            if matches(&e) {
                taken.push(e);
                continue;
            }
            let is_ours = e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
                && e.get("subresource")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty();
            if is_ours {
                ours = Some(out.len());
            }
            out.push(e);
        }
        let idx = match ours {
            Some(i) => i,
            None => {
                let mut first = taken.first().cloned().unwrap_or_else(|| json!({}));
                if let Some(m) = first.as_object_mut() {
                    m.insert("manager".into(), json!(manager));
                    m.insert("operation".into(), json!("Apply"));
                    m.insert("fieldsV1".into(), json!({}));
                }
                out.push(first);
                out.len() - 1
            }
        };
        for t in &taken {
            if let (Some(target), Some(fields)) = (out.get_mut(idx), t.get("fieldsV1")) {
                let slot = target
                    .as_object_mut()
                    .map(|m| m.entry("fieldsV1").or_insert_with(|| json!({})));
                if let Some(slot) = slot {
                    merge_fields(slot, fields);
                }
            }
        }
        ops.push(json!({"op": "replace", "path": "/metadata/managedFields", "value": out}));
    }
    if let Some(annotations) = live
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for key in CLEANUP_ANNOTATIONS {
            if annotations.contains_key(*key) {
                let path = format!(
                    "/metadata/annotations/{}",
                    key.replace('~', "~0").replace('/', "~1")
                );
                ops.push(json!({"op": "remove", "path": path}));
            }
        }
    }
    if ops.is_empty() {
        return None;
    }
    serde_json::from_value(Value::Array(ops)).ok()
}

/// Union of two `fieldsV1` sets (nested maps whose leaves are `{}`).
fn merge_fields(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => merge_fields(existing, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, from) => {
            if slot.is_null() {
                *slot = from.clone();
            }
        }
    }
}

const IMMUTABLE_MARKERS: &[&str] = &[
    "field is immutable",
    "is immutable",
    "may not be changed",
    "updates to statefulset spec for fields other than",
    "cannot change",
];

/// Whether the server refused the apply because an immutable field changed (422 Invalid).
pub fn is_immutable_error(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(s) => {
            s.code == 422 && {
                let m = s.message.to_ascii_lowercase();
                IMMUTABLE_MARKERS.iter().any(|p| m.contains(p))
            }
        }
        _ => false,
    }
}

fn immutable_details(err: &kube::Error) -> (String, String) {
    let kube::Error::Api(s) = err else {
        return (String::new(), err.to_string());
    };
    let mut fields: Vec<String> = s
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .filter(|c| !c.field.is_empty())
                .map(|c| c.field.clone())
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        fields = immutable_fields_from_message(&s.message);
    }
    fields.dedup();
    let fields = if fields.is_empty() {
        "(unnamed)".to_owned()
    } else {
        fields.join(", ")
    };
    (fields, s.message.clone())
}

/// Field paths named in an `Invalid` message: `... is invalid: spec.selector: Invalid value: ...`.
pub fn immutable_fields_from_message(message: &str) -> Vec<String> {
    let body = message
        .split_once(" is invalid: ")
        .map(|(_, b)| b)
        .unwrap_or(message);
    body.split(", ")
        .filter_map(|part| {
            let (field, rest) = part.split_once(": ")?;
            let field = field.trim().trim_start_matches('[');
            let looks_like_path = !field.is_empty()
                && !field.contains(' ')
                && field.chars().next().is_some_and(|c| c.is_ascii_lowercase());
            (looks_like_path
                && (rest.to_ascii_lowercase().contains("immutable") || rest.contains("Forbidden")))
            .then(|| field.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssa_annotation_values_are_compared_loosely() {
        assert_eq!(SsaPolicy::from_annotation(None), SsaPolicy::Override);
        assert_eq!(SsaPolicy::from_annotation(Some("merge")), SsaPolicy::Merge);
        assert_eq!(
            SsaPolicy::from_annotation(Some("IfNotPresent")),
            SsaPolicy::IfNotPresent
        );
        assert_eq!(
            SsaPolicy::from_annotation(Some("Ignore")),
            SsaPolicy::Ignore
        );
        assert_eq!(
            SsaPolicy::from_annotation(Some("bogus")),
            SsaPolicy::Override
        );
        assert!(is_disabled(Some("disabled")) && is_disabled(Some("Disabled")));
        assert!(is_enabled(Some("enabled")) && !is_enabled(None));
    }

    #[test]
    fn takeover_moves_kustomize_controller_and_kubectl_fields_to_our_manager() {
        let live = json!({
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "x"},
                "managedFields": [
                    {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
                    {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:c": {}}}},
                    {"manager": "kustomize-controller", "operation": "Update", "subresource": "status",
                     "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
                ]
            }
        });
        let patch = takeover_patch(&live, FIELD_MANAGER).expect("something to take over");
        let mut doc = live.clone();
        json_patch::patch(&mut doc, &patch).expect("patch applies");
        let entries = doc["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let managers: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(
            managers,
            vec![
                "kube-controller-manager",
                "kustomize-controller",
                FIELD_MANAGER
            ]
        );
        let ours = &entries[2];
        assert_eq!(ours["operation"], "Apply");
        assert_eq!(ours["fieldsV1"], json!({"f:data": {"f:a": {}, "f:b": {}}}));
        assert!(
            doc["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        assert_eq!(doc["metadata"]["annotations"]["keep"], "x");
    }

    #[test]
    fn takeover_merges_into_an_existing_entry_of_ours() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "before-first-apply", "operation": "Update", "fieldsV1": {"f:data": {"f:z": {}}}}
        ]}});
        let patch = takeover_patch(&live, FIELD_MANAGER).expect("patch");
        let mut doc = live.clone();
        json_patch::patch(&mut doc, &patch).expect("applies");
        let entries = doc["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:z": {}}})
        );
    }

    #[test]
    fn nothing_to_take_over_gives_no_patch() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {}},
            {"manager": "helm", "operation": "Update", "fieldsV1": {}}
        ]}});
        assert!(takeover_patch(&live, FIELD_MANAGER).is_none());
    }

    #[test]
    fn immutable_field_is_named_from_the_servers_message() {
        let msg = "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}}: field is immutable";
        assert_eq!(immutable_fields_from_message(msg), vec!["spec.selector"]);
    }

    #[test]
    fn owner_labels_decide_ownership() {
        let owner = Owner {
            name: "app".into(),
            namespace: "flux-system".into(),
        };
        let mine = json!({"metadata": {"labels": {OWNER_NAME_LABEL: "app", OWNER_NAMESPACE_LABEL: "flux-system"}}});
        let other = json!({"metadata": {"labels": {OWNER_NAME_LABEL: "other", OWNER_NAMESPACE_LABEL: "flux-system"}}});
        assert!(owner.owns(&mine));
        assert!(!owner.owns(&other));
        assert!(!owner.owns(&json!({})));
    }
}
