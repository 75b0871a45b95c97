//! Health of applied objects: kstatus rules as a pure function, and an event-driven, cancellable
//! [`Waiter`] that watches objects until all are current, one failed, or the deadline passed.
//!
//! Design: waiting never polls and never blocks a thread. The waiter opens one watch per
//! (kind, namespace) and re-evaluates only the object an event is about; it is an `async`
//! function that a caller can drop, cancel (a [`CancellationToken`]) or bound (a deadline).
//! The reconcile is split in two (`reconcile::reconcile_until_health` and
//! `reconcile::PendingHealth::complete`): the first phase applies and prunes, writes
//! `Reconciling: Health check in progress` and returns; the service acknowledges the work
//! message, frees its worker permit and runs the second phase as its own task, so a
//! Kustomization waiting for minutes holds a task and a few watches, not a worker, and other
//! Kustomizations keep moving. A newer reconcile of the same Kustomization cancels the old
//! wait through `reconcile::InFlight` (Flux's `HealthCheckCanceled`). A replica that dies during
//! the wait leaves nothing half-recorded: the next reconcile re-applies (a no-op) and waits again.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use kube::Client;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::apply::Resolved;
use crate::expr::HealthRules;
use crate::manifests::ObjMeta;

/// kstatus's summary of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStatus {
    /// Reconciled and healthy.
    Current,
    /// Still converging; the message says on what.
    InProgress(String),
    /// Failed; the message says why.
    Failed(String),
    /// Not observed (not found, or not seen yet).
    Unknown,
}

fn i64_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// The condition of `type_` as (status, reason, message).
fn condition<'a>(obj: &'a Value, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or(""),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

fn in_progress(msg: impl Into<String>) -> HealthStatus {
    HealthStatus::InProgress(msg.into())
}

/// `Some(InProgress)` when the controller has not observed the latest generation.
fn generation_pending(obj: &Value) -> Option<HealthStatus> {
    let generation = i64_at(obj, "/metadata/generation")?;
    match i64_at(obj, "/status/observedGeneration") {
        Some(observed) if observed >= generation => None,
        _ => Some(in_progress(format!(
            "observedGeneration is behind generation {generation}"
        ))),
    }
}

/// kstatus's verdict on one object (group from `apiVersion`, kind from `kind`).
pub fn status_of(obj: &Value) -> HealthStatus {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return in_progress("object is being deleted");
    }
    let api_version = str_at(obj, "/apiVersion").unwrap_or("");
    let (group, _) = crate::manifests::split_api_version(api_version);
    let kind = str_at(obj, "/kind").unwrap_or("");
    match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps", "DaemonSet") => daemonset(obj),
        ("apps", "ReplicaSet") => replicaset(obj),
        ("batch", "Job") => job(obj),
        ("", "Pod") => pod(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("", "Service") => service(obj),
        ("", "Namespace") => namespace(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("policy", "PodDisruptionBudget") | ("batch", "CronJob") => {
            generation_pending(obj).unwrap_or(HealthStatus::Current)
        }
        ("", "ConfigMap" | "Secret" | "ServiceAccount" | "LimitRange" | "ResourceQuota") => {
            HealthStatus::Current
        }
        _ => generic(obj),
    }
}

fn replicas_wanted(obj: &Value) -> i64 {
    i64_at(obj, "/spec/replicas").unwrap_or(1)
}

fn deployment(obj: &Value) -> HealthStatus {
    if let Some(("False", "ProgressDeadlineExceeded", msg)) = condition(obj, "Progressing") {
        return HealthStatus::Failed(format!("Progress deadline exceeded: {msg}"));
    }
    if let Some(p) = generation_pending(obj) {
        return p;
    }
    if obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return in_progress("Deployment is paused");
    }
    let want = replicas_wanted(obj);
    let updated = i64_at(obj, "/status/updatedReplicas").unwrap_or(0);
    let total = i64_at(obj, "/status/replicas").unwrap_or(0);
    let available = i64_at(obj, "/status/availableReplicas").unwrap_or(0);
    let ready = i64_at(obj, "/status/readyReplicas").unwrap_or(0);
    if updated < want {
        return in_progress(format!("Updated: {updated}/{want}"));
    }
    if total > updated {
        return in_progress(format!("Pending termination: {}", total - updated));
    }
    if available < want {
        return in_progress(format!("Available: {available}/{want}"));
    }
    if ready < want {
        return in_progress(format!("Ready: {ready}/{want}"));
    }
    if want > 0
        && let Some((status, _, _)) = condition(obj, "Available")
        && status != "True"
    {
        return in_progress("Deployment does not have minimum availability");
    }
    HealthStatus::Current
}

fn statefulset(obj: &Value) -> HealthStatus {
    if let Some(p) = generation_pending(obj) {
        return p;
    }
    if str_at(obj, "/spec/updateStrategy/type") == Some("OnDelete") {
        return HealthStatus::Current;
    }
    let want = replicas_wanted(obj);
    let ready = i64_at(obj, "/status/readyReplicas").unwrap_or(0);
    let current = i64_at(obj, "/status/currentReplicas").unwrap_or(0);
    let updated = i64_at(obj, "/status/updatedReplicas").unwrap_or(0);
    let partition = i64_at(obj, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    if ready < want {
        return in_progress(format!("Ready: {ready}/{want}"));
    }
    if partition > 0 {
        let expected = want - partition;
        return if updated < expected {
            in_progress(format!("Partitioned roll out: {updated}/{expected}"))
        } else {
            HealthStatus::Current
        };
    }
    if current < want && updated < want {
        return in_progress(format!("Updated: {updated}/{want}"));
    }
    match (
        str_at(obj, "/status/currentRevision"),
        str_at(obj, "/status/updateRevision"),
    ) {
        (Some(c), Some(u)) if c != u => in_progress(format!("Waiting for revision {u}")),
        _ => HealthStatus::Current,
    }
}

fn daemonset(obj: &Value) -> HealthStatus {
    if let Some(p) = generation_pending(obj) {
        return p;
    }
    let Some(desired) = i64_at(obj, "/status/desiredNumberScheduled") else {
        return in_progress("Missing .status.desiredNumberScheduled");
    };
    let checks = [
        ("currentNumberScheduled", "Current"),
        ("updatedNumberScheduled", "Updated"),
        ("numberAvailable", "Available"),
        ("numberReady", "Ready"),
    ];
    for (field, label) in checks {
        let n = i64_at(obj, &format!("/status/{field}")).unwrap_or(0);
        if n < desired {
            return in_progress(format!("{label}: {n}/{desired}"));
        }
    }
    HealthStatus::Current
}

fn replicaset(obj: &Value) -> HealthStatus {
    if let Some(p) = generation_pending(obj) {
        return p;
    }
    if let Some(("True", _, msg)) = condition(obj, "ReplicaFailure") {
        return in_progress(format!("ReplicaFailure: {msg}"));
    }
    let want = replicas_wanted(obj);
    for (field, label) in [
        ("availableReplicas", "Available"),
        ("readyReplicas", "Ready"),
    ] {
        let n = i64_at(obj, &format!("/status/{field}")).unwrap_or(0);
        if n < want {
            return in_progress(format!("{label}: {n}/{want}"));
        }
    }
    HealthStatus::Current
}

fn job(obj: &Value) -> HealthStatus {
    if let Some(("True", reason, msg)) = condition(obj, "Failed") {
        return HealthStatus::Failed(format!("Job failed ({reason}): {msg}"));
    }
    if let Some(("True", _, _)) = condition(obj, "Complete") {
        return HealthStatus::Current;
    }
    let succeeded = i64_at(obj, "/status/succeeded").unwrap_or(0);
    let active = i64_at(obj, "/status/active").unwrap_or(0);
    in_progress(format!(
        "Job in progress: succeeded {succeeded}, active {active}"
    ))
}

fn pod(obj: &Value) -> HealthStatus {
    match str_at(obj, "/status/phase") {
        Some("Succeeded") => HealthStatus::Current,
        Some("Failed") => HealthStatus::Failed(format!(
            "Pod failed: {}",
            str_at(obj, "/status/message").unwrap_or("no message")
        )),
        Some("Running") => match condition(obj, "Ready") {
            Some(("True", _, _)) => HealthStatus::Current,
            _ => in_progress("Pod is running but not ready"),
        },
        other => in_progress(format!("Pod phase {}", other.unwrap_or("unknown"))),
    }
}

fn pvc(obj: &Value) -> HealthStatus {
    match str_at(obj, "/status/phase") {
        Some("Bound") => HealthStatus::Current,
        other => in_progress(format!(
            "PVC is not Bound (phase {})",
            other.unwrap_or("unknown")
        )),
    }
}

fn service(obj: &Value) -> HealthStatus {
    if str_at(obj, "/spec/type") != Some("LoadBalancer") {
        return HealthStatus::Current;
    }
    let has_ingress = obj
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_ingress {
        HealthStatus::Current
    } else {
        in_progress("LoadBalancer has no ingress address yet")
    }
}

fn namespace(obj: &Value) -> HealthStatus {
    match str_at(obj, "/status/phase") {
        None | Some("Active") => HealthStatus::Current,
        Some(phase) => in_progress(format!("Namespace is {phase}")),
    }
}

fn crd(obj: &Value) -> HealthStatus {
    if let Some(("False", reason, msg)) = condition(obj, "NamesAccepted") {
        return HealthStatus::Failed(format!("CRD names not accepted ({reason}): {msg}"));
    }
    match condition(obj, "Established") {
        Some(("True", _, _)) => HealthStatus::Current,
        _ => in_progress("CRD is not Established"),
    }
}

/// Custom kinds: Stalled → failed; Reconciling → in progress; observedGeneration behind →
/// in progress; then the Ready condition (False after the latest generation was observed →
/// failed; Unknown → in progress). Objects without conditions are current.
fn generic(obj: &Value) -> HealthStatus {
    if let Some(("True", reason, msg)) = condition(obj, "Stalled") {
        return HealthStatus::Failed(format!("Stalled ({reason}): {msg}"));
    }
    if let Some(("True", reason, msg)) = condition(obj, "Reconciling") {
        return in_progress(format!("Reconciling ({reason}): {msg}"));
    }
    if obj.pointer("/status/observedGeneration").is_some()
        && let Some(p) = generation_pending(obj)
    {
        return p;
    }
    match condition(obj, "Ready") {
        Some(("True", _, _)) | None => HealthStatus::Current,
        Some(("False", reason, msg)) => {
            HealthStatus::Failed(format!("Ready=False ({reason}): {msg}"))
        }
        Some((_, reason, msg)) => in_progress(format!("Ready=Unknown ({reason}): {msg}")),
    }
}

/// One object to wait for.
#[derive(Debug, Clone)]
pub struct WaitTarget {
    /// The object.
    pub meta: ObjMeta,
    /// Its kind's API resource.
    pub resolved: Resolved,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Every object is current.
    AllCurrent,
    /// At least one object failed: the failed objects with their messages.
    Failed(Vec<(ObjMeta, String)>),
    /// The deadline passed: the objects not current yet, with their status.
    TimedOut(Vec<(ObjMeta, String)>),
    /// The token was cancelled.
    Cancelled,
}

/// Watches objects until they are all current, one fails, the deadline passes or it is cancelled.
#[derive(Clone)]
pub struct Waiter {
    client: Client,
    rules: HealthRules,
}

type GroupKey = (String, String, String, String);

impl Waiter {
    /// A waiter using `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            rules: HealthRules::default(),
        }
    }

    /// Uses custom rules (`healthCheckExprs`) before the built-in ones.
    pub fn with_rules(mut self, rules: HealthRules) -> Self {
        self.rules = rules;
        self
    }

    /// Waits, event-driven: one watch per (kind, namespace); each event re-evaluates
    /// [`status_of`] for that object only.
    pub async fn wait(
        &self,
        targets: Vec<WaitTarget>,
        deadline: Instant,
        cancel: CancellationToken,
    ) -> WaitOutcome {
        if targets.is_empty() {
            return WaitOutcome::AllCurrent;
        }
        let mut status: BTreeMap<ObjMeta, HealthStatus> = targets
            .iter()
            .map(|t| (t.meta.clone(), HealthStatus::Unknown))
            .collect();
        let mut groups: HashMap<GroupKey, (WaitTarget, Vec<ObjMeta>)> = HashMap::new();
        for t in targets {
            let key = (
                t.meta.group.clone(),
                t.meta.version.clone(),
                t.meta.kind.clone(),
                t.meta.namespace.clone(),
            );
            groups
                .entry(key)
                .or_insert_with(|| (t.clone(), Vec::new()))
                .1
                .push(t.meta.clone());
        }
        let streams = groups.into_values().map(|(t, members)| {
            let api = t.resolved.api(self.client.clone(), &t.meta.namespace);
            let config = if members.len() == 1 {
                watcher::Config::default().fields(&format!("metadata.name={}", t.meta.name))
            } else {
                watcher::Config::default()
            };
            let template = t.meta.clone();
            kube::runtime::WatchStreamExt::default_backoff(watcher(api, config))
                .map(move |ev| (template.clone(), ev))
                .boxed()
        });
        let mut events = futures::stream::select_all(streams);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return WaitOutcome::Cancelled,
                _ = tokio::time::sleep_until(deadline) => {
                    return WaitOutcome::TimedOut(pending(&status));
                }
                next = events.next() => {
                    let Some((template, event)) = next else {
                        return WaitOutcome::TimedOut(pending(&status));
                    };
                    let Ok(event) = event else { continue };
                    match event {
                        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                            let meta = ObjMeta { name: obj.metadata.name.clone().unwrap_or_default(), ..template };
                            if let Some(slot) = status.get_mut(&meta)
                                && let Ok(value) = serde_json::to_value(&obj)
                            {
                                *slot = self.rules.status_of(&value);
                            }
                        }
                        watcher::Event::Delete(obj) => {
                            let meta = ObjMeta { name: obj.metadata.name.clone().unwrap_or_default(), ..template };
                            if let Some(slot) = status.get_mut(&meta) {
                                *slot = HealthStatus::Unknown;
                            }
                        }
                        watcher::Event::Init | watcher::Event::InitDone => {}
                    }
                    let failed: Vec<(ObjMeta, String)> = status
                        .iter()
                        .filter_map(|(m, s)| match s {
                            HealthStatus::Failed(msg) => Some((m.clone(), msg.clone())),
                            _ => None,
                        })
                        .collect();
                    if !failed.is_empty() {
                        return WaitOutcome::Failed(failed);
                    }
                    if status.values().all(|s| *s == HealthStatus::Current) {
                        return WaitOutcome::AllCurrent;
                    }
                }
            }
        }
    }
}

fn pending(status: &BTreeMap<ObjMeta, HealthStatus>) -> Vec<(ObjMeta, String)> {
    status
        .iter()
        .filter_map(|(m, s)| match s {
            HealthStatus::Current => None,
            HealthStatus::InProgress(msg) | HealthStatus::Failed(msg) => {
                Some((m.clone(), format!("status: 'InProgress': {msg}")))
            }
            HealthStatus::Unknown => Some((m.clone(), "status: 'NotFound'".to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn deployment_is_current_when_rolled_out_and_available() {
        let d = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "availableReplicas": 2, "readyReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}]}),
        );
        assert_eq!(status_of(&d), HealthStatus::Current);
    }

    #[test]
    fn deployment_with_old_observed_generation_or_missing_replicas_is_in_progress() {
        let d = deploy(
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
            "availableReplicas": 2, "readyReplicas": 2}),
        );
        assert!(matches!(status_of(&d), HealthStatus::InProgress(_)));
        let d = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
            "availableReplicas": 1}),
        );
        assert_eq!(
            status_of(&d),
            HealthStatus::InProgress("Updated: 1/2".into())
        );
    }

    #[test]
    fn deployment_past_its_progress_deadline_has_failed() {
        let d = deploy(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet web-1 has timed out progressing."}]}));
        assert!(matches!(status_of(&d), HealthStatus::Failed(m) if m.contains("timed out")));
    }

    #[test]
    fn job_is_current_when_complete_and_failed_when_failed() {
        let j = |conds: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conds}});
        assert_eq!(
            status_of(&j(json!([{"type": "Complete", "status": "True"}]))),
            HealthStatus::Current
        );
        assert!(matches!(
            status_of(&j(
                json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
            )),
            HealthStatus::Failed(_)
        ));
        assert!(matches!(
            status_of(&j(json!([]))),
            HealthStatus::InProgress(_)
        ));
    }

    #[test]
    fn statefulset_and_daemonset_need_ready_counts() {
        let s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "generation": 1},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "readyReplicas": 0}});
        assert!(matches!(status_of(&s), HealthStatus::InProgress(_)));
        let s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "generation": 1},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "readyReplicas": 2, "currentReplicas": 2,
            "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "a"}});
        assert_eq!(status_of(&s), HealthStatus::Current);
        let d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 2}});
        assert_eq!(status_of(&d), HealthStatus::InProgress("Ready: 2/3".into()));
    }

    #[test]
    fn pod_pvc_service_namespace_and_crd_rules() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(status_of(&pod), HealthStatus::Current);
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "status": {"phase": "Pending"}});
        assert!(matches!(status_of(&pvc), HealthStatus::InProgress(_)));
        let lb = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}, "status": {}});
        assert!(matches!(status_of(&lb), HealthStatus::InProgress(_)));
        let ip = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}});
        assert_eq!(status_of(&ip), HealthStatus::Current);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "status": {"phase": "Terminating"}});
        assert!(matches!(status_of(&ns), HealthStatus::InProgress(_)));
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(status_of(&crd), HealthStatus::Current);
    }

    #[test]
    fn custom_kinds_follow_ready_stalled_and_observed_generation() {
        let cr = |status: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 3}, "status": status});
        assert_eq!(status_of(&cr(json!({}))), HealthStatus::Current);
        assert_eq!(
            status_of(&cr(
                json!({"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            HealthStatus::Current
        );
        assert!(matches!(
            status_of(&cr(
                json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            HealthStatus::InProgress(_)
        ));
        assert!(matches!(
            status_of(&cr(
                json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Boom"}]})
            )),
            HealthStatus::Failed(_)
        ));
        assert!(matches!(
            status_of(&cr(
                json!({"conditions": [{"type": "Stalled", "status": "True"}]})
            )),
            HealthStatus::Failed(_)
        ));
    }

    #[test]
    fn objects_being_deleted_are_in_progress() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert!(matches!(status_of(&cm), HealthStatus::InProgress(_)));
    }
}
