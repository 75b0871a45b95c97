//! Wires the service: the tags bucket, the Azure identity (when configured) and the reconcile
//! work loop, stopping on the runtime's shutdown signal.

use crate::Args;
use anyhow::Context as _;
use ferry_bus::topology;
use ferry_runtime::Context;
use image_scanner::registry::{AcrTokenProvider, AzureSettings};
use image_scanner::tags::TagStore;
use image_scanner::{controller, reconcile};
use std::sync::Arc;

/// Runs until shutdown; returns early only on a fatal error.
pub async fn serve(ctx: Context, args: Args) -> anyhow::Result<()> {
    if !ctx.ready().await {
        return Ok(());
    }
    let Some(js) = ctx.jetstream().await else {
        return Ok(());
    };
    let tags = TagStore::new(
        js.get_key_value(topology::IMAGE_TAGS_BUCKET)
            .await
            .context("opening the image tags bucket")?,
    );
    let azure = match AzureSettings::from_env() {
        Ok(settings) => Some(Arc::new(
            AcrTokenProvider::new(settings).context("configuring the Azure identity")?,
        )),
        Err(e) => {
            tracing::debug!(reason = %e, "No Azure identity; provider azure is unavailable.");
            None
        }
    };
    let rctx = reconcile::Context {
        kube: ctx.kube(),
        tags,
        publisher: ferry_bus::Publisher::new(js.clone()),
        instance: args.instance.clone().unwrap_or_else(hostname),
        azure,
        journeys: js
            .get_key_value(topology::JOURNEYS_BUCKET)
            .await
            .context("opening the journeys bucket")?,
    };
    controller::run(
        rctx,
        js,
        usize::from(args.concurrency),
        ctx.shutdown().clone(),
    )
    .await
    .context("running the image work loop")?;
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("image-scanner-{}", std::process::id()))
}
