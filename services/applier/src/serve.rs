//! Wires the service: the renders store, the reconcile context, the gRPC API and the work loop,
//! all stopping on the runtime's shutdown signal.

use crate::Args;
use anyhow::Context as _;
use applier::controller;
use applier::grpc::Apply;
use applier::reconcile::{self, ObjectStoreRenders};
use ferry_bus::topology;
use ferry_runtime::Context;

/// Runs until shutdown; returns early only on a fatal error.
pub async fn serve(ctx: Context, args: Args, apply: Apply) -> anyhow::Result<()> {
    if !ctx.ready().await {
        return Ok(());
    }
    let Some(js) = ctx.jetstream().await else {
        return Ok(());
    };
    let renders = ObjectStoreRenders::new(
        js.get_object_store(topology::RENDERS_STORE)
            .await
            .context("opening the renders object store")?,
    );
    let mut rctx = reconcile::Context::new(ctx.kube(), renders);
    rctx.publisher = Some(ferry_bus::Publisher::new(js.clone()));
    rctx.journeys = Some(
        js.get_key_value(topology::JOURNEYS_BUCKET)
            .await
            .context("opening the journeys bucket")?,
    );
    rctx.instance = args.instance.clone().unwrap_or_else(hostname);
    rctx.concurrency = usize::from(args.concurrent_ssa);
    rctx.kube_config = kube_config(&args).await;
    apply.attach(rctx.clone());
    tracing::info!(instance = %rctx.instance, "Applier work loop starting.");
    controller::run(
        rctx,
        js,
        usize::from(args.concurrency),
        ctx.shutdown().clone(),
    )
    .await
    .context("running the Kustomization work loop")?;
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("applier-{}", std::process::id()))
}

/// The controller's own client configuration, the base of `spec.serviceAccountName`
/// impersonation: the `--kubeconfig` files, else the pod's service account.
async fn kube_config(args: &Args) -> Option<kube::Config> {
    let result = match &args.runtime.kube.kubeconfig {
        Some(paths) => {
            let first = std::env::split_paths(paths).next()?;
            match kube::config::Kubeconfig::read_from(&first) {
                Ok(kc) => kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        None => kube::Config::incluster().map_err(|e| e.to_string()),
    };
    result
        .map_err(|e| tracing::warn!(error = %e, "No client configuration for impersonation."))
        .ok()
}
