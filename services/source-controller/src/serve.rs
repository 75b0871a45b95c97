//! Wires the service: storage, the artifact and webhook servers, the Receiver status writer and
//! the reconcile work loop, all stopping on the runtime's shutdown signal.

use crate::Args;
use anyhow::Context as _;
use ferry_bus::topology;
use ferry_runtime::Context;
use source_controller::git::{RepoCache, TreeLimits};
use source_controller::grpc::Artifacts;
use source_controller::storage::http::{ArtifactServer, router as artifact_router};
use source_controller::storage::{ArtifactIndex, ArtifactObjects};
use source_controller::{controller, receiver, reconcile};
use std::time::Duration;
use tokio::net::TcpListener;

/// Runs until shutdown; returns early (with the runtime draining) only on a fatal error.
pub async fn serve(ctx: Context, args: Args, artifacts: Artifacts) -> anyhow::Result<()> {
    if !ctx.ready().await {
        return Ok(());
    }
    let Some(js) = ctx.jetstream().await else {
        return Ok(());
    };
    let objects = ArtifactObjects::new(
        js.get_object_store(topology::ARTIFACTS_STORE)
            .await
            .context("opening the artifacts object store")?,
    );
    let index = ArtifactIndex::new(
        js.get_key_value(topology::ARTIFACT_INDEX_BUCKET)
            .await
            .context("opening the artifact index bucket")?,
        usize::from(args.artifact_retention),
    );
    artifacts.attach(index.clone(), objects.clone());

    let storage = TcpListener::bind(args.storage_addr)
        .await
        .with_context(|| format!("binding --storage-addr {}", args.storage_addr))?;
    let storage_addr = storage.local_addr()?;
    let hooks = TcpListener::bind(args.receiver_addr)
        .await
        .with_context(|| format!("binding --receiver-addr {}", args.receiver_addr))?;
    let hooks_addr = hooks.local_addr()?;
    tracing::info!("listening storage={storage_addr} receiver={hooks_addr}");

    let shutdown = ctx.shutdown().clone();
    let server = ArtifactServer {
        index: index.clone(),
        objects: objects.clone(),
    };
    ctx.spawn(serve_http(
        storage,
        artifact_router(server),
        shutdown.clone(),
    ));
    let (receivers, status_writer) = receiver::start_status_writer(ctx.kube(), shutdown.clone());
    let state = receiver::ReceiverState {
        kube: ctx.kube(),
        receivers,
    };
    ctx.spawn(serve_http(hooks, receiver::router(state), shutdown.clone()));

    let instance = args.instance.clone().unwrap_or_else(hostname);
    let base_url = args
        .storage_adv_addr
        .clone()
        .map(|a| {
            if a.contains("://") {
                a
            } else {
                format!("http://{a}")
            }
        })
        .unwrap_or_else(|| format!("http://{storage_addr}"));
    let rctx = reconcile::Context {
        kube: ctx.kube(),
        cache: RepoCache::new(args.cache_dir.clone()),
        pack_caches: reconcile::PackCaches::default(),
        objects,
        index,
        publisher: ferry_bus::Publisher::new(js.clone()),
        storage_base_url: base_url,
        limits: TreeLimits {
            max_files: args.max_files,
            max_bytes: args.max_bytes,
        },
        default_timeout: Duration::from_secs(60),
        journeys: js
            .get_key_value(topology::JOURNEYS_BUCKET)
            .await
            .context("opening the journeys bucket")?,
        instance,
    };
    controller::run(rctx, js, usize::from(args.concurrency), shutdown)
        .await
        .context("running the GitRepository work loop")?;
    let _ = status_writer.await;
    Ok(())
}

async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP server failed.");
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("source-controller-{}", std::process::id()))
}
