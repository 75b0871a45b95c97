//! The applier for a Kustomization's target: the local cluster as the controller, as the
//! impersonated `spec.serviceAccountName`, or a remote cluster from `spec.kubeConfig`.

use flux_api::kustomize::Kustomization;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, ResourceExt};

use super::{Context, ReconcileError};
use crate::apply::Applier;

/// Keys tried in the kubeconfig Secret when `secretRef.key` is unset (Flux's defaults).
pub const KUBECONFIG_KEYS: &[&str] = &["value", "value.yaml"];

/// The impersonated user of a ServiceAccount.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Builds the applier for this Kustomization.
pub async fn applier_for<R>(
    ks: &Kustomization,
    ctx: &Context<R>,
) -> Result<Applier, ReconcileError> {
    let namespace = ks.namespace().unwrap_or_default();
    let impersonate = ks
        .spec
        .service_account_name
        .as_deref()
        .map(|sa| service_account_user(&namespace, sa));
    if let Some(kc) = &ks.spec.kube_config {
        if kc.config_map_ref.is_some() {
            return Err(ReconcileError::Unsupported(
                "spec.kubeConfig.configMapRef (secret-less workload identity) is not supported; use spec.kubeConfig.secretRef".into(),
            ));
        }
        let Some(secret_ref) = &kc.secret_ref else {
            return Err(ReconcileError::InvalidSpec(
                "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified".into(),
            ));
        };
        let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
        let secret = secrets.get_opt(&secret_ref.name).await.map_err(|e| {
            ReconcileError::Client(format!(
                "reading kubeconfig Secret '{namespace}/{}': {e}",
                secret_ref.name
            ))
        })?;
        let Some(secret) = secret else {
            return Err(ReconcileError::Client(format!(
                "kubeconfig Secret '{namespace}/{}' not found",
                secret_ref.name
            )));
        };
        let data = secret.data.unwrap_or_default();
        let keys: Vec<&str> = match &secret_ref.key {
            Some(k) => vec![k.as_str()],
            None => KUBECONFIG_KEYS.to_vec(),
        };
        let Some(bytes) = keys.iter().find_map(|k| data.get(*k)) else {
            return Err(ReconcileError::Client(format!(
                "kubeconfig Secret '{namespace}/{}' has none of the keys {keys:?}",
                secret_ref.name
            )));
        };
        let text = String::from_utf8(bytes.0.clone()).map_err(|e| {
            ReconcileError::Client(format!(
                "kubeconfig in Secret '{namespace}/{}' is not UTF-8: {e}",
                secret_ref.name
            ))
        })?;
        let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|e| {
            ReconcileError::Client(format!(
                "parsing kubeconfig in Secret '{namespace}/{}': {e}",
                secret_ref.name
            ))
        })?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| ReconcileError::Client(format!("loading kubeconfig: {e}")))?;
        if let Some(user) = impersonate {
            config.auth_info.impersonate = Some(user);
        }
        let client = kube::Client::try_from(config).map_err(|e| {
            ReconcileError::Client(format!("building the remote cluster client: {e}"))
        })?;
        return Ok(Applier::new(client));
    }
    match impersonate {
        None => Ok(Applier::with_cache(ctx.kube.clone(), ctx.kinds.clone())),
        Some(user) => {
            let Some(config) = &ctx.kube_config else {
                return Err(ReconcileError::Client(
                    "spec.serviceAccountName needs the controller's client configuration to impersonate".into(),
                ));
            };
            let mut config = config.clone();
            config.auth_info.impersonate = Some(user);
            let client = kube::Client::try_from(config).map_err(|e| {
                ReconcileError::Client(format!("building the impersonating client: {e}"))
            })?;
            Ok(Applier::with_cache(client, ctx.kinds.clone()))
        }
    }
}
