//! The Kustomization reconcile: a pipeline of named steps (dependencies, render, build, apply,
//! prune, health) with one exit path that writes status, in Flux's kustomize-controller shape.

mod cluster;
mod context;
mod dependencies;
mod error;
mod history;
mod inflight;
mod notify;
mod render;
mod status;

pub use cluster::{KUBECONFIG_KEYS, applier_for, service_account_user};
pub use context::Context;
pub use dependencies::{not_ready_reason, same_revision, source_resource};
pub use error::ReconcileError;
pub use inflight::{InFlight, Running};
pub use notify::{REPORTING_CONTROLLER, apply_result, event_note};
pub use render::{MemoryRenders, ObjectStoreRenders, RenderError, RenderSource, Rendered};
pub use status::{
    DRIFT_CORRECTED, DRIFT_DETECTED, DRIFTED, Progress, STATUS_MANAGER, format_duration,
    next_status, progress_status,
};

use std::time::Duration;

use flux_api::kustomize::{Kustomization, ResourceInventory};
use flux_api::meta::FINALIZER;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::apply::{Action, ApplyOptions, Owner};
use crate::drift::{self, Drift, DriftMode};
use crate::expr::HealthRules;
use crate::health::{WaitOutcome, WaitTarget, Waiter};
use crate::manifests::{self, ObjMeta};
use crate::{inventory, journey, prune};

/// What a reconcile decided, for the work loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; reconcile again after this long (the interval).
    Requeue(Duration),
    /// Suspended or deleted; nothing to do until the object changes.
    Idle,
}

/// The owner labels of a Kustomization's objects.
pub fn owner_of(ks: &Kustomization) -> Owner {
    Owner {
        name: ks.name_any(),
        namespace: ks.namespace().unwrap_or_default(),
    }
}

/// Reconciles one Kustomization, health wait included; ends with status written, whatever
/// happened. On error the caller requeues after [`ReconcileError::requeue_after`]. Cancelling
/// `cancel` stops a health wait (status: `HealthCheckCanceled`). A service that must not hold a
/// worker during the wait uses [`reconcile_until_health`] instead.
pub async fn reconcile<R: RenderSource>(
    ks: &Kustomization,
    ctx: &Context<R>,
    cancel: &CancellationToken,
) -> Result<Outcome, ReconcileError> {
    match reconcile_until_health(ks, ctx).await? {
        Step::Done(outcome) => Ok(outcome),
        Step::HealthPending(pending) => pending.complete(ctx, cancel).await,
    }
}

/// How far [`reconcile_until_health`] got.
pub enum Step {
    /// The reconcile is over and its status written.
    Done(Outcome),
    /// Everything is applied and pruned, the status says `Reconciling: Health check in
    /// progress`; [`PendingHealth::complete`] waits (event-driven) and writes the final status.
    HealthPending(Box<PendingHealth>),
}

/// A reconcile whose only remaining step is the health wait. It owns what it needs (the
/// Kustomization, the targets, a client, the deadline), so the service acknowledges the work
/// message, frees its worker permit and runs [`PendingHealth::complete`] as its own task. If
/// the replica dies during the wait, nothing is half-recorded: the next reconcile (interval or
/// redelivery) re-applies (a no-op) and waits again.
pub struct PendingHealth {
    ks: Kustomization,
    progress: Progress,
    targets: Vec<WaitTarget>,
    rules: HealthRules,
    client: kube::Client,
    deadline: Instant,
    started: Instant,
}

impl PendingHealth {
    /// The Kustomization being waited for.
    pub fn kustomization(&self) -> &Kustomization {
        &self.ks
    }

    /// The objects being waited for.
    pub fn targets(&self) -> impl Iterator<Item = &ObjMeta> {
        self.targets.iter().map(|t| &t.meta)
    }

    /// Waits until every target is current, one failed, the deadline passed or `cancel` fired,
    /// then writes the final status, publishes the result and records the event.
    pub async fn complete<R>(
        self,
        ctx: &Context<R>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, ReconcileError> {
        let PendingHealth {
            ks,
            mut progress,
            targets,
            rules,
            client,
            deadline,
            started,
        } = self;
        progress.journal.begin(journey::HEALTH);
        let t0 = Instant::now();
        let outcome = Waiter::new(client)
            .with_rules(rules)
            .wait(targets, deadline, cancel.clone())
            .await;
        let elapsed = format_duration(t0.elapsed());
        let list = |l: Vec<(ObjMeta, String)>| {
            l.into_iter()
                .map(|(m, s)| format!("{m} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let result = match outcome {
            WaitOutcome::AllCurrent => {
                progress.healthy_after = Some(t0.elapsed());
                Ok(())
            }
            WaitOutcome::Failed(l) => Err(ReconcileError::Health(format!(
                "health check failed after {elapsed}: failed early due to stalled resources: [{}]",
                list(l)
            ))),
            WaitOutcome::TimedOut(l) => Err(ReconcileError::Health(format!(
                "health check failed after {elapsed}: timeout waiting for: [{}]",
                list(l)
            ))),
            WaitOutcome::Cancelled => Err(ReconcileError::HealthCanceled(format!(
                "a newer reconciliation started after {elapsed}"
            ))),
        };
        finish(&ks, ctx, &progress, result, started).await
    }
}

/// Runs every step up to the health wait: dependencies, render, build, apply, prune. Returns
/// [`Step::Done`] with the status written when there is nothing to wait for (or a step failed),
/// else [`Step::HealthPending`] after writing `Reconciling: Health check in progress`.
pub async fn reconcile_until_health<R: RenderSource>(
    ks: &Kustomization,
    ctx: &Context<R>,
) -> Result<Step, ReconcileError> {
    let started = Instant::now();
    if ks.metadata.deletion_timestamp.is_some() {
        finalize(ks, ctx, started).await?;
        return Ok(Step::Done(Outcome::Idle));
    }
    ensure_finalizer(ks, ctx).await?;
    if ks.spec.suspend == Some(true) {
        tracing::info!(name = %ks.name_any(), "Kustomization is suspended; skipping.");
        return Ok(Step::Done(Outcome::Idle));
    }
    status::write_progress(&ctx.kube, ks, "Reconciliation in progress").await?;
    let mut progress = Progress::default();
    match run_steps(ks, ctx, &mut progress, started).await {
        Ok(None) => finish(ks, ctx, &progress, Ok(()), started)
            .await
            .map(Step::Done),
        Ok(Some(plan)) => {
            let message = format!(
                "Health check in progress for revision {} with a timeout of {}",
                progress.revision.as_deref().unwrap_or(""),
                format_duration(ks.spec.timeout())
            );
            status::write_progress(&ctx.kube, ks, &message).await?;
            Ok(Step::HealthPending(Box::new(PendingHealth {
                ks: ks.clone(),
                progress,
                targets: plan.targets,
                rules: plan.rules,
                client: plan.client,
                deadline: plan.deadline,
                started,
            })))
        }
        Err(err) => finish(ks, ctx, &progress, Err(err), started)
            .await
            .map(Step::Done),
    }
}

/// The single exit path: writes status, publishes the result, records the event.
async fn finish<R>(
    ks: &Kustomization,
    ctx: &Context<R>,
    progress: &Progress,
    result: Result<(), ReconcileError>,
    started: Instant,
) -> Result<Outcome, ReconcileError> {
    // Before status, so whoever sees Ready finds the journey.
    if let Some(kv) = &ctx.journeys {
        journey::after(kv, ks, progress, &result).await;
    }
    let progress = &Progress {
        duration: Some(started.elapsed()),
        ..progress.clone()
    };
    status::write(&ctx.kube, ks, progress, &result).await?;
    notify::after(ks, ctx, progress, &result, started.elapsed()).await;
    result.map(|()| Outcome::Requeue(ks.spec.interval.as_duration()))
}

/// What the health step needs, produced by the apply phase.
struct HealthPlan {
    targets: Vec<WaitTarget>,
    rules: HealthRules,
    client: kube::Client,
    deadline: Instant,
}

/// The steps in Flux's order; the first error stops the pipeline.
async fn run_steps<R: RenderSource>(
    ks: &Kustomization,
    ctx: &Context<R>,
    progress: &mut Progress,
    started: Instant,
) -> Result<Option<HealthPlan>, ReconcileError> {
    ks.spec
        .validate()
        .map_err(|e| ReconcileError::InvalidSpec(e.to_string()))?;
    check_supported(ks)?;
    dependencies::check(ks, &ctx.kube).await?;

    let rendered = match ctx.renders.render(ks).await {
        Ok(rendered) => rendered,
        Err(e) => {
            progress.revision = ctx.renders.failed_revision(ks).await;
            return Err(match e {
                RenderError::Build(m) => ReconcileError::Build(m),
                RenderError::NotReady(m) | RenderError::Artifact(m) => ReconcileError::Artifact(m),
            });
        }
    };
    let revision = rendered.revision.clone();
    progress.revision = Some(revision.clone());
    progress.manifests_digest = Some(history::manifests_digest(&rendered.manifests));
    let mut objects = crate::decrypt::parse(ks, &ctx.kube, &rendered.manifests)
        .await?
        .objects;
    apply_common_metadata(ks, &mut objects);

    let applier = cluster::applier_for(ks, ctx).await?;
    let deadline = started + ks.spec.timeout();
    let owner = owner_of(ks);
    let opts = ApplyOptions {
        owner: owner.clone(),
        force: ks.spec.force == Some(true),
        target_namespace: ks.spec.target_namespace.clone(),
        concurrency: ctx.concurrency,
        deadline,
    };
    let status = ks.status.clone().unwrap_or_default();
    let old_inventory = status.inventory.clone().unwrap_or_default();
    let same_revision = status
        .last_applied_revision
        .as_deref()
        .is_some_and(|r| same_revision(r, &revision));
    let mode = DriftMode::of(ks);

    progress.journal.begin(journey::APPLY);
    let (new_inventory, healthy_candidates) = if mode == DriftMode::Warn && same_revision {
        let drifts = drift::detect(&applier, objects, &opts)
            .await
            .map_err(|e| ReconcileError::Apply(e.to_string()))?;
        progress.drift = Some((DriftMode::Warn, drifts));
        progress.inventory = Some(old_inventory.clone());
        let metas = old_inventory
            .entries
            .iter()
            .filter_map(|e| inventory::object_of(e).ok())
            .collect::<Vec<_>>();
        (old_inventory.clone(), metas)
    } else {
        match applier.apply_all(objects, &opts).await {
            Ok(changes) => {
                let inv = inventory::from_objects(changes.applied());
                if same_revision {
                    let corrected: Vec<Drift> = changes
                        .entries
                        .iter()
                        .filter(|e| e.action == Action::Configured || e.recreated)
                        .map(|e| Drift {
                            meta: e.meta.clone(),
                            missing: false,
                            changes: e.changes.clone(),
                        })
                        .collect();
                    progress.drift = Some((DriftMode::Correct, corrected));
                } else {
                    progress.drift = Some((DriftMode::Correct, Vec::new()));
                }
                let metas = changes
                    .entries
                    .iter()
                    .filter(|e| e.action != Action::Skipped)
                    .map(|e| e.meta.clone())
                    .collect();
                progress.changes = Some(changes);
                progress.inventory = Some(inv.clone());
                (inv, metas)
            }
            Err(failure) => {
                let applied = inventory::from_objects(failure.applied.applied());
                progress.inventory = Some(inventory::merge(&old_inventory, &applied));
                progress.changes = Some(failure.applied.clone());
                return Err(ReconcileError::Apply(failure.to_string()));
            }
        }
    };

    if ks.spec.prune {
        progress.journal.begin(journey::PRUNE);
        let stale = inventory::stale(&old_inventory, &new_inventory)
            .map_err(|e| ReconcileError::Prune(e.to_string()))?;
        progress.pruned = prune::prune(&applier, stale, &owner)
            .await
            .map_err(|e| ReconcileError::Prune(e.to_string()))?;
    }

    let targets = health_targets(ks, &applier, &healthy_candidates, &new_inventory).await?;
    if targets.is_empty() {
        return Ok(None);
    }
    let rules = HealthRules::new(ks.spec.health_check_exprs.clone().unwrap_or_default())
        .map_err(|e| ReconcileError::InvalidExpression(e.to_string()))?;
    Ok(Some(HealthPlan {
        targets,
        rules,
        client: applier.client().clone(),
        deadline,
    }))
}

/// The server-side dry-run of the Kustomization's current render against its cluster: the
/// answer of the gRPC `Diff` (`with_fields`) and `Plan`.
pub async fn diff<R: RenderSource>(
    ks: &Kustomization,
    ctx: &Context<R>,
    with_fields: bool,
) -> Result<ferry_proto::apply::v1::DiffResponse, ReconcileError> {
    let rendered = ctx.renders.render(ks).await.map_err(|e| match e {
        RenderError::Build(m) => ReconcileError::Build(m),
        RenderError::NotReady(m) | RenderError::Artifact(m) => ReconcileError::Artifact(m),
    })?;
    let crate::decrypt::Decrypted {
        mut objects,
        decrypted,
    } = crate::decrypt::parse(ks, &ctx.kube, &rendered.manifests).await?;
    apply_common_metadata(ks, &mut objects);
    let applier = cluster::applier_for(ks, ctx).await?;
    let opts = ApplyOptions {
        owner: owner_of(ks),
        force: ks.spec.force == Some(true),
        target_namespace: ks.spec.target_namespace.clone(),
        concurrency: ctx.concurrency,
        deadline: Instant::now() + ks.spec.timeout(),
    };
    let old_inventory = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.clone())
        .unwrap_or_default();
    let mut planned = crate::plan::plan(&applier, objects, &opts, &old_inventory, ks.spec.prune)
        .await
        .map_err(|e| ReconcileError::Apply(e.to_string()))?;
    // Decrypted values must not leave the applier through the gRPC Diff.
    crate::decrypt::redact(&mut planned, &decrypted);
    Ok(crate::plan::to_proto(
        &rendered.revision,
        &planned,
        with_fields,
    ))
}

/// `spec.commonMetadata`: labels and annotations set on every object, overriding same keys
/// (idempotent when the renderer already set them).
pub fn apply_common_metadata(ks: &Kustomization, objects: &mut [manifests::Manifest]) {
    let Some(common) = &ks.spec.common_metadata else {
        return;
    };
    for object in objects.iter_mut() {
        for (k, v) in common.labels.iter().flatten() {
            object.set_label(k, v);
        }
        for (k, v) in common.annotations.iter().flatten() {
            object.set_annotation(k, v);
        }
    }
}

/// Spec fields this applier does not implement fail clearly (Stalled) instead of being ignored,
/// and CEL expressions that do not compile stall with `InvalidCELExpression`, as in Flux.
pub fn check_supported(ks: &Kustomization) -> Result<(), ReconcileError> {
    if let Some(d) = &ks.spec.decryption
        && d.service_account_name.is_some()
    {
        return Err(ReconcileError::Unsupported(
            "spec.decryption.serviceAccountName: KMS workload identity is not supported; Ferry decrypts SOPS with age identities from spec.decryption.secretRef".into(),
        ));
    }
    crate::expr::check_health_exprs(ks.spec.health_check_exprs.as_deref().unwrap_or_default())
        .map_err(|e| ReconcileError::InvalidExpression(format!("spec.healthCheckExprs: {e}")))?;
    for dep in ks.spec.depends_on.iter().flatten() {
        if let Some(e) = &dep.ready_expr {
            crate::expr::check(e).map_err(|err| {
                ReconcileError::InvalidExpression(format!(
                    "spec.dependsOn[{}].readyExpr: {err}",
                    dep.name
                ))
            })?;
        }
    }
    Ok(())
}

/// What to wait for: every applied object with `wait: true`, else `healthChecks`.
async fn health_targets(
    ks: &Kustomization,
    applier: &crate::apply::Applier,
    applied: &[ObjMeta],
    inventory: &ResourceInventory,
) -> Result<Vec<WaitTarget>, ReconcileError> {
    let own_ns = ks.namespace().unwrap_or_default();
    let metas: Vec<ObjMeta> = if ks.spec.wait == Some(true) {
        applied.to_vec()
    } else {
        let mut out = Vec::new();
        for hc in ks.spec.health_checks.iter().flatten() {
            let namespace = hc.namespace.clone().unwrap_or_else(|| own_ns.clone());
            let (group, version) = match &hc.api_version {
                Some(av) => {
                    let (g, v) = manifests::split_api_version(av);
                    (g.to_owned(), v.to_owned())
                }
                None => {
                    let found = inventory
                        .entries
                        .iter()
                        .filter_map(|e| inventory::object_of(e).ok())
                        .find(|m| {
                            m.kind == hc.kind
                                && m.name == hc.name
                                && (m.namespace == namespace || m.namespace.is_empty())
                        });
                    match found {
                        Some(m) => (m.group, m.version),
                        None => {
                            return Err(ReconcileError::Health(format!(
                                "health check {}/{namespace}/{}: apiVersion is not set and the object is not in the inventory",
                                hc.kind, hc.name
                            )));
                        }
                    }
                }
            };
            out.push(ObjMeta {
                group,
                version,
                kind: hc.kind.clone(),
                namespace,
                name: hc.name.clone(),
            });
        }
        out
    };
    let mut targets = Vec::with_capacity(metas.len());
    for mut meta in metas {
        let resolved = applier
            .resolve(&meta)
            .await
            .map_err(|e| ReconcileError::Health(e.to_string()))?;
        if !resolved.namespaced {
            meta.namespace.clear();
        }
        targets.push(WaitTarget { meta, resolved });
    }
    Ok(targets)
}

async fn ensure_finalizer<R>(ks: &Kustomization, ctx: &Context<R>) -> Result<(), ReconcileError> {
    if ks.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = ks.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    patch_finalizers(ks, ctx, finalizers).await
}

async fn patch_finalizers<R>(
    ks: &Kustomization,
    ctx: &Context<R>,
    finalizers: Vec<String>,
) -> Result<(), ReconcileError> {
    let api: Api<Kustomization> =
        Api::namespaced(ctx.kube.clone(), &ks.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": ks.resource_version()}
    });
    api.patch(
        &ks.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&body),
    )
    .await
    .map_err(|e| ReconcileError::Status(format!("updating finalizers: {e}")))?;
    Ok(())
}

/// Deletion: applies `deletionPolicy` to the inventory (skipped while suspended, as Flux),
/// then removes the finalizer.
async fn finalize<R>(
    ks: &Kustomization,
    ctx: &Context<R>,
    started: Instant,
) -> Result<(), ReconcileError> {
    if !ks.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let inventory = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.clone())
        .unwrap_or_default();
    if ks.spec.suspend != Some(true) && !inventory.entries.is_empty() {
        let applier = cluster::applier_for(ks, ctx).await?;
        let metas = inventory
            .entries
            .iter()
            .filter_map(|e| inventory::object_of(e).ok())
            .collect();
        prune::finalize(
            &applier,
            metas,
            &owner_of(ks),
            ks.spec.deletion_policy(),
            ks.spec.prune,
            started + ks.spec.timeout(),
        )
        .await
        .map_err(|e| ReconcileError::Prune(e.to_string()))?;
    }
    let remaining = ks
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(ks, ctx, remaining).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(spec_extra: serde_json::Value) -> Kustomization {
        let mut spec = serde_json::json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
            for (k, v) in extra {
                s.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": "flux-system"}, "spec": spec
        }))
        .expect("valid Kustomization")
    }

    #[test]
    fn common_metadata_is_set_on_every_object_overriding_same_keys() {
        let k = ks(
            serde_json::json!({"commonMetadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}}}),
        );
        let mut objects = manifests::parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    team: b\n",
        )
        .expect("parses");
        apply_common_metadata(&k, &mut objects);
        assert_eq!(manifests::label(&objects[0].object, "team"), Some("a"));
        assert_eq!(objects[0].annotation("note"), Some("x"));
    }

    #[test]
    fn sops_age_decryption_is_supported_kms_identity_is_not_and_bad_cel_is_an_invalid_expression() {
        let k = ks(
            serde_json::json!({"decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}}),
        );
        assert_eq!(check_supported(&k), Ok(()));
        let k = ks(
            serde_json::json!({"decryption": {"provider": "sops", "serviceAccountName": "kms"}}),
        );
        assert!(matches!(
            check_supported(&k),
            Err(ReconcileError::Unsupported(m)) if m.contains("spec.decryption.serviceAccountName")
        ));
        let k = ks(serde_json::json!({"dependsOn": [{"name": "x", "readyExpr": "dep.("}]}));
        assert!(matches!(
            check_supported(&k),
            Err(ReconcileError::InvalidExpression(_))
        ));
        let k = ks(
            serde_json::json!({"dependsOn": [{"name": "x", "readyExpr": "dep.status.ok == true"}]}),
        );
        assert_eq!(check_supported(&k), Ok(()));
    }
}
