//! Step 1: the credentials in `spec.secretRef` (same namespace), with the keys Flux reads.

use super::{Context, ReconcileError};
use crate::git::Credentials;
use flux_api::source::GitRepository;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

/// Reads the secret named by `spec.secretRef`; no secretRef means anonymous access.
pub async fn load(obj: &GitRepository, ctx: &Context) -> Result<Credentials, ReconcileError> {
    let Some(secret_ref) = &obj.spec.secret_ref else {
        return Ok(Credentials::default());
    };
    let namespace = obj.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
    let secret = secrets.get_opt(&secret_ref.name).await.map_err(|e| {
        ReconcileError::Secret(format!(
            "failed to get secret '{namespace}/{}': {e}",
            secret_ref.name
        ))
    })?;
    let secret = secret.ok_or_else(|| {
        ReconcileError::Secret(format!(
            "spec.secretRef: secret '{namespace}/{}' not found",
            secret_ref.name
        ))
    })?;
    let data = flux_api::meta::secret_bytes(secret);
    Credentials::from_secret_data(&data).map_err(|e| {
        ReconcileError::Secret(format!(
            "spec.secretRef: secret '{namespace}/{}': {e}",
            secret_ref.name
        ))
    })
}
