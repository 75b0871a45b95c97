//! `spec.dependsOn`: every dependency must be Ready at the revision its source currently has.

use flux_api::conditions::{self, types};
use flux_api::kustomize::{CrossNamespaceSourceReference, Kustomization, SourceKind};
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, ResourceExt};

use super::ReconcileError;

/// Group of Flux's source kinds.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// The API resource of a source kind.
pub fn source_resource(source: &CrossNamespaceSourceReference) -> ApiResource {
    let (kind, plural) = match source.kind {
        SourceKind::GitRepository => ("GitRepository", "gitrepositories"),
        SourceKind::OCIRepository => ("OCIRepository", "ocirepositories"),
        SourceKind::Bucket => ("Bucket", "buckets"),
        SourceKind::ExternalArtifact => ("ExternalArtifact", "externalartifacts"),
    };
    let (group, version) = match source.api_version.as_deref() {
        Some(av) => {
            let (g, v) = crate::manifests::split_api_version(av);
            (g.to_owned(), v.to_owned())
        }
        None => (SOURCE_GROUP.to_owned(), "v1".to_owned()),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, &version, kind), plural)
}

/// The revision of the source's current artifact, `None` when it has none.
pub async fn source_revision(
    client: &Client,
    source: &CrossNamespaceSourceReference,
    own_namespace: &str,
) -> Result<Option<String>, kube::Error> {
    let ar = source_resource(source);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), source.namespace_or(own_namespace), &ar);
    Ok(api.get_opt(&source.name).await?.and_then(|o| {
        o.data
            .pointer("/status/artifact/revision")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }))
}

/// Whether two revision strings name the same revision (accepting legacy `main/<sha>`).
pub fn same_revision(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        a.parse::<flux_api::Revision>(),
        b.parse::<flux_api::Revision>(),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Why a fetched dependency is not ready, or `None` when it is (pure part of the check).
pub fn not_ready_reason(dep: &Kustomization, source_revision: Option<&str>) -> Option<String> {
    let id = format!("{}/{}", dep.namespace().unwrap_or_default(), dep.name_any());
    let Some(status) = &dep.status else {
        return Some(format!("dependency '{id}' is not ready"));
    };
    if dep.metadata.generation.is_some() && status.observed_generation != dep.metadata.generation {
        return Some(format!("dependency '{id}' is not ready"));
    }
    if !conditions::is_true(status.conditions(), types::READY) {
        return Some(format!("dependency '{id}' is not ready"));
    }
    match (source_revision, status.last_applied_revision.as_deref()) {
        (Some(want), Some(have)) if !same_revision(want, have) => {
            Some(format!("dependency '{id}' revision is not up to date"))
        }
        (Some(_), None) => Some(format!("dependency '{id}' is not ready")),
        _ => None,
    }
}

/// Checks every dependency; the first one not ready is the error.
pub async fn check(ks: &Kustomization, client: &Client) -> Result<(), ReconcileError> {
    let own_ns = ks.namespace().unwrap_or_default();
    for dep in ks.spec.depends_on.iter().flatten() {
        let ns = dep.namespace.as_deref().unwrap_or(&own_ns);
        let api: Api<Kustomization> = Api::namespaced(client.clone(), ns);
        let Some(found) = api.get_opt(&dep.name).await.map_err(|e| {
            ReconcileError::DependencyNotReady(format!(
                "unable to get dependency '{ns}/{}': {e}",
                dep.name
            ))
        })?
        else {
            return Err(ReconcileError::DependencyNotReady(format!(
                "dependency '{ns}/{}' not found",
                dep.name
            )));
        };
        if let Some(expr) = &dep.ready_expr {
            ready_by_expr(ks, &found, expr)?;
            continue;
        }
        let revision = source_revision(client, &found.spec.source_ref, ns)
            .await
            .map_err(|e| {
                ReconcileError::DependencyNotReady(format!(
                    "unable to get the source of dependency '{ns}/{}': {e}",
                    dep.name
                ))
            })?;
        if let Some(reason) = not_ready_reason(&found, revision.as_deref()) {
            return Err(ReconcileError::DependencyNotReady(reason));
        }
    }
    Ok(())
}

/// Flux's `readyExpr`: the expression, with `dep` (the dependency) and `self` (this
/// Kustomization) as variables, replaces the built-in readiness check.
pub fn ready_by_expr(
    ks: &Kustomization,
    dep: &Kustomization,
    expr: &str,
) -> Result<(), ReconcileError> {
    let id = format!("{}/{}", dep.namespace().unwrap_or_default(), dep.name_any());
    let to_value = |k: &Kustomization| {
        serde_json::to_value(k).map_err(|e| ReconcileError::DependencyNotReady(e.to_string()))
    };
    let (me, them) = (to_value(ks)?, to_value(dep)?);
    match crate::expr::eval_bool(expr, &[("self", &me), ("dep", &them)]) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ReconcileError::DependencyNotReady(format!(
            "dependency '{id}' is not ready according to readyExpr"
        ))),
        Err(crate::expr::ExprError::Invalid { .. }) => Err(ReconcileError::InvalidExpression(
            format!("readyExpr of dependency '{id}' does not compile"),
        )),
        Err(e) => Err(ReconcileError::DependencyNotReady(format!(
            "dependency '{id}' is not ready: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flux_api::meta::ConditionStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn dep(ready: bool, applied: Option<&str>) -> Kustomization {
        let mut ks: Kustomization = serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "infra", "namespace": "flux-system", "generation": 1},
            "spec": {"interval": "1m", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        }))
        .expect("valid Kustomization");
        let status = if ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        ks.status = Some(flux_api::kustomize::KustomizationStatus {
            observed_generation: Some(1),
            conditions: Some(vec![conditions::new_condition(
                types::READY,
                status,
                "x",
                "",
                Some(1),
                Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            )]),
            last_applied_revision: applied.map(str::to_owned),
            ..Default::default()
        });
        ks
    }

    #[test]
    fn dependency_is_ready_at_its_sources_revision() {
        let rev = "main@sha1:0123456789012345678901234567890123456789";
        assert_eq!(not_ready_reason(&dep(true, Some(rev)), Some(rev)), None);
    }

    #[test]
    fn ready_expr_replaces_the_built_in_check() {
        let rev = "main@sha1:0123456789012345678901234567890123456789";
        let me = dep(true, None);
        let not_ready = dep(false, Some(rev));
        let expr = "dep.status.lastAppliedRevision.startsWith('main@')";
        assert_eq!(ready_by_expr(&me, &not_ready, expr), Ok(()));
        assert!(matches!(
            ready_by_expr(&me, &not_ready, "dep.metadata.name == 'other'"),
            Err(ReconcileError::DependencyNotReady(_))
        ));
    }

    #[test]
    fn dependency_behind_its_source_or_not_ready_is_not_ready() {
        let rev = "main@sha1:0123456789012345678901234567890123456789";
        let old = "main@sha1:1111111111111111111111111111111111111111";
        assert!(
            not_ready_reason(&dep(true, Some(old)), Some(rev))
                .is_some_and(|m| m.contains("not up to date"))
        );
        assert!(not_ready_reason(&dep(false, Some(rev)), Some(rev)).is_some());
    }
}
