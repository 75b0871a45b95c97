//! The effect of a valid webhook call: `reconcile.fluxcd.io/requestedAt` patched onto every
//! object the Receiver lists (by name, or `*` with matchLabels), exactly Flux's mechanism.

use flux_api::notification::{CrossNamespaceObjectReference, Receiver, ReceiverResourceKind};
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, ResourceExt};

/// A resource reference that could not be resolved or patched.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The kind has no API in this cluster that Ferry knows how to address.
    #[error("spec.resources[{index}]: kind {kind} is not served by Ferry")]
    UnsupportedKind {
        /// Position in `spec.resources`.
        index: usize,
        /// The kind.
        kind: String,
    },
    /// `name: "*"` without `matchLabels`.
    #[error("spec.resources[{index}]: name '*' needs matchLabels")]
    WildcardWithoutLabels {
        /// Position in `spec.resources`.
        index: usize,
    },
    /// Listing or patching failed.
    #[error("spec.resources[{index}]: {message}")]
    Api {
        /// Position in `spec.resources`.
        index: usize,
        /// What the API server said.
        message: String,
    },
}

/// Patches `requestedAt = token` on every object `receiver` lists; returns how many.
pub async fn request_reconcile(
    kube: &kube::Client,
    receiver: &Receiver,
    token: &str,
) -> Result<usize, TargetError> {
    let default_ns = receiver.namespace().unwrap_or_default();
    let mut patched = 0;
    for (index, reference) in receiver.spec.resources.iter().enumerate() {
        let resource = api_resource(reference).ok_or_else(|| TargetError::UnsupportedKind {
            index,
            kind: format!("{:?}", reference.kind),
        })?;
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| default_ns.clone());
        let api: Api<DynamicObject> = Api::namespaced_with(kube.clone(), &namespace, &resource);
        let names = names_for(&api, reference, index).await?;
        let patch = serde_json::json!({
            "metadata": { "annotations": { flux_api::meta::RECONCILE_REQUEST_ANNOTATION: token } }
        });
        for name in names {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| TargetError::Api {
                    index,
                    message: format!("patching {namespace}/{name}: {e}"),
                })?;
            patched += 1;
        }
    }
    Ok(patched)
}

async fn names_for(
    api: &Api<DynamicObject>,
    reference: &CrossNamespaceObjectReference,
    index: usize,
) -> Result<Vec<String>, TargetError> {
    if reference.name != "*" {
        return Ok(vec![reference.name.clone()]);
    }
    let labels = reference
        .match_labels
        .as_ref()
        .filter(|l| !l.is_empty())
        .ok_or(TargetError::WildcardWithoutLabels { index })?;
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| TargetError::Api {
            index,
            message: format!("listing with labels {selector}: {e}"),
        })?;
    Ok(list.items.iter().map(ResourceExt::name_any).collect())
}

/// The API of a kind a Receiver may target; `apiVersion` in the reference wins when given.
fn api_resource(reference: &CrossNamespaceObjectReference) -> Option<ApiResource> {
    let (group, version, kind, plural) = match reference.kind {
        ReceiverResourceKind::GitRepository => (
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            "gitrepositories",
        ),
        ReceiverResourceKind::OCIRepository => (
            "source.toolkit.fluxcd.io",
            "v1",
            "OCIRepository",
            "ocirepositories",
        ),
        ReceiverResourceKind::Bucket => ("source.toolkit.fluxcd.io", "v1", "Bucket", "buckets"),
        ReceiverResourceKind::HelmRepository => (
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
        ReceiverResourceKind::HelmChart => {
            ("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts")
        }
        ReceiverResourceKind::Kustomization => (
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            "kustomizations",
        ),
        ReceiverResourceKind::HelmRelease => (
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
            "helmreleases",
        ),
        ReceiverResourceKind::ImageRepository => (
            "image.toolkit.fluxcd.io",
            "v1",
            "ImageRepository",
            "imagerepositories",
        ),
        ReceiverResourceKind::ImagePolicy => (
            "image.toolkit.fluxcd.io",
            "v1",
            "ImagePolicy",
            "imagepolicies",
        ),
        ReceiverResourceKind::ImageUpdateAutomation => (
            "image.toolkit.fluxcd.io",
            "v1",
            "ImageUpdateAutomation",
            "imageupdateautomations",
        ),
        ReceiverResourceKind::ArtifactGenerator | ReceiverResourceKind::ExternalArtifact => {
            return None;
        }
    };
    let version = reference
        .api_version
        .as_deref()
        .and_then(|v| v.rsplit_once('/').map(|(_, v)| v))
        .unwrap_or(version);
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Some(ApiResource::from_gvk_with_plural(&gvk, plural))
}
