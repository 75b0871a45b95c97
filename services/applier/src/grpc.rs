//! `ferry.apply.v1.ApplyService`: `Diff` and `Plan`, server-side dry runs of a Kustomization's
//! current render against its cluster.

use std::sync::{Arc, OnceLock};

use ferry_proto::apply::v1::apply_service_server::ApplyService;
use ferry_proto::apply::v1::{DiffRequest, DiffResponse};
use flux_api::kustomize::Kustomization;
use kube::Api;
use tonic::{Request, Response, Status};

use crate::reconcile::{self, ObjectStoreRenders, ReconcileError};

/// The gRPC service. It is registered before NATS answers, so the reconcile context arrives
/// later through [`Apply::attach`]; until then every call is `UNAVAILABLE`.
#[derive(Clone, Default)]
pub struct Apply {
    ctx: Arc<OnceLock<reconcile::Context<ObjectStoreRenders>>>,
}

impl Apply {
    /// Connects the service to the reconcile context once NATS and Kubernetes are reachable.
    pub fn attach(&self, ctx: reconcile::Context<ObjectStoreRenders>) {
        let _ = self.ctx.set(ctx);
    }

    async fn run(&self, request: DiffRequest, with_fields: bool) -> Result<DiffResponse, Status> {
        let ctx = self
            .ctx
            .get()
            .ok_or_else(|| Status::unavailable("the applier is not connected yet"))?;
        if request.namespace.is_empty() || request.name.is_empty() {
            return Err(Status::invalid_argument("namespace and name are required"));
        }
        let api: Api<Kustomization> = Api::namespaced(ctx.kube.clone(), &request.namespace);
        let ks = api
            .get_opt(&request.name)
            .await
            .map_err(|e| Status::unavailable(format!("reading the Kustomization: {e}")))?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "Kustomization {}/{} not found",
                    request.namespace, request.name
                ))
            })?;
        reconcile::diff(&ks, ctx, with_fields)
            .await
            .map_err(|e| status_of(&request, e))
    }
}

fn status_of(request: &DiffRequest, e: ReconcileError) -> Status {
    let message = format!("Kustomization {}/{}: {e}", request.namespace, request.name);
    match e {
        ReconcileError::Artifact(_) => Status::failed_precondition(format!(
            "{message} (this replica holds no render for it yet; reconcile it first)"
        )),
        ReconcileError::Build(_)
        | ReconcileError::InvalidSpec(_)
        | ReconcileError::Unsupported(_)
        | ReconcileError::InvalidExpression(_) => Status::failed_precondition(message),
        ReconcileError::Client(_) | ReconcileError::Status(_) => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

#[tonic::async_trait]
impl ApplyService for Apply {
    async fn diff(&self, request: Request<DiffRequest>) -> Result<Response<DiffResponse>, Status> {
        self.run(request.into_inner(), true)
            .await
            .map(Response::new)
    }

    async fn plan(&self, request: Request<DiffRequest>) -> Result<Response<DiffResponse>, Status> {
        self.run(request.into_inner(), false)
            .await
            .map(Response::new)
    }
}
