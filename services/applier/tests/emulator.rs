//! Applier and Kustomization reconcile against the Kubernetes API emulator (or `KUBECONFIG`).

mod common;

use std::time::Duration;

use applier::apply::{Action, Applier, ApplyError, FIELD_MANAGER, OWNER_NAME_LABEL};
use applier::reconcile::{
    self, Context, DRIFT_CORRECTED, DRIFT_DETECTED, DRIFTED, MemoryRenders, Outcome,
    ReconcileError, Rendered,
};
use common::*;
use flux_api::conditions::{self, types};
use flux_api::kustomize::Kustomization;
use flux_api::meta::ConditionStatus;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const REV1: &str = "main@sha1:1111111111111111111111111111111111111111";
const REV2: &str = "main@sha1:2222222222222222222222222222222222222222";

async fn ensure_namespace(client: &Client, ns: &str) {
    Applier::new(client.clone())
        .apply_all(parse(&namespace_yaml(ns)), &options("test", "test"))
        .await
        .expect("namespace applies");
}

async fn configmap(client: &Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get ConfigMap")
}

// ---------------------------------------------------------------- apply

#[tokio::test]
async fn crd_and_its_custom_resources_apply_in_one_bundle_and_a_reapply_is_unchanged() {
    let c = cluster().await;
    let ns = unique("widgets");
    let bundle = format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: {ns}\nspec:\n  size: 3\n---\n{}---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    listKind: WidgetList\n    plural: widgets\n    singular: widget\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n",
        namespace_yaml(&ns)
    );
    let applier = Applier::new(c.client.clone());
    let opts = options("widgets", "flux-system");
    let first = applier
        .apply_all(parse(&bundle), &opts)
        .await
        .expect("CRD, namespace and custom resource apply in one go");
    let order: Vec<String> = first.entries.iter().map(|e| e.meta.kind.clone()).collect();
    assert_eq!(
        order,
        vec!["CustomResourceDefinition", "Namespace", "Widget"]
    );
    assert_eq!(first.count(Action::Unchanged), 0);
    let widget = first
        .entries
        .iter()
        .find(|e| e.meta.kind == "Widget")
        .expect("widget entry");
    assert_eq!(widget.action, Action::Created);

    let second = applier
        .apply_all(parse(&bundle), &opts)
        .await
        .expect("re-apply");
    assert!(
        second.entries.iter().all(|e| e.action == Action::Unchanged),
        "re-apply changed something: {second:?}"
    );
}

#[tokio::test]
async fn reapply_of_listed_objects_reports_only_the_one_another_manager_edited() {
    let c = cluster().await;
    let ns = unique("listed");
    ensure_namespace(&c.client, &ns).await;
    let bundle = ["a", "b", "c"]
        .map(|n| configmap_yaml(&ns, n, "v1", ""))
        .join("---\n");
    let applier = Applier::new(c.client.clone());
    let opts = options("listed", "flux-system");
    let first = applier
        .apply_all(parse(&bundle), &opts)
        .await
        .expect("apply");
    assert_eq!(first.count(Action::Created), 3, "{first:?}");

    edit_configmap(&c.client, &ns, "b", "edited").await;
    let second = applier
        .apply_all(parse(&bundle), &opts)
        .await
        .expect("re-apply");
    let action = |name: &str| {
        second
            .entries
            .iter()
            .find(|e| e.meta.name == name)
            .map(|e| e.action)
    };
    assert_eq!(action("a"), Some(Action::Unchanged), "{second:?}");
    assert_eq!(action("b"), Some(Action::Configured), "{second:?}");
    assert_eq!(action("c"), Some(Action::Unchanged), "{second:?}");
    let b = configmap(&c.client, &ns, "b").await.expect("b exists");
    assert_eq!(
        b.data.unwrap_or_default().get("key").map(String::as_str),
        Some("v1")
    );
}

#[tokio::test]
async fn objects_of_unknown_kinds_fail_with_the_object_named() {
    let c = cluster().await;
    let ns = unique("unknown");
    ensure_namespace(&c.client, &ns).await;
    let yaml = format!(
        "apiVersion: nowhere.example.com/v1\nkind: Ghost\nmetadata:\n  name: g\n  namespace: {ns}\n"
    );
    let err = Applier::new(c.client.clone())
        .apply_all(parse(&yaml), &options("x", "y"))
        .await
        .expect_err("unknown kind fails");
    assert!(
        matches!(&err.errors[0], ApplyError::UnknownKind { object, .. } if object.contains("Ghost/"))
    );
}

#[tokio::test]
async fn immutable_selector_change_fails_naming_the_field_without_force() {
    let c = cluster().await;
    let ns = unique("immutable");
    ensure_namespace(&c.client, &ns).await;
    let applier = Applier::new(c.client.clone());
    let opts = options("app", "flux-system");
    applier
        .apply_all(parse(&deployment_yaml(&ns, "web", "a", "")), &opts)
        .await
        .expect("first apply");
    let err = applier
        .apply_all(parse(&deployment_yaml(&ns, "web", "b", "")), &opts)
        .await
        .expect_err("selector change is refused");
    match &err.errors[0] {
        ApplyError::Immutable { object, fields, .. } => {
            assert_eq!(object, &format!("Deployment/{ns}/web"));
            assert!(fields.contains("spec.selector"), "fields: {fields}");
        }
        other => panic!("expected an immutable-field error, got {other:?}"),
    }
}

#[tokio::test]
async fn immutable_selector_change_recreates_the_object_with_force() {
    let c = cluster().await;
    let ns = unique("force");
    ensure_namespace(&c.client, &ns).await;
    let applier = Applier::new(c.client.clone());
    let mut opts = options("app", "flux-system");
    applier
        .apply_all(parse(&deployment_yaml(&ns, "web", "a", "")), &opts)
        .await
        .expect("first apply");
    let api = Api::<Deployment>::namespaced(c.client.clone(), &ns);
    let old_uid = api.get("web").await.expect("deployment").uid();
    // Per-object annotation.
    let annotated = deployment_yaml(
        &ns,
        "web",
        "b",
        "kustomize.toolkit.fluxcd.io/force: Enabled",
    );
    let changes = applier
        .apply_all(parse(&annotated), &opts)
        .await
        .expect("annotation allows recreate");
    assert!(changes.entries[0].recreated);
    let after = api.get("web").await.expect("deployment recreated");
    assert_ne!(after.uid(), old_uid);
    let selector = after
        .spec
        .and_then(|s| s.selector.match_labels)
        .unwrap_or_default();
    assert_eq!(selector.get("app").map(String::as_str), Some("b"));
    // spec.force.
    opts.force = true;
    let changes = applier
        .apply_all(parse(&deployment_yaml(&ns, "web", "c", "")), &opts)
        .await
        .expect("spec.force allows recreate");
    assert_eq!(changes.entries[0].action, Action::Created);
    assert!(changes.entries[0].recreated);
}

#[tokio::test]
async fn takeover_from_the_kustomize_controller_manager_removes_fields_flux_applied() {
    let c = cluster().await;
    let ns = unique("takeover");
    ensure_namespace(&c.client, &ns).await;
    let api = Api::<ConfigMap>::namespaced(c.client.clone(), &ns);
    let flux_applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": ns},
        "data": {"key": "v", "old": "from-flux"}});
    api.patch(
        "cfg",
        &PatchParams::apply("kustomize-controller").force(),
        &Patch::Apply(&flux_applied),
    )
    .await
    .expect("Flux's manager applies");
    let changes = Applier::new(c.client.clone())
        .apply_all(
            parse(&configmap_yaml(&ns, "cfg", "v", "")),
            &options("app", "flux-system"),
        )
        .await
        .expect("Ferry applies");
    assert_eq!(changes.entries[0].action, Action::Configured);
    let cm = api.get("cfg").await.expect("ConfigMap");
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("v"));
    assert!(
        !data.contains_key("old"),
        "field owned by kustomize-controller survived: {data:?}"
    );
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&FIELD_MANAGER.to_owned()), "{managers:?}");
    assert!(
        !managers.iter().any(|m| m == "kustomize-controller"),
        "{managers:?}"
    );
}

#[tokio::test]
async fn conflicting_field_manager_is_overridden_by_the_forced_apply() {
    let c = cluster().await;
    let ns = unique("conflict");
    ensure_namespace(&c.client, &ns).await;
    let api = Api::<ConfigMap>::namespaced(c.client.clone(), &ns);
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": ns}, "data": {"key": "theirs"}});
    api.patch("cfg", &PatchParams::apply("helm"), &Patch::Apply(&other))
        .await
        .expect("another manager applies");
    Applier::new(c.client.clone())
        .apply_all(
            parse(&configmap_yaml(&ns, "cfg", "ours", "")),
            &options("app", "flux-system"),
        )
        .await
        .expect("forced apply wins the conflict");
    let data = api.get("cfg").await.expect("cm").data.unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("ours"));
}

#[tokio::test]
async fn if_not_present_objects_are_created_once_and_ignored_objects_never() {
    let c = cluster().await;
    let ns = unique("policy");
    ensure_namespace(&c.client, &ns).await;
    let applier = Applier::new(c.client.clone());
    let opts = options("app", "flux-system");
    let yaml = format!(
        "{}---\n{}",
        configmap_yaml(
            &ns,
            "once",
            "v1",
            "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"
        ),
        configmap_yaml(
            &ns,
            "never",
            "v1",
            "kustomize.toolkit.fluxcd.io/ssa: Ignore"
        )
    );
    let first = applier.apply_all(parse(&yaml), &opts).await.expect("apply");
    assert_eq!(first.count(Action::Created), 1);
    assert_eq!(first.count(Action::Skipped), 1);
    assert!(configmap(&c.client, &ns, "never").await.is_none());
    let changed = yaml.replace("key: \"v1\"", "key: \"v2\"");
    let second = applier
        .apply_all(parse(&changed), &opts)
        .await
        .expect("apply");
    assert_eq!(second.count(Action::Skipped), 2);
    let data = configmap(&c.client, &ns, "once")
        .await
        .and_then(|c| c.data)
        .unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("v1"));
}

// ---------------------------------------------------------------- reconcile

struct Env {
    cluster: Cluster,
    ns: String,
    ctx: Context<MemoryRenders>,
}

async fn env(prefix: &str) -> Env {
    let cluster = cluster().await;
    install_flux_crds(&cluster.client).await;
    let ns = unique(prefix);
    ensure_namespace(&cluster.client, &ns).await;
    let mut ctx = Context::new(cluster.client.clone(), MemoryRenders::default());
    ctx.kube_config = Some(cluster.config.clone());
    Env { cluster, ns, ctx }
}

impl Env {
    async fn kustomization(
        &self,
        name: &str,
        extra_spec: serde_json::Value,
        annotations: serde_json::Value,
    ) {
        let mut spec = json!({"interval": "1m", "prune": true, "timeout": "30s",
            "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
            for (k, v) in extra {
                s.insert(k.clone(), v.clone());
            }
        }
        let ks: Kustomization = serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": self.ns, "annotations": annotations},
            "spec": spec
        }))
        .expect("valid Kustomization");
        Api::<Kustomization>::namespaced(self.cluster.client.clone(), &self.ns)
            .create(&PostParams::default(), &ks)
            .await
            .expect("Kustomization created");
    }

    async fn render(&self, name: &str, revision: &str, manifests: String) {
        self.ctx
            .renders
            .set(
                &self.ns,
                name,
                Ok(Rendered {
                    revision: revision.into(),
                    manifests,
                }),
            )
            .await;
    }

    async fn get(&self, name: &str) -> Kustomization {
        Api::<Kustomization>::namespaced(self.cluster.client.clone(), &self.ns)
            .get(name)
            .await
            .expect("Kustomization")
    }

    async fn reconcile(&self, name: &str) -> (Result<Outcome, ReconcileError>, Kustomization) {
        let ks = self.get(name).await;
        let result = reconcile::reconcile(&ks, &self.ctx, &CancellationToken::new()).await;
        (result, self.get(name).await)
    }
}

fn ready(ks: &Kustomization) -> (ConditionStatus, String, String) {
    let status = ks.status.clone().unwrap_or_default();
    let c = conditions::find(status.conditions(), types::READY)
        .cloned()
        .expect("Ready condition");
    (c.status, c.reason, c.message)
}

fn condition(ks: &Kustomization, type_: &str) -> Option<flux_api::meta::Condition> {
    let status = ks.status.clone().unwrap_or_default();
    conditions::find(status.conditions(), type_).cloned()
}

#[tokio::test]
async fn reconcile_applies_writes_flux_status_and_prunes_a_removed_object_but_not_a_prune_disabled_one()
 {
    let e = env("prune").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({}), json!({})).await;
    let all = format!(
        "{}---\n{}---\n{}",
        configmap_yaml(&ns, "a", "1", ""),
        configmap_yaml(&ns, "b", "1", "kustomize.toolkit.fluxcd.io/prune: disabled"),
        configmap_yaml(&ns, "c", "1", "")
    );
    e.render("app", REV1, all).await;
    let (result, ks) = e.reconcile("app").await;
    assert_eq!(result, Ok(Outcome::Requeue(Duration::from_secs(60))));
    assert_eq!(
        ready(&ks),
        (
            ConditionStatus::True,
            "ReconciliationSucceeded".into(),
            format!("Applied revision: {REV1}")
        )
    );
    let status = ks.status.clone().unwrap_or_default();
    assert_eq!(status.last_applied_revision.as_deref(), Some(REV1));
    assert_eq!(status.observed_generation, ks.metadata.generation);
    let ids: Vec<String> = status
        .inventory
        .clone()
        .unwrap_or_default()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        vec![
            format!("{ns}_a__ConfigMap"),
            format!("{ns}_b__ConfigMap"),
            format!("{ns}_c__ConfigMap")
        ]
    );
    assert!(ks.finalizers().iter().any(|f| f == "finalizers.fluxcd.io"));
    let a = configmap(&e.cluster.client, &ns, "a")
        .await
        .expect("a exists");
    assert_eq!(
        a.labels().get(OWNER_NAME_LABEL).map(String::as_str),
        Some("app")
    );

    e.render("app", REV2, configmap_yaml(&ns, "a", "1", ""))
        .await;
    let (result, ks) = e.reconcile("app").await;
    assert!(result.is_ok(), "{result:?}");
    assert!(configmap(&e.cluster.client, &ns, "a").await.is_some());
    assert!(
        configmap(&e.cluster.client, &ns, "b").await.is_some(),
        "prune: disabled object was deleted"
    );
    let c_gone = configmap(&e.cluster.client, &ns, "c")
        .await
        .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
    assert!(c_gone, "removed object was not pruned");
    let history = ks
        .status
        .as_ref()
        .and_then(|s| s.history.clone())
        .unwrap_or_default();
    let revisions: Vec<(&str, &str, i64)> = history
        .iter()
        .map(|s| {
            let rev = s.metadata.as_ref().and_then(|m| m.get("revision"));
            (
                rev.map(String::as_str).unwrap_or_default(),
                s.last_reconciled_status.as_str(),
                s.total_reconciliations,
            )
        })
        .collect();
    assert_eq!(
        revisions,
        vec![
            (REV2, "ReconciliationSucceeded", 1),
            (REV1, "ReconciliationSucceeded", 1)
        ],
        "status.history, newest first"
    );
    let ids: Vec<String> = ks
        .status
        .unwrap_or_default()
        .inventory
        .unwrap_or_default()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![format!("{ns}_a__ConfigMap")]);
}

#[tokio::test]
async fn nothing_is_pruned_when_the_apply_fails_and_the_inventory_keeps_old_entries() {
    let e = env("noprune").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({}), json!({})).await;
    e.render(
        "app",
        REV1,
        format!(
            "{}---\n{}",
            configmap_yaml(&ns, "a", "1", ""),
            configmap_yaml(&ns, "b", "1", "")
        ),
    )
    .await;
    assert!(e.reconcile("app").await.0.is_ok());
    let bad = format!(
        "{}---\napiVersion: nowhere.example.com/v1\nkind: Ghost\nmetadata:\n  name: g\n  namespace: {ns}\n",
        configmap_yaml(&ns, "a", "1", "")
    );
    e.render("app", REV2, bad).await;
    let (result, ks) = e.reconcile("app").await;
    assert!(
        matches!(result, Err(ReconcileError::Apply(ref m)) if m.contains("Ghost/")),
        "{result:?}"
    );
    let (status, reason, _) = ready(&ks);
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::False, "ReconciliationFailed")
    );
    assert!(
        configmap(&e.cluster.client, &ns, "b").await.is_some(),
        "pruned after a failed apply"
    );
    let s = ks.status.unwrap_or_default();
    assert_eq!(s.last_applied_revision.as_deref(), Some(REV1));
    assert_eq!(s.last_attempted_revision.as_deref(), Some(REV2));
    assert_eq!(s.inventory.unwrap_or_default().entries.len(), 2);
}

fn failing_deployment(ns: &str) -> String {
    // The emulator reads the annotation; a real cluster fails the unpullable image at the
    // 1-second progress deadline.
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: {ns}\n  annotations:\n    emulator.ferry.dev/fail: progress-deadline\nspec:\n  progressDeadlineSeconds: 1\n  replicas: 1\n  selector:\n    matchLabels:\n      app: broken\n  template:\n    metadata:\n      labels:\n        app: broken\n    spec:\n      containers:\n      - name: main\n        image: ferry.invalid/does-not-exist:0\n"
    )
}

#[tokio::test]
async fn failing_deployment_gives_health_check_failed_while_another_kustomization_becomes_ready() {
    let e = env("health").await;
    let ns = e.ns.clone();
    e.kustomization("bad", json!({"wait": true}), json!({}))
        .await;
    e.kustomization(
        "good",
        json!({"healthChecks": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]}),
        json!({}),
    )
    .await;
    e.render("bad", REV1, failing_deployment(&ns)).await;
    e.render("good", REV1, deployment_yaml(&ns, "web", "web", ""))
        .await;
    let ((bad_result, bad), (good_result, good)) =
        tokio::join!(e.reconcile("bad"), e.reconcile("good"));
    assert!(
        matches!(bad_result, Err(ReconcileError::Health(_))),
        "{bad_result:?}"
    );
    let (status, reason, message) = ready(&bad);
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::False, "HealthCheckFailed")
    );
    assert!(
        message.contains(&format!("Deployment/{ns}/broken")),
        "{message}"
    );
    let healthy = condition(&bad, types::HEALTHY).expect("Healthy");
    assert_eq!(healthy.status, ConditionStatus::False);
    assert!(good_result.is_ok(), "{good_result:?}");
    assert_eq!(ready(&good).0, ConditionStatus::True);
    assert_eq!(
        condition(&good, types::HEALTHY).map(|c| c.status),
        Some(ConditionStatus::True)
    );
}

#[tokio::test]
async fn depends_on_waits_until_the_dependency_is_ready_at_its_sources_revision() {
    let e = env("deps").await;
    let ns = e.ns.clone();
    let repos: Api<DynamicObject> = Api::namespaced_with(
        e.cluster.client.clone(),
        &ns,
        &reconcile::source_resource(
            &serde_json::from_value(json!({"kind": "GitRepository", "name": "repo"})).expect("ref"),
        ),
    );
    let repo: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {"url": "https://example.invalid/repo.git", "interval": "1m"}
    }))
    .expect("GitRepository");
    repos
        .create(&PostParams::default(), &repo)
        .await
        .expect("GitRepository created");
    let status = json!({"status": {"artifact": {"path": "p", "url": "http://x/p", "revision": REV1,
        "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "lastUpdateTime": "2026-01-01T00:00:00Z"}}});
    repos
        .patch_status("repo", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("artifact status");

    e.kustomization("infra", json!({}), json!({})).await;
    e.kustomization("apps", json!({"dependsOn": [{"name": "infra"}]}), json!({}))
        .await;
    e.render("infra", REV1, configmap_yaml(&ns, "infra", "1", ""))
        .await;
    e.render("apps", REV1, configmap_yaml(&ns, "apps", "1", ""))
        .await;

    let (result, apps) = e.reconcile("apps").await;
    assert!(
        matches!(result, Err(ReconcileError::DependencyNotReady(_))),
        "{result:?}"
    );
    assert_eq!(ready(&apps).1, "DependencyNotReady");
    assert!(
        configmap(&e.cluster.client, &ns, "apps").await.is_none(),
        "applied before its dependency"
    );

    assert!(e.reconcile("infra").await.0.is_ok());
    let (result, apps) = e.reconcile("apps").await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(ready(&apps).0, ConditionStatus::True);
    assert!(configmap(&e.cluster.client, &ns, "apps").await.is_some());
}

async fn edit_configmap(client: &Client, ns: &str, name: &str, value: &str) {
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            name,
            &params,
            &Patch::Merge(&json!({"data": {"key": value}})),
        )
        .await
        .expect("manual edit");
}

#[tokio::test]
async fn manual_edit_is_corrected_at_the_next_reconcile_and_reported() {
    let e = env("drift").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({}), json!({})).await;
    e.render("app", REV1, configmap_yaml(&ns, "cfg", "desired", ""))
        .await;
    assert!(e.reconcile("app").await.0.is_ok());
    edit_configmap(&e.cluster.client, &ns, "cfg", "edited").await;
    let (result, ks) = e.reconcile("app").await;
    assert!(result.is_ok(), "{result:?}");
    let data = configmap(&e.cluster.client, &ns, "cfg")
        .await
        .and_then(|c| c.data)
        .unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("desired"));
    let drifted = condition(&ks, DRIFTED).expect("Drifted condition");
    assert_eq!(drifted.reason, DRIFT_CORRECTED);
    assert!(
        drifted
            .message
            .contains(&format!("ConfigMap/{ns}/cfg: /data/key")),
        "{}",
        drifted.message
    );
}

#[tokio::test]
async fn warn_only_mode_reports_drift_without_touching_the_cluster() {
    let e = env("warn").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({}), json!({"ferry.dev/drift": "warn"}))
        .await;
    e.render("app", REV1, configmap_yaml(&ns, "cfg", "desired", ""))
        .await;
    assert!(e.reconcile("app").await.0.is_ok());
    edit_configmap(&e.cluster.client, &ns, "cfg", "edited").await;
    let (result, ks) = e.reconcile("app").await;
    assert!(result.is_ok(), "{result:?}");
    let data = configmap(&e.cluster.client, &ns, "cfg")
        .await
        .and_then(|c| c.data)
        .unwrap_or_default();
    assert_eq!(
        data.get("key").map(String::as_str),
        Some("edited"),
        "warn-only mode corrected drift"
    );
    let drifted = condition(&ks, DRIFTED).expect("Drifted condition");
    assert_eq!(drifted.reason, DRIFT_DETECTED);
    assert!(drifted.message.contains("/data/key"), "{}", drifted.message);
}

#[tokio::test]
async fn suspended_kustomization_is_not_applied_until_resumed() {
    let e = env("suspend").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({"suspend": true}), json!({}))
        .await;
    e.render("app", REV1, configmap_yaml(&ns, "cfg", "v", ""))
        .await;
    let (result, _) = e.reconcile("app").await;
    assert_eq!(result, Ok(Outcome::Idle));
    assert!(configmap(&e.cluster.client, &ns, "cfg").await.is_none());
    Api::<Kustomization>::namespaced(e.cluster.client.clone(), &ns)
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"suspend": false}})),
        )
        .await
        .expect("resume");
    assert!(e.reconcile("app").await.0.is_ok());
    assert!(configmap(&e.cluster.client, &ns, "cfg").await.is_some());
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Gadget\n    listKind: GadgetList\n    plural: gadgets\n    singular: gadget\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    subresources:\n      status: {}\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";

#[tokio::test]
async fn health_check_exprs_wait_for_a_custom_resource_to_become_ready() {
    let e = env("cel").await;
    let ns = e.ns.clone();
    let checks = json!({
        "healthChecks": [{"apiVersion": "example.com/v1", "kind": "Gadget", "name": "g"}],
        "healthCheckExprs": [{"apiVersion": "example.com/v1", "kind": "Gadget",
            "current": "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True')",
            "failed": "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'False')"}]
    });
    e.kustomization("app", checks, json!({})).await;
    let gadget = format!(
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: {ns}\nspec:\n  size: 1\n"
    );
    e.render("app", REV1, format!("{WIDGET_CRD}---\n{gadget}"))
        .await;
    // A stand-in controller marks the gadget Ready a little after it appears.
    let client = e.cluster.client.clone();
    let ns2 = ns.clone();
    let controller = tokio::spawn(async move {
        let gvk = kube::core::GroupVersionKind::gvk("example.com", "v1", "Gadget");
        let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, "gadgets");
        let api: Api<DynamicObject> = Api::namespaced_with(client, &ns2, &ar);
        for _ in 0..200 {
            if let Ok(Some(_)) = api.get_opt("g").await {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
                    "reason": "Done", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                let _ = api
                    .patch_status("g", &PatchParams::default(), &Patch::Merge(&status))
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (result, ks) = e.reconcile("app").await;
    controller.await.expect("stand-in controller");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        condition(&ks, types::HEALTHY).map(|c| c.status),
        Some(ConditionStatus::True)
    );
}

#[tokio::test]
async fn health_check_expr_that_does_not_compile_stalls_with_invalid_cel_expression() {
    let e = env("badcel").await;
    let spec =
        json!({"healthCheckExprs": [{"apiVersion": "example.com/v1", "current": "status.("}]});
    e.kustomization("app", spec, json!({})).await;
    e.render("app", REV1, configmap_yaml(&e.ns, "cfg", "v", ""))
        .await;
    let (result, ks) = e.reconcile("app").await;
    assert!(
        matches!(result, Err(ReconcileError::InvalidExpression(_))),
        "{result:?}"
    );
    assert_eq!(ready(&ks).1, "InvalidCELExpression");
    assert_eq!(
        condition(&ks, types::STALLED).map(|c| c.status),
        Some(ConditionStatus::True)
    );
}

#[tokio::test]
async fn kube_config_secret_applies_to_a_remote_cluster() {
    let e = env("remote").await;
    let ns = e.ns.clone();
    let remote = kube_emulator::Emulator::start(kube_emulator::EmulatorConfig::default())
        .await
        .expect("second emulator");
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("remote-kubeconfig".into()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        data: Some(std::collections::BTreeMap::from([(
            "value".to_owned(),
            k8s_openapi::ByteString(remote.kubeconfig_yaml().into_bytes()),
        )])),
        ..Default::default()
    };
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(e.cluster.client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("kubeconfig Secret");
    e.kustomization(
        "app",
        json!({"kubeConfig": {"secretRef": {"name": "remote-kubeconfig"}}}),
        json!({}),
    )
    .await;
    let target = "remote-apps";
    e.render(
        "app",
        REV1,
        format!(
            "{}---\n{}",
            namespace_yaml(target),
            configmap_yaml(target, "cfg", "v", "")
        ),
    )
    .await;
    let (result, ks) = e.reconcile("app").await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(ready(&ks).0, ConditionStatus::True);
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&remote.kubeconfig_yaml()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let remote_client = Client::try_from(config).expect("remote client");
    assert!(
        configmap(&remote_client, target, "cfg").await.is_some(),
        "not applied to the remote cluster"
    );
    assert!(
        configmap(&e.cluster.client, target, "cfg").await.is_none(),
        "applied to the local cluster"
    );
}

async fn delete_and_finalize(e: &Env, name: &str) {
    Api::<Kustomization>::namespaced(e.cluster.client.clone(), &e.ns)
        .delete(name, &Default::default())
        .await
        .expect("delete Kustomization");
    let ks = e.get(name).await;
    assert!(
        ks.metadata.deletion_timestamp.is_some(),
        "finalizer did not hold the object"
    );
    let result = reconcile::reconcile(&ks, &e.ctx, &CancellationToken::new()).await;
    assert_eq!(result, Ok(Outcome::Idle));
    let gone = Api::<Kustomization>::namespaced(e.cluster.client.clone(), &e.ns)
        .get_opt(name)
        .await
        .expect("get");
    assert!(gone.is_none(), "finalizer not removed");
}

#[tokio::test]
async fn deleting_a_kustomization_deletes_its_objects_unless_the_policy_is_orphan() {
    let e = env("finalize").await;
    let ns = e.ns.clone();
    e.kustomization("mirror", json!({}), json!({})).await;
    e.kustomization("orphan", json!({"deletionPolicy": "Orphan"}), json!({}))
        .await;
    e.render("mirror", REV1, configmap_yaml(&ns, "m", "v", ""))
        .await;
    e.render("orphan", REV1, configmap_yaml(&ns, "o", "v", ""))
        .await;
    assert!(e.reconcile("mirror").await.0.is_ok());
    assert!(e.reconcile("orphan").await.0.is_ok());
    delete_and_finalize(&e, "mirror").await;
    delete_and_finalize(&e, "orphan").await;
    let m_gone = configmap(&e.cluster.client, &ns, "m")
        .await
        .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
    assert!(m_gone, "MirrorPrune with prune: true kept the object");
    assert!(
        configmap(&e.cluster.client, &ns, "o").await.is_some(),
        "Orphan deleted the object"
    );
}

#[tokio::test]
async fn objects_owned_by_another_kustomization_are_never_pruned() {
    let e = env("owner").await;
    let ns = e.ns.clone();
    e.kustomization("first", json!({}), json!({})).await;
    e.kustomization("second", json!({}), json!({})).await;
    e.render("first", REV1, configmap_yaml(&ns, "shared", "v", ""))
        .await;
    assert!(e.reconcile("first").await.0.is_ok());
    // The second Kustomization takes the object over, then the first drops it.
    e.render("second", REV1, configmap_yaml(&ns, "shared", "v", ""))
        .await;
    assert!(e.reconcile("second").await.0.is_ok());
    e.render("first", REV2, configmap_yaml(&ns, "other", "v", ""))
        .await;
    assert!(e.reconcile("first").await.0.is_ok());
    let shared = configmap(&e.cluster.client, &ns, "shared")
        .await
        .expect("still there");
    assert_eq!(
        shared.labels().get(OWNER_NAME_LABEL).map(String::as_str),
        Some("second")
    );
}

#[tokio::test]
async fn diff_reports_created_configured_unchanged_and_pruned_objects_with_fields() {
    let e = env("diff").await;
    let ns = e.ns.clone();
    e.kustomization("app", json!({}), json!({})).await;
    e.render(
        "app",
        REV1,
        format!(
            "{}---\n{}---\n{}",
            configmap_yaml(&ns, "same", "v", ""),
            configmap_yaml(&ns, "edited", "v", ""),
            configmap_yaml(&ns, "gone", "v", "")
        ),
    )
    .await;
    assert!(e.reconcile("app").await.0.is_ok());
    edit_configmap(&e.cluster.client, &ns, "edited", "manual").await;
    e.render(
        "app",
        REV2,
        format!(
            "{}---\n{}---\n{}",
            configmap_yaml(&ns, "same", "v", ""),
            configmap_yaml(&ns, "edited", "v", ""),
            configmap_yaml(&ns, "new", "v", "")
        ),
    )
    .await;
    let ks = e.get("app").await;
    let diff = reconcile::diff(&ks, &e.ctx, true).await.expect("diff");
    assert_eq!(diff.revision, REV2);
    let action = |name: &str| {
        diff.objects
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.action.clone())
            .unwrap_or_default()
    };
    assert_eq!(action("same"), "unchanged");
    assert_eq!(action("edited"), "configured");
    assert_eq!(action("new"), "created");
    assert_eq!(action("gone"), "pruned");
    let edited = diff
        .objects
        .iter()
        .find(|o| o.name == "edited")
        .expect("edited");
    assert_eq!(edited.changes[0].path, "/data/key");
    assert_eq!(
        (
            edited.changes[0].before.as_str(),
            edited.changes[0].after.as_str()
        ),
        ("manual", "v")
    );
    // Nothing was changed by the dry run.
    let data = configmap(&e.cluster.client, &ns, "edited")
        .await
        .and_then(|c| c.data)
        .unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("manual"));
    assert!(configmap(&e.cluster.client, &ns, "new").await.is_none());
}

fn stuck_statefulset(ns: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: stuck\n  namespace: {ns}\n  annotations:\n    emulator.ferry.dev/fail: \"true\"\nspec:\n  serviceName: stuck\n  replicas: 1\n  selector:\n    matchLabels:\n      app: stuck\n  template:\n    metadata:\n      labels:\n        app: stuck\n    spec:\n      containers:\n      - name: main\n        image: ferry.invalid/does-not-exist:0\n"
    )
}

#[tokio::test]
async fn health_wait_runs_in_its_own_task_after_the_status_says_health_check_in_progress() {
    let e = env("detached").await;
    let ns = e.ns.clone();
    e.kustomization("bad", json!({"wait": true}), json!({}))
        .await;
    e.render("bad", REV1, failing_deployment(&ns)).await;
    let ks = e.get("bad").await;
    let step = reconcile::reconcile_until_health(&ks, &e.ctx)
        .await
        .expect("apply phase");
    let reconcile::Step::HealthPending(pending) = step else {
        panic!("expected a pending health wait");
    };
    // The worker is free now: the status tells the user what is going on.
    let during = e.get("bad").await;
    let reconciling = condition(&during, types::RECONCILING).expect("Reconciling");
    assert!(
        reconciling.message.starts_with("Health check in progress"),
        "{}",
        reconciling.message
    );
    assert_eq!(ready(&during).0, ConditionStatus::Unknown);
    let ctx = e.ctx.clone();
    let task = tokio::spawn(async move { pending.complete(&ctx, &CancellationToken::new()).await });
    let result = task.await.expect("health task");
    assert!(
        matches!(result, Err(ReconcileError::Health(_))),
        "{result:?}"
    );
    assert_eq!(ready(&e.get("bad").await).1, "HealthCheckFailed");
}

#[tokio::test]
async fn a_newer_reconcile_cancels_the_pending_health_wait() {
    let e = env("cancel").await;
    let ns = e.ns.clone();
    e.kustomization("slow", json!({"wait": true}), json!({}))
        .await;
    e.render("slow", REV1, stuck_statefulset(&ns)).await;
    let inflight = reconcile::InFlight::default();
    let first = inflight.begin(&ns, "slow");
    let ks = e.get("slow").await;
    let reconcile::Step::HealthPending(pending) = reconcile::reconcile_until_health(&ks, &e.ctx)
        .await
        .expect("apply phase")
    else {
        panic!("expected a pending health wait");
    };
    let ctx = e.ctx.clone();
    let token = first.token().clone();
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(async move { pending.complete(&ctx, &token).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _second = inflight.begin(&ns, "slow");
    let result = task.await.expect("health task");
    assert!(
        matches!(result, Err(ReconcileError::HealthCanceled(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancel did not stop the wait"
    );
    assert_eq!(ready(&e.get("slow").await).1, "HealthCheckCanceled");
}
