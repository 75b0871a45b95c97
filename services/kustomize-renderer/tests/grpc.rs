//! `ferry.render.v1.RenderService`: on-demand builds through the same pipeline and cache.

use std::sync::Arc;

use ferry_artifact::{Entry, UnpackLimits, pack};
use ferry_proto::render::v1::RenderRequest;
use ferry_proto::render::v1::render_service_server::RenderService;
use kustomize_renderer::cache::{ArtifactCache, ArtifactSource, RenderStore};
use kustomize_renderer::grpc::RenderGrpc;
use kustomize_renderer::{KustomizeBuilder, Renderer, RendererConfig};
use tonic::{Code, Request};

fn service(dir: &std::path::Path) -> (RenderGrpc, ArtifactSource) {
    let source = ArtifactSource::memory();
    let cache = Arc::new(ArtifactCache::open(dir, 1 << 30, UnpackLimits::default()).unwrap());
    let renderer = Renderer::new(
        Arc::new(KustomizeBuilder::default()),
        cache,
        source.clone(),
        RenderStore::memory(),
        RendererConfig::default(),
    );
    (RenderGrpc::new(Arc::new(renderer)), source)
}

fn rpc(digest: &str, path: &str, spec: &str) -> Request<RenderRequest> {
    Request::new(RenderRequest {
        namespace: "flux-system".into(),
        name: "apps".into(),
        artifact_digest: digest.into(),
        path: path.into(),
        kustomization_spec_json: spec.as_bytes().to_vec(),
    })
}

#[tokio::test]
async fn grpc_render_builds_then_serves_the_cached_render() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, source) = service(dir.path());
    let packed = pack([Entry::file(
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-${env}\n",
    )])
    .unwrap();
    let digest = source.insert(packed.bytes);
    let spec = r#"{"targetNamespace":"dev","postBuild":{"substitute":{"env":"dev"}}}"#;
    let first = svc
        .render(rpc(&digest, "./apps", spec))
        .await
        .unwrap()
        .into_inner();
    let yaml = String::from_utf8(first.manifests.clone()).unwrap();
    assert!(yaml.contains("name: cfg-dev"), "{yaml}");
    assert!(yaml.contains("namespace: dev"), "{yaml}");
    assert_eq!(first.object_count, 1);
    assert!(!first.cache_hit);
    let second = svc
        .render(rpc(&digest, "./apps", spec))
        .await
        .unwrap()
        .into_inner();
    assert!(second.cache_hit);
    assert_eq!(second.manifests, first.manifests);
    assert_eq!(second.render_digest, first.render_digest);
}

#[tokio::test]
async fn grpc_render_reports_flux_reasons_as_status() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, source) = service(dir.path());
    let digest = source.insert(
        pack([Entry::file("apps/bad.yaml", "kind: [broken\n")])
            .unwrap()
            .bytes,
    );
    let err = svc.render(rpc(&digest, "apps", "{}")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().starts_with("BuildFailed: "),
        "{}",
        err.message()
    );
    assert!(err.message().contains("apps/bad.yaml"), "{}", err.message());
    let missing = format!("sha256:{}", "1".repeat(64));
    let err = svc.render(rpc(&missing, "apps", "{}")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().starts_with("ArtifactFailed: "));
    let err = svc.render(rpc("", "apps", "{}")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[test]
fn strict_substitutions_follow_the_flux_feature_gate() {
    use kustomize_renderer::config::feature_enabled;
    let gate = "StrictPostBuildSubstitutions";
    assert!(feature_enabled("StrictPostBuildSubstitutions=true", gate));
    assert!(feature_enabled(
        "A=false, StrictPostBuildSubstitutions=True",
        gate
    ));
    assert!(feature_enabled("StrictPostBuildSubstitutions", gate));
    assert!(!feature_enabled("StrictPostBuildSubstitutions=false", gate));
    assert!(!feature_enabled("", gate));
    assert!(!feature_enabled("Other=true", gate));
}
