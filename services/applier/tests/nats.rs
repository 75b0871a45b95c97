//! The renders object store and `ApplyResult` publishing against a real `nats-server`.

mod common;

use applier::reconcile::{self, Context, ObjectStoreRenders, RenderError, RenderSource};
use common::*;
use ferry_bus::{Publisher, topology};
use ferry_integration_tests::nats::NatsServer;
use ferry_proto::events::v1::{ApplyResult, ObjectRef, RenderFailed, RenderReady};
use flux_api::kustomize::Kustomization;
use futures::StreamExt;
use kube::Api;
use kube::api::PostParams;
use prost::Message;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const REV: &str = "main@sha1:3333333333333333333333333333333333333333";

fn kustomization(ns: &str, name: &str) -> Kustomization {
    serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    }))
    .expect("valid Kustomization")
}

fn render_ready(ns: &str, name: &str, key: &str) -> RenderReady {
    RenderReady {
        kustomization: Some(ObjectRef {
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            kind: "Kustomization".into(),
            namespace: ns.into(),
            name: name.into(),
            uid: String::new(),
        }),
        source_revision: REV.into(),
        render_key: key.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn renders_come_from_the_object_store_by_the_key_of_render_ready_and_apply_results_are_published()
 {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let client = nats.connect().await.expect("connect");
    let js = async_nats::jetstream::new(client.clone());
    ferry_bus::ensure(&js, &topology::ferry())
        .await
        .expect("topology");
    let store = js
        .get_object_store(topology::RENDERS_STORE)
        .await
        .expect("renders store");
    let renders = ObjectStoreRenders::new(store.clone());

    let c = cluster().await;
    install_flux_crds(&c.client).await;
    let ns = unique("nats");
    ensure_namespace(&c.client, &ns).await;

    // Nothing announced yet: ArtifactFailed-class error.
    let ks = kustomization(&ns, "app");
    assert!(matches!(
        renders.render(&ks).await,
        Err(RenderError::NotReady(_))
    ));

    let yaml = configmap_yaml(&ns, "from-store", "v", "");
    let mut bytes = yaml.as_bytes();
    store.put("render-1", &mut bytes).await.expect("put render");
    renders
        .record_ready(&render_ready(&ns, "app", "render-1"))
        .await;
    let rendered = renders.render(&ks).await.expect("render from the store");
    assert_eq!(rendered.revision, REV);
    assert_eq!(rendered.manifests, yaml);

    // The same render key is read once: gone from the store, it is still served; a new key
    // that is not in the store is an error, not the old render.
    store.delete("render-1").await.expect("delete render");
    let again = renders.render(&ks).await.expect("render kept in memory");
    assert_eq!(again.manifests, yaml);
    renders
        .record_ready(&render_ready(&ns, "app", "render-2"))
        .await;
    assert!(matches!(
        renders.render(&ks).await,
        Err(RenderError::Artifact(_))
    ));
    let mut bytes = yaml.as_bytes();
    store.put("render-2", &mut bytes).await.expect("put render");

    // A full reconcile with the store as source publishes ApplyResult.
    Api::<Kustomization>::namespaced(c.client.clone(), &ns)
        .create(&PostParams::default(), &ks)
        .await
        .expect("create Kustomization");
    let mut results = client
        .subscribe(topology::APPLY_RESULT)
        .await
        .expect("subscribe");
    let mut ctx = Context::new(c.client.clone(), renders.clone());
    ctx.publisher = Some(Publisher::new(js.clone()));
    let live = Api::<Kustomization>::namespaced(c.client.clone(), &ns)
        .get("app")
        .await
        .expect("get");
    reconcile::reconcile(&live, &ctx, &CancellationToken::new())
        .await
        .expect("reconcile");
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), results.next())
        .await
        .expect("ApplyResult in time")
        .expect("a message");
    let result = ApplyResult::decode(message.payload).expect("ApplyResult decodes");
    assert!(result.success);
    assert_eq!(result.revision, REV);
    assert_eq!(result.created, 1);
    assert_eq!(result.reason, "ReconciliationSucceeded");

    // A build failure announced by the renderer becomes BuildFailed.
    renders
        .record_failed(&RenderFailed {
            kustomization: render_ready(&ns, "app", "").kustomization,
            source_revision: REV.into(),
            reason: "BuildFailed".into(),
            message: "kustomize build failed: accumulating resources".into(),
        })
        .await;
    assert!(matches!(
        renders.render(&ks).await,
        Err(RenderError::Build(_))
    ));
}

async fn ensure_namespace(client: &kube::Client, ns: &str) {
    applier::apply::Applier::new(client.clone())
        .apply_all(parse(&namespace_yaml(ns)), &options("test", "test"))
        .await
        .expect("namespace applies");
}
