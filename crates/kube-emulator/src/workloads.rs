//! Background controllers: workload status stand-in, garbage collection, namespace termination.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::FAIL_ANNOTATION;
use crate::handlers::write::delete_object;
use crate::resources::Gr;
use crate::store::{Shared, State, Store};
use crate::util::{get_path, get_str, name_of, namespace_of, now_rfc3339};

fn gr(group: &str, plural: &str) -> Gr {
    Gr {
        group: group.into(),
        plural: plural.into(),
    }
}

/// Creates what controllers put into every new namespace: the `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap.
pub fn namespace_children(store: &mut Store, ns: &str) {
    let sa = gr("", "serviceaccounts");
    if store.get(&sa, ns, "default").is_none() {
        store.put(
            &sa,
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now_rfc3339()},
            }),
        );
    }
    let cm = gr("", "configmaps");
    if store.get(&cm, ns, "kube-root-ca.crt").is_none() {
        let mut root_ca = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kube-root-ca.crt",
                "namespace": ns,
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": now_rfc3339(),
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
            },
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nZmVycnkta3ViZS1lbXVsYXRvcg==\n-----END CERTIFICATE-----\n"},
        });
        crate::patch::seed_managed_fields(&mut root_ca, "kube-controller-manager");
        store.put(&cm, root_ca);
    }
}

/// Runs the controllers until shutdown.
pub async fn run_controllers(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut seen: HashMap<String, (i64, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(shared.config.controller_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = shutdown.changed() => return,
        }
        let mut state = shared.state.lock();
        terminate_namespaces(&mut state);
        collect_garbage(&mut state);
        workloads(&mut state, &mut seen, shared.config.workload_delay);
    }
}

fn terminate_namespaces(state: &mut State) {
    let ns_gr = gr("", "namespaces");
    let terminating: Vec<String> = state
        .store
        .list(&ns_gr, None)
        .into_iter()
        .filter(|n| get_path(n, &["metadata", "deletionTimestamp"]).is_some())
        .map(|n| name_of(n).to_string())
        .collect();
    for ns in terminating {
        let mut remaining = 0;
        for g in state.store.resources() {
            let Some(def) = state.registry.find_gr(&g).cloned() else {
                continue;
            };
            if !def.namespaced {
                continue;
            }
            let names: Vec<(String, bool)> = state
                .store
                .list(&g, Some(&ns))
                .into_iter()
                .map(|o| {
                    (
                        name_of(o).to_string(),
                        get_path(o, &["metadata", "deletionTimestamp"]).is_some(),
                    )
                })
                .collect();
            for (name, deleting) in names {
                remaining += 1;
                if !deleting {
                    delete_object(state, &def, &ns, &name, None, false);
                }
            }
        }
        if remaining == 0 {
            state.store.remove(&ns_gr, "", &ns);
        }
    }
}

fn finalizers(o: &Value) -> Vec<String> {
    get_path(o, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn owner_uids(o: &Value) -> Vec<String> {
    get_path(o, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| get_str(r, &["uid"]).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn remove_finalizer(state: &mut State, g: &Gr, o: &Value, fin: &str) {
    let mut new = o.clone();
    let kept: Vec<String> = finalizers(o).into_iter().filter(|f| f != fin).collect();
    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        if kept.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), json!(kept));
        }
    }
    let deleting = get_path(&new, &["metadata", "deletionTimestamp"]).is_some();
    let stored = state.store.put(g, new);
    if deleting && kept.is_empty() {
        state
            .store
            .remove(g, namespace_of(&stored), name_of(&stored));
    }
}

fn collect_garbage(state: &mut State) {
    let mut uids: HashSet<String> = HashSet::new();
    let mut all: Vec<(Gr, Value)> = vec![];
    for g in state.store.resources() {
        for o in state.store.list(&g, None) {
            if let Some(u) = get_str(o, &["metadata", "uid"]) {
                uids.insert(u.to_string());
            }
            let relevant = get_path(o, &["metadata", "ownerReferences"]).is_some()
                || get_path(o, &["metadata", "deletionTimestamp"]).is_some();
            if relevant {
                all.push((g.clone(), o.clone()));
            }
        }
    }
    // Dependents by owner uid.
    let mut dependents: HashMap<String, Vec<(Gr, Value)>> = HashMap::new();
    for (g, o) in &all {
        for u in owner_uids(o) {
            dependents
                .entry(u)
                .or_default()
                .push((g.clone(), o.clone()));
        }
    }
    for (g, o) in &all {
        let uid = get_str(o, &["metadata", "uid"]).unwrap_or("").to_string();
        let deleting = get_path(o, &["metadata", "deletionTimestamp"]).is_some();
        let fins = finalizers(o);
        if deleting && fins.iter().any(|f| f == "orphan") {
            for (dg, d) in dependents.get(&uid).cloned().unwrap_or_default() {
                let mut nd = d.clone();
                if let Some(refs) = nd
                    .get_mut("metadata")
                    .and_then(|m| m.get_mut("ownerReferences"))
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| get_str(r, &["uid"]) != Some(uid.as_str()));
                }
                state.store.put(&dg, nd);
            }
            remove_finalizer(state, g, o, "orphan");
            continue;
        }
        if deleting && fins.iter().any(|f| f == "foregroundDeletion") {
            let deps = dependents.get(&uid).cloned().unwrap_or_default();
            if deps.is_empty() {
                remove_finalizer(state, g, o, "foregroundDeletion");
            } else {
                for (dg, d) in deps {
                    if let Some(def) = state.registry.find_gr(&dg).cloned() {
                        delete_object(state, &def, namespace_of(&d), name_of(&d), None, false);
                    }
                }
            }
            continue;
        }
        let owners = owner_uids(o);
        if !owners.is_empty()
            && !deleting
            && owners.iter().all(|u| !uids.contains(u))
            && let Some(def) = state.registry.find_gr(g).cloned()
        {
            delete_object(state, &def, namespace_of(o), name_of(o), None, false);
        }
    }
}

fn cond(t: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": t, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn job_cond(t: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": t, "status": status, "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn insert_nonzero(m: &mut serde_json::Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    }
}

fn workload_status(kind: &str, o: &Value) -> Option<Value> {
    let generation = get_path(o, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let replicas = get_path(o, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let fail = get_str(o, &["metadata", "annotations", FAIL_ANNOTATION]);
    let name = name_of(o);
    let now = now_rfc3339();
    let hash = format!("{:x}", generation.wrapping_mul(2654435761) & 0xffffffff);
    let mut s = serde_json::Map::new();
    match kind {
        "Deployment" => {
            s.insert("observedGeneration".into(), json!(generation));
            insert_nonzero(&mut s, "replicas", replicas);
            insert_nonzero(&mut s, "updatedReplicas", replicas);
            let rs = format!("{name}-{hash}");
            if fail == Some("progress-deadline") {
                insert_nonzero(&mut s, "unavailableReplicas", replicas);
                s.insert(
                    "conditions".into(),
                    json!([
                        cond(
                            "Available",
                            "False",
                            "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.",
                            &now
                        ),
                        cond(
                            "Progressing",
                            "False",
                            "ProgressDeadlineExceeded",
                            &format!("ReplicaSet \"{rs}\" has timed out progressing."),
                            &now
                        ),
                    ]),
                );
            } else {
                insert_nonzero(&mut s, "readyReplicas", replicas);
                insert_nonzero(&mut s, "availableReplicas", replicas);
                s.insert(
                    "conditions".into(),
                    json!([
                        cond(
                            "Available",
                            "True",
                            "MinimumReplicasAvailable",
                            "Deployment has minimum availability.",
                            &now
                        ),
                        cond(
                            "Progressing",
                            "True",
                            "NewReplicaSetAvailable",
                            &format!("ReplicaSet \"{rs}\" has successfully progressed."),
                            &now
                        ),
                    ]),
                );
            }
        }
        "StatefulSet" => {
            let ready = if fail.is_some() { 0 } else { replicas };
            s.insert("observedGeneration".into(), json!(generation));
            s.insert("replicas".into(), json!(replicas));
            insert_nonzero(&mut s, "readyReplicas", ready);
            insert_nonzero(&mut s, "currentReplicas", replicas);
            insert_nonzero(&mut s, "updatedReplicas", replicas);
            s.insert("availableReplicas".into(), json!(ready));
            s.insert("currentRevision".into(), json!(format!("{name}-{hash}")));
            s.insert("updateRevision".into(), json!(format!("{name}-{hash}")));
            s.insert("collisionCount".into(), json!(0));
        }
        "DaemonSet" => {
            let ready = if fail.is_some() { 0 } else { 1 };
            s.insert("currentNumberScheduled".into(), json!(1));
            s.insert("desiredNumberScheduled".into(), json!(1));
            s.insert("numberAvailable".into(), json!(ready));
            s.insert("numberMisscheduled".into(), json!(0));
            s.insert("numberReady".into(), json!(ready));
            insert_nonzero(&mut s, "numberUnavailable", 1 - ready);
            s.insert("observedGeneration".into(), json!(generation));
            s.insert("updatedNumberScheduled".into(), json!(1));
        }
        "ReplicaSet" => {
            s.insert("replicas".into(), json!(replicas));
            insert_nonzero(&mut s, "fullyLabeledReplicas", replicas);
            insert_nonzero(&mut s, "readyReplicas", replicas);
            insert_nonzero(&mut s, "availableReplicas", replicas);
            s.insert("observedGeneration".into(), json!(generation));
        }
        "Job" => {
            if get_path(o, &["spec", "suspend"]) == Some(&json!(true)) {
                return None;
            }
            let completions = get_path(o, &["spec", "completions"])
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let start = get_str(o, &["status", "startTime"])
                .map(str::to_string)
                .unwrap_or_else(|| now.clone());
            s.insert("startTime".into(), json!(start));
            s.insert("ready".into(), json!(0));
            s.insert("terminating".into(), json!(0));
            s.insert("uncountedTerminatedPods".into(), json!({}));
            if fail.is_some() {
                let backoff = get_path(o, &["spec", "backoffLimit"])
                    .and_then(Value::as_i64)
                    .unwrap_or(6);
                s.insert("failed".into(), json!(backoff + 1));
                s.insert(
                    "conditions".into(),
                    json!([
                        job_cond(
                            "FailureTarget",
                            "True",
                            "BackoffLimitExceeded",
                            "Job has reached the specified backoff limit",
                            &now
                        ),
                        job_cond(
                            "Failed",
                            "True",
                            "BackoffLimitExceeded",
                            "Job has reached the specified backoff limit",
                            &now
                        ),
                    ]),
                );
            } else {
                s.insert("succeeded".into(), json!(completions));
                s.insert("completionTime".into(), json!(now));
                s.insert(
                    "conditions".into(),
                    json!([
                        job_cond(
                            "SuccessCriteriaMet",
                            "True",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                            &now
                        ),
                        job_cond(
                            "Complete",
                            "True",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                            &now
                        ),
                    ]),
                );
            }
        }
        _ => return None,
    }
    Some(Value::Object(s))
}

fn needs_status(kind: &str, o: &Value) -> bool {
    if get_path(o, &["metadata", "deletionTimestamp"]).is_some() {
        return false;
    }
    if kind == "Job" {
        let done = get_path(o, &["status", "conditions"])
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| matches!(get_str(c, &["type"]), Some("Complete") | Some("Failed")))
            });
        return !done;
    }
    let generation = get_path(o, &["metadata", "generation"]).and_then(Value::as_i64);
    let observed = get_path(o, &["status", "observedGeneration"]).and_then(Value::as_i64);
    generation != observed
}

fn workloads(
    state: &mut State,
    seen: &mut HashMap<String, (i64, Instant)>,
    delay: std::time::Duration,
) {
    let kinds = [
        ("apps", "deployments", "Deployment"),
        ("apps", "statefulsets", "StatefulSet"),
        ("apps", "daemonsets", "DaemonSet"),
        ("apps", "replicasets", "ReplicaSet"),
        ("batch", "jobs", "Job"),
    ];
    let mut live: HashSet<String> = HashSet::new();
    for (group, plural, kind) in kinds {
        let g = gr(group, plural);
        let Some(def) = state.registry.find_gr(&g).cloned() else {
            continue;
        };
        let pending: Vec<Value> = state
            .store
            .list(&g, None)
            .into_iter()
            .filter(|o| needs_status(kind, o))
            .cloned()
            .collect();
        for o in pending {
            let uid = get_str(&o, &["metadata", "uid"]).unwrap_or("").to_string();
            let generation = get_path(&o, &["metadata", "generation"])
                .and_then(Value::as_i64)
                .unwrap_or(1);
            live.insert(uid.clone());
            let entry = seen
                .entry(uid.clone())
                .or_insert((generation, Instant::now()));
            if entry.0 != generation {
                *entry = (generation, Instant::now());
            }
            if entry.1.elapsed() < delay {
                continue;
            }
            let Some(status) = workload_status(kind, &o) else {
                continue;
            };
            let mut new = o.clone();
            if let Some(m) = new.as_object_mut() {
                m.insert("status".into(), status);
            }
            let schema = state.merge_schema.clone();
            if let Err(e) = crate::patch::track_update(
                &schema,
                &def,
                Some(&o),
                &mut new,
                "kube-controller-manager",
                Some("status"),
            ) {
                tracing::warn!(error = %e.message, "managedFields not updated for workload status");
            }
            state.store.put(&g, new);
            seen.remove(&uid);
        }
    }
    seen.retain(|k, _| live.contains(k));
}
