//! kube-rs 5 clients against the emulator: CRUD, conflicts, apply, status, watcher/reflector.

mod common;

use std::time::Duration;

use common::{CRD, Cluster, eventually};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube_emulator::{EmulatorConfig, FaultKind, FaultRule};
use serde_json::json;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"v": value},
    }))
    .expect("configmap")
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected API error, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_rs_crud_roundtrip_with_real_status_codes() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let created = api
        .create(&PostParams::default(), &cm("one", "1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let err = api
        .create(&PostParams::default(), &cm("one", "1"))
        .await
        .expect_err("duplicate");
    assert_eq!(api_err(err), (409, "AlreadyExists".into()));
    let mut got = api.get("one").await.expect("get");
    got.data = Some([("v".to_string(), "2".to_string())].into());
    let replaced = api
        .replace("one", &PostParams::default(), &got)
        .await
        .expect("replace");
    let rv_a: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default()
        .parse()
        .expect("rv");
    let rv_b: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default()
        .parse()
        .expect("rv");
    assert!(rv_b > rv_a, "resourceVersion grows");
    let list = api
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    api.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    let err = api.get("one").await.expect_err("gone");
    assert_eq!(api_err(err), (404, "NotFound".into()));
}

#[tokio::test]
async fn kube_rs_stale_resource_version_gets_409_and_retry_loop_succeeds() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    api.create(&PostParams::default(), &cm("counter", "0"))
        .await
        .expect("create");
    let stale = api.get("counter").await.expect("get");
    let mut fresh = stale.clone();
    fresh.data = Some([("v".to_string(), "1".to_string())].into());
    api.replace("counter", &PostParams::default(), &fresh)
        .await
        .expect("first writer");
    let mut lost = stale.clone();
    lost.data = Some([("v".to_string(), "x".to_string())].into());
    let err = api
        .replace("counter", &PostParams::default(), &lost)
        .await
        .expect_err("stale");
    assert_eq!(api_err(err), (409, "Conflict".into()));
    // Retry loop: re-read, modify, write until it sticks.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut cur = api.get("counter").await.expect("get");
        let n: i64 = cur
            .data
            .as_ref()
            .and_then(|d| d.get("v"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        cur.data = Some([("v".to_string(), (n + 1).to_string())].into());
        match api.replace("counter", &PostParams::default(), &cur).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 5 => continue,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let end = api.get("counter").await.expect("get");
    assert_eq!(end.data.and_then(|d| d.get("v").cloned()), Some("2".into()));
}

#[tokio::test]
async fn kube_rs_patch_apply_conflicts_without_force_and_wins_with_force() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"owner": "a", "only-a": "1"}});
    api.patch(
        "shared",
        &PatchParams::apply("manager-a"),
        &Patch::Apply(&first),
    )
    .await
    .expect("apply a");
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"owner": "b"}});
    let err = api
        .patch(
            "shared",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(&second),
        )
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(s.message.contains("manager-a"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    let forced = api
        .patch(
            "shared",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(&second),
        )
        .await
        .expect("forced apply");
    let data = forced.data.expect("data");
    assert_eq!(data.get("owner").map(String::as_str), Some("b"));
    assert_eq!(data.get("only-a").map(String::as_str), Some("1"));
    // manager-a drops `only-a` from its config: the field is removed.
    let a2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {}});
    let after = api
        .patch(
            "shared",
            &PatchParams::apply("manager-a"),
            &Patch::Apply(&a2),
        )
        .await
        .expect("apply a2");
    let data = after.data.unwrap_or_default();
    assert!(!data.contains_key("only-a"), "{data:?}");
    assert_eq!(data.get("owner").map(String::as_str), Some("b"));
    let managers: Vec<String> = after
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"manager-b".to_string()), "{managers:?}");
}

async fn widget_api(c: &Cluster) -> Api<DynamicObject> {
    let client = c.client().await;
    let out = c.apply(CRD, &[]).await;
    common::assert_ok(&out, &["apply crd"]);
    let gvk = GroupVersionKind::gvk("example.ferry.dev", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    Api::namespaced_with(client, "default", &ar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_status_subresource_separates_spec_and_status() {
    let c = Cluster::start().await;
    let api = widget_api(&c).await;
    let w = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "blue"}, "status": {"phase": "Ignored"}});
    let created = api
        .patch("w", &PatchParams::apply("test"), &Patch::Apply(&w))
        .await
        .expect("apply");
    assert!(
        created.data.get("status").is_none(),
        "status ignored on main resource"
    );
    let st = json!({"status": {"phase": "Ready"}, "spec": {"color": "ignored"}});
    let patched = api
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&st))
        .await
        .expect("status patch");
    assert_eq!(patched.data["status"]["phase"], "Ready");
    assert_eq!(
        patched.data["spec"]["color"], "blue",
        "spec ignored on status"
    );
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status does not bump generation"
    );
    let spec = json!({"spec": {"color": "green"}});
    let patched = api
        .patch("w", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .expect("spec patch");
    assert_eq!(patched.metadata.generation, Some(2));
    assert_eq!(patched.data["status"]["phase"], "Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watcher_and_reflector_recover_from_resource_version_expiry() {
    let config = EmulatorConfig {
        bookmark_interval: Duration::from_secs(3600),
        ..EmulatorConfig::default()
    };
    let c = Cluster::start_with(config).await;
    let client = c.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", "1"))
        .await
        .expect("create");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let cfg = watcher::Config::default().labels("app=demo").timeout(1);
    let stream = reflector::reflector(writer, watcher(api.clone(), cfg).default_backoff());
    let inits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = inits.clone();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while let Some(ev) = s.next().await {
            if matches!(ev, Ok(watcher::Event::Init)) {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    assert!(eventually(Duration::from_secs(10), || async { reader.len() == 1 }).await);
    // Keep the watcher disconnected (its 1s watch ends, the next two re-watches fail) while
    // objects change and the history is compacted: its resume version is then expired.
    c.emu.inject_fault(FaultRule {
        path: "/api/v1/namespaces/default/configmaps".into(),
        method: Some("GET".into()),
        count: 2,
        kind: FaultKind::InternalError,
        retry_after_seconds: None,
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    api.create(&PostParams::default(), &cm("after", "2"))
        .await
        .expect("create after");
    api.delete("before", &DeleteParams::default())
        .await
        .expect("delete before");
    c.emu.compact();
    let ok = eventually(Duration::from_secs(20), || async {
        let names: Vec<String> = reader
            .state()
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        names == vec!["after".to_string()]
    })
    .await;
    assert!(ok, "reflector converged: {:?}", reader.state());
    assert!(
        inits.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "watcher re-listed after 410"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watch_from_expired_resource_version_gets_410_gone() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let list = api.list(&ListParams::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("rv");
    api.create(&PostParams::default(), &cm("x", "1"))
        .await
        .expect("create");
    c.emu.compact();
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), &rv)
        .await
        .expect("watch")
        .boxed();
    match stream.next().await {
        Some(Ok(kube::core::WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_rs_list_pagination_with_limit_and_continue() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("page-{i}"), "v"))
            .await
            .expect("create");
    }
    let mut names = vec![];
    let mut lp = ListParams::default().labels("app=demo").limit(2);
    loop {
        let page = api.list(&lp).await.expect("page");
        assert!(page.items.len() <= 2);
        names.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(
        names,
        (0..5).map(|i| format!("page-{i}")).collect::<Vec<_>>()
    );
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=page-3"))
        .await
        .expect("fields");
    assert_eq!(by_name.items.len(), 1);
}

#[tokio::test]
async fn kube_rs_dry_run_does_not_persist() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let out = api.create(&pp, &cm("dry", "1")).await.expect("dry create");
    assert_eq!(out.metadata.name.as_deref(), Some("dry"));
    assert_eq!(
        api_err(api.get("dry").await.expect_err("not stored")).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_owner_reference_garbage_collection_deletes_dependents() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", "1"))
        .await
        .expect("owner");
    let dep: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dependent", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.metadata.uid.clone().expect("uid"),
        }]},
    }))
    .expect("dep");
    api.create(&PostParams::default(), &dep)
        .await
        .expect("dependent");
    api.delete("owner", &DeleteParams::default())
        .await
        .expect("delete owner");
    assert!(
        eventually(Duration::from_secs(5), || async {
            api.get_opt("dependent").await.ok().flatten().is_none()
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_workload_stand_in_reports_job_failure_and_deployment_deadline() {
    let c = Cluster::start().await;
    let client = c.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "annotations": {"emulator.ferry.dev/fail": "backoff-limit"}},
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "busybox"}]}}},
    }))
    .expect("job");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("job");
    let failed = eventually(Duration::from_secs(5), || async {
        let j = jobs.get("migrate").await.expect("get");
        j.status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Failed" && c.status == "True"))
    })
    .await;
    assert!(failed);
    let deps: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "stuck", "annotations": {"emulator.ferry.dev/fail": "progress-deadline"}},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))
    .expect("deployment");
    deps.create(&PostParams::default(), &d)
        .await
        .expect("deployment");
    let exceeded = eventually(Duration::from_secs(5), || async {
        let d = deps.get("stuck").await.expect("get");
        d.status.and_then(|s| s.conditions).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
        })
    })
    .await;
    assert!(exceeded);
}

#[tokio::test]
async fn kube_rs_sees_injected_faults_then_recovers() {
    let c = Cluster::start().await;
    let api: Api<Namespace> = Api::all(c.client().await);
    c.emu.inject_fault(FaultRule {
        path: "/api/v1/namespaces".into(),
        method: None,
        count: 1,
        kind: FaultKind::TooManyRequests,
        retry_after_seconds: Some(2),
    });
    c.emu.inject_fault(FaultRule {
        path: "/api/v1/namespaces".into(),
        method: None,
        count: 1,
        kind: FaultKind::InternalError,
        retry_after_seconds: None,
    });
    let (status, _) = c
        .raw("GET", "/api/v1/namespaces", "application/json", b"")
        .await;
    assert_eq!(status, 429);
    let err = api.list(&ListParams::default()).await.expect_err("500");
    assert_eq!(api_err(err).0, 500);
    c.emu.inject_fault(FaultRule {
        path: "/api/v1/namespaces".into(),
        method: None,
        count: 1,
        kind: FaultKind::DropConnection,
        retry_after_seconds: None,
    });
    let (status, _) = c
        .raw("GET", "/api/v1/namespaces", "application/json", b"")
        .await;
    assert_eq!(status, 0, "connection dropped without a response");
    let list = api.list(&ListParams::default()).await.expect("recovered");
    assert!(
        list.items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("default"))
    );
    // Control endpoint.
    let rule =
        br#"{"path":"/api/v1/namespaces/default","count":1,"kind":"429","retryAfterSeconds":1}"#;
    let (status, _) = c
        .raw("POST", "/emulator/faults", "application/json", rule)
        .await;
    assert_eq!(status, 201);
    let (status, body) = c
        .raw("GET", "/api/v1/namespaces/default", "application/json", b"")
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (429, Some("TooManyRequests"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_discovery_sees_crd_kinds_once_established() {
    let c = Cluster::start().await;
    let client = c.client().await;
    let before = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(before.has_group("apps"));
    assert!(!before.has_group("example.ferry.dev"));
    let _ = widget_api(&c).await;
    let after = kube::discovery::Discovery::new(client)
        .run()
        .await
        .expect("discovery");
    let group = after
        .get("example.ferry.dev")
        .expect("CRD group discovered");
    let (ar, caps) = group.recommended_kind("Widget").expect("Widget kind");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(sub, _)| sub.plural == "widgets/status" || sub.plural == "status")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_apply_merges_crd_list_map_keys_across_managers() {
    let c = Cluster::start().await;
    let api = widget_api(&c).await;
    let a = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Widget", "metadata": {"name": "t"},
        "spec": {"tags": [{"name": "a", "value": "1"}]}});
    let b = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Widget", "metadata": {"name": "t"},
        "spec": {"tags": [{"name": "b", "value": "2"}]}});
    api.patch("t", &PatchParams::apply("m1"), &Patch::Apply(&a))
        .await
        .expect("m1");
    let merged = api
        .patch("t", &PatchParams::apply("m2"), &Patch::Apply(&b))
        .await
        .expect("m2");
    let tags = merged.data["spec"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        tags.len(),
        2,
        "x-kubernetes-list-type=map merges by key: {tags:?}"
    );
    // m1 stops applying its tag: only that item goes away.
    let a2 = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Widget", "metadata": {"name": "t"}, "spec": {}});
    let after = api
        .patch("t", &PatchParams::apply("m1"), &Patch::Apply(&a2))
        .await
        .expect("m1 again");
    assert_eq!(
        after.data["spec"]["tags"],
        json!([{"name": "b", "value": "2"}])
    );
    assert_eq!(after.data["spec"]["size"], 3, "defaults kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watch_sends_bookmarks_and_selector_transitions() {
    let config = EmulatorConfig {
        bookmark_interval: Duration::from_millis(200),
        ..EmulatorConfig::default()
    };
    let c = Cluster::start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    api.create(&PostParams::default(), &cm("sel", "1"))
        .await
        .expect("create");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let wp = kube::api::WatchParams::default().labels("app=demo");
    let mut stream = api.watch(&wp, &rv).await.expect("watch").boxed();
    // Removing the label makes the object leave the selection: DELETED.
    let unlabel = json!({"metadata": {"labels": {"app": null}}});
    api.patch("sel", &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .expect("unlabel");
    let mut saw_deleted = false;
    let mut saw_bookmark = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(saw_deleted && saw_bookmark) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            Ok(Some(Ok(kube::core::WatchEvent::Deleted(o)))) => {
                assert_eq!(o.metadata.name.as_deref(), Some("sel"));
                saw_deleted = true;
            }
            Ok(Some(Ok(kube::core::WatchEvent::Bookmark(_)))) => saw_bookmark = true,
            Ok(Some(Ok(other))) => panic!("unexpected event {other:?}"),
            Ok(Some(Err(e))) => panic!("watch error {e:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    assert!(saw_deleted, "label removal seen as DELETED");
    assert!(saw_bookmark, "bookmark received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watcher_with_streaming_lists_gets_initial_events() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("s{i}"), "v"))
            .await
            .expect("create");
    }
    let cfg = watcher::Config::default()
        .labels("app=demo")
        .streaming_lists();
    let mut stream = watcher(api, cfg).boxed();
    let mut initial = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            Ok(Some(Ok(watcher::Event::InitApply(_)))) => initial += 1,
            Ok(Some(Ok(watcher::Event::InitDone))) => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_crd_serves_every_version_and_removing_the_crd_removes_its_objects() {
    let c = Cluster::start().await;
    let client = c.client().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.ferry.dev"},
        "spec": {"group": "example.ferry.dev", "scope": "Cluster",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            ]},
    });
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let created = crds
        .patch(
            "gadgets.example.ferry.dev",
            &PatchParams::apply("test"),
            &Patch::Apply(&crd),
        )
        .await
        .expect("crd");
    let conds = created.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let api = |v: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("example.ferry.dev", v, "Gadget");
        Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, "gadgets"),
        )
    };
    let g = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Gadget", "metadata": {"name": "g"}, "x": 1});
    api("v1")
        .patch("g", &PatchParams::apply("test"), &Patch::Apply(&g))
        .await
        .expect("create v1");
    let old = api("v1beta1").get("g").await.expect("read through v1beta1");
    assert_eq!(
        old.types.map(|t| t.api_version),
        Some("example.ferry.dev/v1beta1".to_string())
    );
    crds.delete("gadgets.example.ferry.dev", &DeleteParams::default())
        .await
        .expect("delete crd");
    let (code, _) = c
        .raw(
            "GET",
            "/apis/example.ferry.dev/v1/gadgets",
            "application/json",
            b"",
        )
        .await;
    assert_eq!(code, 404, "kind gone from the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_metadata_watcher_and_get_metadata_use_partial_object_metadata() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    api.create(&PostParams::default(), &cm("meta", "1"))
        .await
        .expect("create");
    let m = api.get_metadata("meta").await.expect("get_metadata");
    assert_eq!(m.metadata.name.as_deref(), Some("meta"));
    let list = api
        .list_metadata(&ListParams::default().labels("app=demo"))
        .await
        .expect("list_metadata");
    assert_eq!(list.items.len(), 1);
    let meta_api: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(c.client().await, "default");
    let mut stream = watcher(meta_api, watcher::Config::default().labels("app=demo")).boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.next().await {
                Some(Ok(watcher::Event::InitApply(o))) => return o.metadata.name,
                Some(Ok(_)) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("event in time");
    assert_eq!(first.as_deref(), Some("meta"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_status_apply_by_controller_records_status_subresource_manager() {
    let c = Cluster::start().await;
    let api: Api<Deployment> = Api::namespaced(c.client().await, "default");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sa"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    });
    api.patch("sa", &PatchParams::apply("gitops"), &Patch::Apply(&d))
        .await
        .expect("apply");
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sa"},
        "status": {"observedGeneration": 99, "replicas": 0}});
    let out = api
        .patch_status(
            "sa",
            &PatchParams::apply("my-controller").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("status apply");
    assert_eq!(out.status.and_then(|s| s.observed_generation), Some(99));
    let entry = out
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("my-controller"))
        .expect("controller entry");
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
}

fn manager_names(obj: &ConfigMap) -> Vec<String> {
    let mut names: Vec<String> = obj
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_json_patch_of_managed_fields_hands_fields_over_to_another_applier() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handover"},
        "data": {"key": "v", "old": "theirs"}});
    api.patch(
        "handover",
        &PatchParams::apply("previous-owner"),
        &Patch::Apply(&theirs),
    )
    .await
    .expect("previous owner applies");
    // The new owner rewrites the managedFields: previous-owner's fields become its Apply entry.
    let live = api.get("handover").await.expect("get");
    let mut entries =
        serde_json::to_value(live.metadata.managed_fields.clone().unwrap_or_default())
            .expect("managedFields");
    let entry = entries
        .as_array_mut()
        .and_then(|a| a.first_mut())
        .expect("one entry");
    entry["manager"] = json!("new-owner");
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": entries}
    ]))
    .expect("json patch");
    let patched = api
        .patch(
            "handover",
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
        .expect("managedFields patched");
    assert_eq!(manager_names(&patched), vec!["new-owner".to_string()]);
    assert_ne!(
        patched.metadata.resource_version, live.metadata.resource_version,
        "a managedFields-only change is a write"
    );
    // The new owner stops applying `old`: nobody else owns it, so it is removed.
    let ours = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handover"},
        "data": {"key": "v"}});
    let after = api
        .patch(
            "handover",
            &PatchParams::apply("new-owner"),
            &Patch::Apply(&ours),
        )
        .await
        .expect("new owner applies");
    let data = after.data.clone().unwrap_or_default();
    assert_eq!(data.get("key").map(String::as_str), Some("v"));
    assert!(!data.contains_key("old"), "{data:?}");
    assert_eq!(manager_names(&after), vec!["new-owner".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_update_and_patch_replace_or_reset_managed_fields_like_the_apiserver() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let created = api
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &cm("mf", "1"),
        )
        .await
        .expect("create");
    assert_eq!(manager_names(&created), vec!["creator".to_string()]);

    // An invalid list (unknown operation) is ignored: the live entries stay.
    let bogus = json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Bogus",
        "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}}]}});
    let kept = api
        .patch("mf", &PatchParams::default(), &Patch::Merge(&bogus))
        .await
        .expect("merge patch");
    assert_eq!(manager_names(&kept), vec!["creator".to_string()]);

    // PUT with a valid list replaces the entries; the writer gets the fields it changed.
    let mut obj = api.get("mf").await.expect("get");
    obj.metadata.managed_fields = Some(
        serde_json::from_value(json!([{"manager": "restored", "operation": "Update",
            "apiVersion": "v1", "fieldsType": "FieldsV1", "time": "2024-01-01T00:00:00Z",
            "fieldsV1": {"f:data": {"f:v": {}}}}]))
        .expect("entries"),
    );
    obj.metadata
        .labels
        .get_or_insert_default()
        .insert("extra".into(), "yes".into());
    let replaced = api
        .replace(
            "mf",
            &PostParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &obj,
        )
        .await
        .expect("replace");
    assert_eq!(
        manager_names(&replaced),
        vec!["editor".to_string(), "restored".to_string()]
    );
    let entries = serde_json::to_value(replaced.metadata.managed_fields.clone()).expect("json");
    let restored = entries
        .as_array()
        .and_then(|a| a.iter().find(|e| e["manager"] == "restored"))
        .expect("restored entry");
    assert_eq!(restored["fieldsV1"], json!({"f:data": {"f:v": {}}}));
    assert_eq!(restored["time"], "2024-01-01T00:00:00Z");

    // `[{}]` resets them; later updates are not tracked (the object has no entries to extend).
    let reset = api
        .patch(
            "mf",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"managedFields": [{}]}})),
        )
        .await
        .expect("reset");
    assert!(reset.metadata.managed_fields.is_none(), "{reset:?}");
    let relabelled = api
        .patch(
            "mf",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"more": "x"}}})),
        )
        .await
        .expect("label patch");
    assert!(relabelled.metadata.managed_fields.is_none());

    // An apply starts tracking again; PUT with `[]` resets too.
    let applied = api
        .patch(
            "mf",
            &PatchParams::apply("applier"),
            &Patch::Apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "mf"}, "data": {"v": "1"}})),
        )
        .await
        .expect("apply");
    assert_eq!(
        manager_names(&applied),
        vec!["applier".to_string(), "before-first-apply".to_string()]
    );
    let mut obj = applied;
    obj.metadata.managed_fields = Some(vec![]);
    let cleared = api
        .replace("mf", &PostParams::default(), &obj)
        .await
        .expect("replace with []");
    assert!(cleared.metadata.managed_fields.is_none(), "{cleared:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_secret_string_data_is_merged_into_data_and_never_stored() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let c = Cluster::start().await;
    let api: Api<Secret> = Api::namespaced(c.client().await, "default");
    let text = |s: &Secret, k: &str| {
        s.data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"user": "YWRtaW4=", "password": "b2xk"},
        "stringData": {"password": "s3cret", "token": "t0ken"},
    }))
    .expect("secret");
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    assert_eq!(text(&created, "user").as_deref(), Some("admin"));
    assert_eq!(text(&created, "password").as_deref(), Some("s3cret"));
    assert_eq!(text(&created, "token").as_deref(), Some("t0ken"));
    assert!(created.string_data.is_none());
    let raw = api.get("creds").await.expect("get");
    assert_eq!(
        serde_json::to_value(&raw).expect("json")["data"]["password"],
        "czNjcmV0"
    );
    assert!(raw.string_data.is_none());
    assert_eq!(raw.type_.as_deref(), Some("Opaque"));

    // Update (PUT) and merge patch.
    let mut edit = raw.clone();
    edit.string_data = Some([("token".to_string(), "n3w".to_string())].into());
    let updated = api
        .replace("creds", &PostParams::default(), &edit)
        .await
        .expect("replace");
    assert_eq!(text(&updated, "token").as_deref(), Some("n3w"));
    assert!(updated.string_data.is_none());
    let patched = api
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(&json!({"stringData": {"extra": "e"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(text(&patched, "extra").as_deref(), Some("e"));
    assert_eq!(text(&patched, "user").as_deref(), Some("admin"));

    // Server-side apply, create and update; re-applying the same is a no-op.
    let applied_cfg = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "applied"}, "stringData": {"k": "v1"}});
    let applied = api
        .patch(
            "applied",
            &PatchParams::apply("app"),
            &Patch::Apply(&applied_cfg),
        )
        .await
        .expect("apply creates");
    assert_eq!(text(&applied, "k").as_deref(), Some("v1"));
    assert!(applied.string_data.is_none());
    let again = api
        .patch(
            "applied",
            &PatchParams::apply("app"),
            &Patch::Apply(&applied_cfg),
        )
        .await
        .expect("re-apply");
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
    let changed_cfg = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "applied"}, "stringData": {"k": "v2"}});
    let changed = api
        .patch(
            "applied",
            &PatchParams::apply("app"),
            &Patch::Apply(&changed_cfg),
        )
        .await
        .expect("apply update");
    assert_eq!(text(&changed, "k").as_deref(), Some("v2"));
    assert!(changed.string_data.is_none());
    assert_eq!(
        changed.data.as_ref().and_then(|d| d.get("k")),
        Some(&ByteString(b"v2".to_vec()))
    );

    // A non-string value cannot be decoded.
    let bad = api
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(&json!({"stringData": {"n": 1}})),
        )
        .await
        .expect_err("number in stringData");
    assert_eq!(api_err(bad), (400, "BadRequest".into()));
}
