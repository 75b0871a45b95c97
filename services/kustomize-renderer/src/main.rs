//! Ferry kustomize-renderer: renders Kustomizations from source artifacts, on the work queue
//! and on demand over gRPC.

use clap::Parser;
use ferry_proto::render::v1::render_service_server::{RenderService, RenderServiceServer};
use ferry_proto::render::v1::{RenderRequest, RenderResponse};
use kustomize_renderer::config::{RenderArgs, setup};
use kustomize_renderer::grpc::RenderGrpc;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use tonic::{Request, Response, Status};

/// Ferry kustomize-renderer: renders Kustomizations from source artifacts.
#[derive(Parser, Debug)]
#[command(name = "kustomize-renderer", version, about)]
struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
    #[command(flatten)]
    render: RenderArgs,
}

/// The gRPC service is registered before NATS answers; it serves once storage is attached.
#[derive(Clone, Default)]
struct LazyRender(Arc<OnceLock<RenderGrpc>>);

#[tonic::async_trait]
impl RenderService for LazyRender {
    async fn render(
        &self,
        request: Request<RenderRequest>,
    ) -> Result<Response<RenderResponse>, Status> {
        let inner = self
            .0
            .get()
            .ok_or_else(|| Status::unavailable("the renderer is not connected to NATS yet"))?;
        inner.render(request).await
    }
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    let lazy = LazyRender::default();
    let served = lazy.clone();
    ferry_runtime::Builder::new("kustomize-renderer", args.runtime.clone())
        .grpc(move |_, services| {
            services.add_service(RenderServiceServer::new(served));
        })
        .run(move |ctx| async move {
            if !ctx.ready().await {
                return anyhow::Ok(());
            }
            let Some(js) = ctx.jetstream().await else {
                return anyhow::Ok(());
            };
            let service = setup(&js, &args.render).await?;
            let _ = lazy.0.set(service.grpc);
            let shutdown = ctx.shutdown().clone().cancelled_owned();
            let summary = kustomize_renderer::worker::run(service.worker, js, shutdown).await?;
            tracing::info!(?summary, "Render work loop stopped.");
            anyhow::Ok(())
        })
}
