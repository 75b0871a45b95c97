//! The Receiver's token, from the `token` key of `spec.secretRef`.

use flux_api::notification::Receiver;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

/// Why the token could not be read (Flux: `TokenNotFound`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// Reads `token` from the Receiver's secret (same namespace).
pub async fn read_token(kube: &kube::Client, receiver: &Receiver) -> Result<Vec<u8>, TokenError> {
    let namespace = receiver.namespace().unwrap_or_default();
    let secret_ref =
        receiver.spec.secret_ref.as_ref().ok_or_else(|| {
            TokenError("spec.secretRef is required for this receiver type".into())
        })?;
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), &namespace);
    let secret = secrets
        .get_opt(&secret_ref.name)
        .await
        .map_err(|e| {
            TokenError(format!(
                "unable to read token from secret '{namespace}/{}': {e}",
                secret_ref.name
            ))
        })?
        .ok_or_else(|| {
            TokenError(format!(
                "secret '{namespace}/{}' not found",
                secret_ref.name
            ))
        })?;
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|v| v.0.clone());
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|v| v.clone().into_bytes());
    from_data
        .or(from_string)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TokenError(format!(
                "secret '{namespace}/{}' has no 'token' key",
                secret_ref.name
            ))
        })
}
