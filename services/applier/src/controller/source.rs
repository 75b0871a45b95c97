//! What a render needs besides the Kustomization: its source's current artifact and the
//! resolved `postBuild` substitutions.

use std::collections::HashMap;

use ferry_proto::events::v1::{ArtifactReady, ObjectRef};
use flux_api::kustomize::{Kustomization, SubstituteKind};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::DynamicObject;
use kube::{Api, ResourceExt};

use crate::reconcile::source_resource;

/// Whether the Kustomization takes its manifests from `source`.
pub fn uses_source(ks: &Kustomization, source: &ObjectRef) -> bool {
    let own = ks.namespace().unwrap_or_default();
    let r = &ks.spec.source_ref;
    source_kind(ks) == source.kind
        && r.name == source.name
        && r.namespace_or(&own) == source.namespace
}

/// The Kustomization's `sourceRef.kind` as written in the API.
pub fn source_kind(ks: &Kustomization) -> String {
    source_resource(&ks.spec.source_ref).kind
}

/// The source's current artifact as an `ArtifactReady` (change set unknown), read from its
/// status; `None` when it has none yet.
pub async fn current_artifact(
    kube: &kube::Client,
    ks: &Kustomization,
) -> Result<Option<ArtifactReady>, kube::Error> {
    let own = ks.namespace().unwrap_or_default();
    let resource = source_resource(&ks.spec.source_ref);
    let namespace = ks.spec.source_ref.namespace_or(&own).to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(kube.clone(), &namespace, &resource);
    let Some(source) = api.get_opt(&ks.spec.source_ref.name).await? else {
        return Ok(None);
    };
    let artifact = &source.data["status"]["artifact"];
    let (Some(revision), Some(digest)) =
        (artifact["revision"].as_str(), artifact["digest"].as_str())
    else {
        return Ok(None);
    };
    Ok(Some(ArtifactReady {
        source: Some(ObjectRef {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
            namespace,
            name: source.name_any(),
            uid: source.uid().unwrap_or_default(),
        }),
        revision: revision.to_owned(),
        digest: digest.to_owned(),
        size: artifact["size"].as_i64().unwrap_or_default(),
        url: artifact["url"].as_str().unwrap_or_default().to_owned(),
        path: artifact["path"].as_str().unwrap_or_default().to_owned(),
        previous_revision: String::new(),
        changed_paths: Vec::new(),
        all_paths_changed: true,
        created_at_unix_ms: 0,
    }))
}

/// `postBuild.substituteFrom` (in order, later ones winning) overridden by
/// `postBuild.substitute`, as Flux resolves them. A missing object that is not optional is an
/// error naming it.
pub async fn substitutions(
    kube: &kube::Client,
    ks: &Kustomization,
) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    let Some(post_build) = &ks.spec.post_build else {
        return Ok(vars);
    };
    let namespace = ks.namespace().unwrap_or_default();
    for reference in post_build.substitute_from.iter().flatten() {
        let optional = reference.optional == Some(true);
        match reference.kind {
            SubstituteKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(kube.clone(), &namespace);
                match api.get_opt(&reference.name).await {
                    Ok(Some(cm)) => vars.extend(cm.data.unwrap_or_default()),
                    Ok(None) if optional => {}
                    Ok(None) => {
                        return Err(format!(
                            "substitute from 'ConfigMap/{}' error: configmaps \"{}\" not found",
                            reference.name, reference.name
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "substitute from 'ConfigMap/{}' error: {e}",
                            reference.name
                        ));
                    }
                }
            }
            SubstituteKind::Secret => {
                let api: Api<Secret> = Api::namespaced(kube.clone(), &namespace);
                match api.get_opt(&reference.name).await {
                    Ok(Some(secret)) => {
                        for (k, v) in secret.data.unwrap_or_default() {
                            vars.insert(k, String::from_utf8_lossy(&v.0).into_owned());
                        }
                        vars.extend(secret.string_data.unwrap_or_default());
                    }
                    Ok(None) if optional => {}
                    Ok(None) => {
                        return Err(format!(
                            "substitute from 'Secret/{}' error: secrets \"{}\" not found",
                            reference.name, reference.name
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "substitute from 'Secret/{}' error: {e}",
                            reference.name
                        ));
                    }
                }
            }
        }
    }
    vars.extend(post_build.substitute.clone().unwrap_or_default());
    Ok(vars)
}
