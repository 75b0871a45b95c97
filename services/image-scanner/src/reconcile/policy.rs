//! ImagePolicy: compile the policy, find its ImageRepository (and check access), read the
//! stored tags (no rescan), pick the latest, resolve its digest when asked; one status write
//! at the end, an event and upstream requests to the automations when the latest changed.

use super::status::{self, Failure};
use super::support::{record_event, secret_data, selector_matches};
use super::{Context, Disposition, ReconcileError};
use crate::controller::request_upstream;
use crate::policy::{Policy, PolicyError, latest_ref};
use crate::registry::{ClientOptions, RegistryAuthSource, RegistryClient, ScanRequest};
use flux_api::conditions::reasons;
use flux_api::image::{
    ImagePolicy, ImageRef, ImageRepository, ImageUpdateAutomation, ReflectionPolicy,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Resource, ResourceExt};
use std::time::Duration;

const RETRY: Duration = Duration::from_secs(10);

/// Reconciles one ImagePolicy.
pub async fn reconcile(ctx: &Context, obj: &ImagePolicy) -> Result<Disposition, ReconcileError> {
    if obj.spec.suspend == Some(true) {
        tracing::info!("ImagePolicy is suspended; skipping.");
        return Ok(Disposition::Done);
    }
    let now = status::now();
    let result = steps(ctx, obj).await;
    let mut next = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    next.reconcile_request.last_handled_reconcile_at = status::requested_at(obj);
    let previous = next.latest_ref.clone();
    let mut changed = false;
    let ready = match &result {
        Ok(latest) => {
            changed = previous.as_ref() != Some(latest);
            let message = match &previous {
                Some(prev) if changed => format!(
                    "Latest image tag for {} updated from {} to {}",
                    latest.name, prev.tag, latest.tag
                ),
                _ => format!(
                    "Latest image tag for {} resolved to {}",
                    latest.name, latest.tag
                ),
            };
            if changed {
                next.observed_previous_ref = previous.clone();
            }
            next.latest_ref = Some(latest.clone());
            Ok(message)
        }
        Err(failure) => {
            next.observed_previous_ref = None;
            Err(failure)
        }
    };
    if status::observes_generation(ready.as_ref().map(|_| ()).map_err(|f| *f)) {
        next.observed_generation = generation;
    }
    next.conditions = Some(status::ready_conditions(
        next.conditions.take(),
        ready.as_deref().map_err(|f| *f),
        generation,
        &now,
    ));
    let mut value =
        serde_json::to_value(&next).map_err(|e| ReconcileError::Status(e.to_string()))?;
    if next.observed_previous_ref.is_none() {
        // A merge patch keeps fields it does not mention: clear it explicitly.
        value["observedPreviousRef"] = serde_json::Value::Null;
    }
    status::patch_status(&ctx.kube, obj, value).await?;
    if let (Ok(latest), Ok(message)) = (&result, &ready)
        && changed
    {
        tracing::info!(tag = %latest.tag, "{message}");
        record_event(
            &ctx.kube,
            &ctx.instance,
            &obj.object_ref(&()),
            false,
            reasons::SUCCEEDED,
            message.clone(),
        )
        .await;
        notify_automations(ctx, obj, latest).await;
    }
    Ok(match result {
        Err(Failure { retry: Some(d), .. }) => Disposition::Retry(d),
        _ => Disposition::Done,
    })
}

async fn steps(ctx: &Context, obj: &ImagePolicy) -> Result<ImageRef, Failure> {
    let namespace = obj.namespace().unwrap_or_default();
    if let Err(e) = obj.spec.validate() {
        return Err(Failure::stall(
            reasons::FAILURE,
            format!("invalid spec: {e}"),
        ));
    }
    Policy::from_spec(&obj.spec).map_err(|e| Failure::stall(reasons::FAILURE, e.to_string()))?;
    let reference = &obj.spec.image_repository_ref;
    let repo_namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    let repos: Api<ImageRepository> = Api::namespaced(ctx.kube.clone(), &repo_namespace);
    let repo = repos
        .get_opt(&reference.name)
        .await
        .map_err(|e| Failure::retry(reasons::FAILURE, e.to_string(), RETRY))?
        .ok_or_else(|| {
            Failure::wait(
                reasons::DEPENDENCY_NOT_READY,
                format!(
                    "referenced ImageRepository '{repo_namespace}/{}' not found",
                    reference.name
                ),
            )
        })?;
    if repo_namespace != namespace {
        check_access(ctx, &repo, &namespace).await?;
    }
    let stored = ctx
        .tags
        .get(&repo_namespace, &reference.name)
        .await
        .map_err(|e| Failure::retry(reasons::FAILURE, e.to_string(), RETRY))?
        .ok_or_else(|| {
            Failure::wait(
                reasons::DEPENDENCY_NOT_READY,
                format!(
                    "ImageRepository '{repo_namespace}/{}' has not been scanned yet",
                    reference.name
                ),
            )
        })?;
    let previous = obj.status.as_ref().and_then(|s| s.latest_ref.clone());
    let (client, auth) = if obj.spec.digest_reflection_policy() == ReflectionPolicy::Never {
        (
            RegistryClient::new(ClientOptions::default())
                .map_err(|e| Failure::stall(reasons::FAILURE, e.to_string()))?,
            RegistryAuthSource::Anonymous,
        )
    } else {
        digest_client(ctx, &repo, &repo_namespace).await?
    };
    latest_ref(
        &obj.spec,
        &repo.spec.image,
        &stored.tags,
        previous.as_ref(),
        &client,
        &auth,
    )
    .await
    .map_err(|e| match e {
        PolicyError::Digest(ref d) if d.is_auth() => Failure::wait(e.reason(), e.to_string()),
        PolicyError::Digest(_) => Failure::retry(e.reason(), e.to_string(), RETRY),
        // No match waits for new tags (the scan asks again); the rest is configuration.
        PolicyError::NoMatch { .. } => Failure::wait(e.reason(), e.to_string()),
        _ => Failure::stall(e.reason(), e.to_string()),
    })
}

/// The registry client and credentials of the ImageRepository, for digest look-ups.
async fn digest_client(
    ctx: &Context,
    repo: &ImageRepository,
    namespace: &str,
) -> Result<(RegistryClient, RegistryAuthSource), Failure> {
    let load = |name: String| async move {
        secret_data(&ctx.kube, namespace, &name)
            .await
            .map_err(|e| Failure::retry(reasons::ACCESS_DENIED, e, RETRY))
    };
    let docker = match &repo.spec.secret_ref {
        Some(r) => load(r.name.clone()).await?,
        None => None,
    };
    let cert = match &repo.spec.cert_secret_ref {
        Some(r) => load(r.name.clone()).await?,
        None => None,
    };
    let proxy = match &repo.spec.proxy_secret_ref {
        Some(r) => load(r.name.clone()).await?,
        None => None,
    };
    let request = ScanRequest::from_spec(
        &repo.spec,
        docker.as_ref(),
        cert.as_ref(),
        ctx.azure.clone(),
    )
    .and_then(|request| request.with_proxy(proxy.as_ref()))
    .map_err(|e| Failure::wait(reasons::ACCESS_DENIED, e.to_string()))?;
    let client = RegistryClient::new(request.options.clone())
        .map_err(|e| Failure::stall(reasons::FAILURE, e.to_string()))?;
    Ok((client, request.auth))
}

/// `spec.accessFrom` of an ImageRepository in another namespace must select ours.
async fn check_access(
    ctx: &Context,
    repo: &ImageRepository,
    namespace: &str,
) -> Result<(), Failure> {
    let denied = || {
        Failure::wait(
            reasons::ACCESS_DENIED,
            format!(
                "access denied to ImageRepository '{}/{}': spec.accessFrom does not select namespace '{namespace}'",
                repo.namespace().unwrap_or_default(),
                repo.name_any()
            ),
        )
    };
    let Some(access) = &repo.spec.access_from else {
        return Err(denied());
    };
    let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
    let labels = namespaces
        .get_opt(namespace)
        .await
        .map_err(|e| Failure::retry(reasons::ACCESS_DENIED, e.to_string(), RETRY))?
        .map(|ns| ns.labels().clone())
        .unwrap_or_default();
    let allowed = access.namespace_selectors.iter().any(|sel| {
        sel.match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v))
    });
    if allowed { Ok(()) } else { Err(denied()) }
}

/// Asks the ImageUpdateAutomations in the policy's namespace whose `policySelector` selects it
/// to run now: the latest image changed.
async fn notify_automations(ctx: &Context, obj: &ImagePolicy, latest: &ImageRef) {
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<ImageUpdateAutomation> = Api::namespaced(ctx.kube.clone(), &namespace);
    let automations = match api.list(&Default::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!(error = %e, "Could not list ImageUpdateAutomations; they run at their interval.");
            return;
        }
    };
    let token = format!("policy/{}/{}", obj.name_any(), latest);
    for automation in automations {
        let selected = match &automation.spec.policy_selector {
            Some(selector) => selector_matches(selector, obj.labels()).unwrap_or(false),
            None => true,
        };
        if selected {
            request_upstream(&ctx.publisher, &automation, &token).await;
        }
    }
}
