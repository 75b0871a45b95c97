//! ImageUpdateAutomation: resolve the GitRepository and its credentials, gather the selected
//! ImagePolicies' latest images, run the automation (clone, setters, commit, push, rebase and
//! retry on lost races); one status write at the end. After a push the GitRepository gets
//! `reconcile.fluxcd.io/requestedAt` (Flux's own trigger, so source-controller fetches the new
//! commit at once) and `ferry.dev/traceparent` (so the commit's trace continues this one).

use super::status::{self, Failure};
use super::support::{record_event, required_secret, selector_matches};
use super::{Context, Disposition, ReconcileError};
use crate::automation::{
    self, AutomationError, AutomationOutcome, AutomationRequest, GitCredentials, SigningKey,
};
use crate::setters::{Policies, PolicyKey};
use flux_api::conditions::reasons;
use flux_api::image::{ImagePolicy, ImageRef, ImageUpdateAutomation};
use flux_api::source::GitRepository;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::time::Duration;

use super::status::{FIELD_MANAGER, REQUESTED_AT};

/// The trace-context annotation (defined in `ferry-bus`).
pub use ferry_bus::trace_headers::TRACEPARENT_ANNOTATION;

const RETRY: Duration = Duration::from_secs(10);

/// Flux's Ready message after a successful run.
const UP_TO_DATE: &str = "repository up-to-date";

struct Ran {
    outcome: AutomationOutcome,
    observed: BTreeMap<String, ImageRef>,
    source: GitRepository,
}

/// Reconciles one ImageUpdateAutomation.
pub async fn reconcile(
    ctx: &Context,
    obj: &ImageUpdateAutomation,
) -> Result<Disposition, ReconcileError> {
    if obj.spec.suspend == Some(true) {
        tracing::info!("ImageUpdateAutomation is suspended; skipping.");
        return Ok(Disposition::Done);
    }
    let now = status::now();
    let timer = ferry_bus::journey::Timer::start();
    let result = steps(ctx, obj).await;
    let mut next = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    next.reconcile_request.last_handled_reconcile_at = status::requested_at(obj);
    next.last_automation_run_time = Some(now.clone());
    if let Ok(ran) = &result {
        next.observed_policies = Some(ran.observed.clone());
        match &ran.outcome {
            AutomationOutcome::Pushed { commit, branch, .. } => {
                next.last_push_commit = Some(commit.clone());
                next.last_push_time = Some(now.clone());
                next.observed_source_revision = Some(format!("{branch}@sha1:{commit}"));
            }
            AutomationOutcome::UpToDate { revision, .. } => {
                let branch = checkout_branch(obj, &ran.source);
                next.observed_source_revision = Some(format!("{branch}@sha1:{revision}"));
            }
        }
    }
    let ready = result.as_ref().map(|_| UP_TO_DATE);
    if status::observes_generation(ready.map(|_| ())) {
        next.observed_generation = generation;
    }
    next.conditions = Some(status::ready_conditions(
        next.conditions.take(),
        ready,
        generation,
        &now,
    ));
    let value = serde_json::to_value(&next).map_err(|e| ReconcileError::Status(e.to_string()))?;
    status::patch_status(&ctx.kube, obj, value).await?;
    // Before the source is asked to fetch, so the image update leads the revision's journey.
    if let Ok(ran) = &result {
        crate::journey::pushed(&ctx.journeys, obj, &ran.source, &ran.outcome, &timer).await;
    }
    match &result {
        Ok(Ran {
            outcome:
                AutomationOutcome::Pushed {
                    commit,
                    branch,
                    message,
                    attempts,
                    ..
                },
            source,
            ..
        }) => {
            tracing::info!(%commit, %branch, attempts, "Pushed an image update.");
            record_event(
                &ctx.kube,
                &ctx.instance,
                &obj.object_ref(&()),
                false,
                reasons::SUCCEEDED,
                format!("pushed commit '{commit}' to branch '{branch}'\n{message}"),
            )
            .await;
            request_source_reconcile(ctx, source).await;
        }
        Ok(_) => {}
        Err(failure) => {
            record_event(
                &ctx.kube,
                &ctx.instance,
                &obj.object_ref(&()),
                true,
                failure.reason,
                failure.message.clone(),
            )
            .await;
        }
    }
    Ok(match result {
        Err(Failure { retry: Some(d), .. }) => Disposition::Retry(d),
        _ => Disposition::Done,
    })
}

fn checkout_branch(obj: &ImageUpdateAutomation, source: &GitRepository) -> String {
    obj.spec
        .git
        .as_ref()
        .and_then(|g| g.checkout.as_ref())
        .map(|c| c.reference.clone())
        .unwrap_or_else(|| source.spec.reference())
        .branch
        .unwrap_or_default()
}

async fn steps(ctx: &Context, obj: &ImageUpdateAutomation) -> Result<Ran, Failure> {
    let namespace = obj.namespace().unwrap_or_default();
    if let Err(e) = obj.spec.validate() {
        return Err(Failure::stall(
            reasons::INVALID_SOURCE_CONFIGURATION,
            format!("invalid spec: {e}"),
        ));
    }
    // The source and its credentials.
    let source_ref = &obj.spec.source_ref;
    let source_namespace = source_ref
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    let sources: Api<GitRepository> = Api::namespaced(ctx.kube.clone(), &source_namespace);
    let source = sources
        .get_opt(&source_ref.name)
        .await
        .map_err(|e| Failure::retry(reasons::INVALID_SOURCE_CONFIGURATION, e.to_string(), RETRY))?
        .ok_or_else(|| {
            Failure::wait(
                reasons::INVALID_SOURCE_CONFIGURATION,
                format!(
                    "referenced GitRepository '{source_namespace}/{}' not found",
                    source_ref.name
                ),
            )
        })?;
    let credentials = match &source.spec.secret_ref {
        Some(r) => {
            let data = required_secret(&ctx.kube, &source_namespace, &r.name)
                .await
                .map_err(|e| Failure::wait(reasons::INVALID_SOURCE_CONFIGURATION, e))?;
            GitCredentials::from_secret_data(&data).map_err(|e| {
                Failure::wait(
                    reasons::INVALID_SOURCE_CONFIGURATION,
                    format!("secret '{source_namespace}/{}': {e}", r.name),
                )
            })?
        }
        None => GitCredentials::default(),
    };
    let signing_key = signing_key(ctx, obj, &namespace).await?;
    // The selected policies with a latest image.
    let (policies, observed) = selected_policies(ctx, obj, &namespace).await?;
    let request =
        AutomationRequest::from_specs(obj, &source.spec, credentials, signing_key, policies)
            .map_err(from_automation)?;
    let outcome = automation::run(&request).await.map_err(from_automation)?;
    Ok(Ran {
        outcome,
        observed,
        source,
    })
}

/// The OpenPGP key of `spec.git.commit.signingKey.secretRef` (in the automation's namespace),
/// when one is set and of type gpg; [`AutomationRequest::from_specs`] refuses type ssh.
async fn signing_key(
    ctx: &Context,
    obj: &ImageUpdateAutomation,
    namespace: &str,
) -> Result<Option<SigningKey>, Failure> {
    let Some(requested) = obj
        .spec
        .git
        .as_ref()
        .and_then(|g| g.commit.signing_key.as_ref())
    else {
        return Ok(None);
    };
    if requested.type_ == Some(flux_api::image::SigningKeyType::Ssh) {
        return Ok(None);
    }
    let name = &requested.secret_ref.name;
    let data = required_secret(&ctx.kube, namespace, name)
        .await
        .map_err(|e| Failure::wait(reasons::INVALID_SOURCE_CONFIGURATION, e))?;
    SigningKey::from_secret_data(&data).map(Some).map_err(|e| {
        Failure::wait(
            reasons::INVALID_SOURCE_CONFIGURATION,
            format!("signing key secret '{namespace}/{name}': {e}"),
        )
    })
}

async fn selected_policies(
    ctx: &Context,
    obj: &ImageUpdateAutomation,
    namespace: &str,
) -> Result<(Policies, BTreeMap<String, ImageRef>), Failure> {
    let api: Api<ImagePolicy> = Api::namespaced(ctx.kube.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Failure::retry(reasons::FAILURE, e.to_string(), RETRY))?;
    let mut policies = Policies::new();
    let mut observed = BTreeMap::new();
    for policy in list.items {
        if let Some(selector) = &obj.spec.policy_selector {
            let selected = selector_matches(selector, policy.labels()).map_err(|e| {
                Failure::stall(
                    reasons::INVALID_POLICY_SELECTOR,
                    format!("invalid policy selector: {e}"),
                )
            })?;
            if !selected {
                continue;
            }
        }
        let Some(latest) = policy.status.as_ref().and_then(|s| s.latest_ref.clone()) else {
            continue;
        };
        observed.insert(policy.name_any(), latest.clone());
        policies.insert(
            PolicyKey {
                namespace: namespace.to_owned(),
                name: policy.name_any(),
            },
            latest,
        );
    }
    Ok((policies, observed))
}

fn from_automation(e: AutomationError) -> Failure {
    let message = e.to_string();
    let reason = e.reason();
    match e {
        AutomationError::SshSigningUnsupported
        | AutomationError::Template { .. }
        | AutomationError::InvalidBranchName(_) => Failure::stall(reason, message),
        AutomationError::InvalidSource(_) | AutomationError::BranchNotFound(_) => {
            Failure::wait(reason, message)
        }
        AutomationError::Git(ref g) if g.is_auth() => Failure::wait(reason, message),
        AutomationError::Update(_) | AutomationError::Signing(_) => Failure::wait(reason, message),
        _ => Failure::retry(reason, message, RETRY),
    }
}

/// The W3C `traceparent` of the current span, when a propagator is installed and the span
/// is sampled into a trace.
pub fn traceparent() -> Option<String> {
    let mut headers = async_nats::HeaderMap::new();
    ferry_bus::trace_headers::inject_current_span(&mut headers);
    headers
        .get(ferry_bus::trace_headers::TRACEPARENT)
        .map(|v| v.as_str().to_owned())
}

/// Patches `requestedAt` (and the trace parent) onto the GitRepository so source-controller
/// fetches the pushed commit now. A failure is logged: the commit is pushed, and the
/// GitRepository's interval picks it up anyway.
async fn request_source_reconcile(ctx: &Context, source: &GitRepository) {
    let token = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut annotations = serde_json::Map::new();
    annotations.insert(REQUESTED_AT.into(), token.into());
    if let Some(tp) = traceparent() {
        annotations.insert(TRACEPARENT_ANNOTATION.into(), tp.into());
    }
    let patch = serde_json::json!({ "metadata": { "annotations": annotations } });
    let api: Api<GitRepository> =
        Api::namespaced(ctx.kube.clone(), &source.namespace().unwrap_or_default());
    match api
        .patch(
            &source.name_any(),
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(gitrepository = %source.name_any(), "Asked source-controller to fetch the new commit.")
        }
        Err(e) => {
            tracing::warn!(error = %e, "Could not annotate the GitRepository; it fetches at its interval.")
        }
    }
}
