//! The worker against a real nats-server: it consumes `RenderRequest`s from `FERRY_WORK`,
//! stores renders in `ferry-renders` and publishes `RenderReady` / `RenderFailed`.

use std::time::Duration;

use ferry_artifact::{Entry, pack};
use ferry_bus::topology::{self, ARTIFACTS_STORE, KUSTOMIZE_RENDERER, RENDERS_STORE};
use ferry_bus::{PublishOptions, Publisher};
use ferry_integration_tests::nats::NatsServer;
use ferry_proto::events::v1 as pb;
use ferry_proto::render::v1::render_service_server::RenderService as _;
use futures::StreamExt as _;
use kustomize_renderer::config::{RenderArgs, setup};
use kustomize_renderer::worker::run;
use prost::Message as _;
use tokio::io::AsyncReadExt;

/// The next message of a core subscription, or a panic after `timeout`.
async fn next_message(sub: &mut async_nats::Subscriber, timeout: Duration) -> async_nats::Message {
    tokio::time::timeout(timeout, sub.next())
        .await
        .expect("an event before the timeout")
        .expect("subscription open")
}

fn kustomization(uid: &str) -> pb::ObjectRef {
    pb::ObjectRef {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        namespace: "flux-system".into(),
        name: "apps".into(),
        uid: uid.into(),
    }
}

fn request(digest: &str, spec: &str) -> pb::RenderRequest {
    pb::RenderRequest {
        kustomization: Some(kustomization("uid-1")),
        artifact: Some(pb::ArtifactReady {
            revision: "main@sha1:abc".into(),
            digest: digest.into(),
            all_paths_changed: true,
            ..Default::default()
        }),
        kustomization_spec_json: spec.as_bytes().to_vec(),
        substitutions: [("env".to_string(), "prod".to_string())].into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_consumes_render_requests_and_publishes_render_ready_with_the_render_stored() {
    let nats = NatsServer::start().await.expect("nats-server");
    let js = nats.jetstream().await.unwrap();
    ferry_bus::ensure(&js, &topology::ferry()).await.unwrap();
    let artifacts = js.get_object_store(ARTIFACTS_STORE).await.unwrap();
    let renders = js.get_object_store(RENDERS_STORE).await.unwrap();
    let packed = pack([
        Entry::file(
            "apps/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-${env}\ndata:\n  k: v\n",
        ),
        Entry::file("docs/readme.md", "hi"),
    ])
    .unwrap();
    let digest = packed.digest.to_string();
    artifacts
        .put(digest.as_str(), &mut packed.bytes.as_slice())
        .await
        .unwrap();

    let cache_dir = tempfile::tempdir().unwrap();
    let args = RenderArgs {
        cache_dir: cache_dir.path().to_path_buf(),
        cache_max_bytes: 1 << 30,
        concurrency: 2,
        feature_gates: String::new(),
        max_files: 1000,
        max_bytes: 1 << 20,
    };
    let service = setup(&js, &args).await.unwrap();
    let ctx = service.worker.clone();
    let client = nats.connect().await.unwrap();
    let mut events = client.subscribe("ferry.events.render.>").await.unwrap();
    client.flush().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run(ctx, js.clone(), async move {
        let _ = stopped.await;
    }));

    let publisher = Publisher::new(js.clone());
    let subject = topology::work_subject(KUSTOMIZE_RENDERER, "render");
    let spec = r#"{"path":"./apps","namePrefix":"p-","postBuild":{},"sourceRef":{"kind":"GitRepository","name":"repo"},"interval":"5m","prune":true}"#;
    publisher
        .publish(
            &subject,
            &request(&digest, spec),
            PublishOptions::with_id(format!("uid-1/1/{digest}")),
        )
        .await
        .unwrap();
    let msg = next_message(&mut events, Duration::from_secs(30)).await;
    assert_eq!(msg.subject.as_str(), "ferry.events.render.ready");
    let ready = pb::RenderReady::decode(msg.payload.as_ref()).unwrap();
    assert_eq!(ready.kustomization, Some(kustomization("uid-1")));
    assert_eq!(ready.source_revision, "main@sha1:abc");
    assert_eq!(ready.artifact_digest, digest);
    assert_eq!(ready.object_count, 1);
    assert!(!ready.cache_hit);
    let mut object = renders.get(ready.render_key.as_str()).await.unwrap();
    let mut stored = String::new();
    object.read_to_string(&mut stored).await.unwrap();
    assert!(stored.contains("name: p-settings-prod"), "{stored}");
    assert_eq!(
        ready.render_digest,
        kustomize_renderer::cache::content_digest(stored.as_bytes())
    );

    // The same inputs again (a new generation): served from the store, no render.
    publisher
        .publish(
            &subject,
            &request(&digest, spec),
            PublishOptions::with_id(format!("uid-1/2/{digest}")),
        )
        .await
        .unwrap();
    let msg = next_message(&mut events, Duration::from_secs(30)).await;
    let again = pb::RenderReady::decode(msg.payload.as_ref()).unwrap();
    assert!(again.cache_hit);
    assert_eq!(again.render_key, ready.render_key);

    // A path that is not in the artifact: RenderFailed with Flux's reason.
    let bad = r#"{"path":"./missing"}"#;
    publisher
        .publish(
            &subject,
            &request(&digest, bad),
            PublishOptions::with_id(format!("uid-1/3/{digest}")),
        )
        .await
        .unwrap();
    let msg = next_message(&mut events, Duration::from_secs(30)).await;
    assert_eq!(msg.subject.as_str(), "ferry.events.render.failed");
    let failed = pb::RenderFailed::decode(msg.payload.as_ref()).unwrap();
    assert_eq!(failed.reason, "ArtifactFailed");
    assert!(failed.message.contains("missing"), "{}", failed.message);
    assert_eq!(failed.source_revision, "main@sha1:abc");

    // gRPC without an artifact digest renders the source's newest artifact from the index.
    let index = js
        .get_key_value(topology::ARTIFACT_INDEX_BUCKET)
        .await
        .unwrap();
    let record = format!(
        r#"[{{"path":"gitrepository/flux-system/repo/abc.tar.gz","digest":"{digest}","revision":"main@sha1:abc","size":1,"createdAt":"2026-01-01T00:00:00Z"}}]"#
    );
    index
        .put("gitrepository.flux-system.repo", record.into())
        .await
        .unwrap();
    let grpc = service.grpc.clone();
    let response = grpc
        .render(tonic::Request::new(
            ferry_proto::render::v1::RenderRequest {
                namespace: "flux-system".into(),
                name: "apps".into(),
                artifact_digest: String::new(),
                path: String::new(),
                kustomization_spec_json: spec.as_bytes().to_vec(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let yaml = String::from_utf8(response.manifests).unwrap();
    assert!(yaml.contains("name: p-settings-"), "{yaml}");

    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("worker stops")
        .unwrap()
        .unwrap();
    assert_eq!(summary.acked, 3, "{summary:?}");
    assert_eq!(summary.dead_lettered, 0, "{summary:?}");
}
