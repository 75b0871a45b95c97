//! ImageRepository: load credentials, decide whether to scan, scan, store the tags in KV,
//! tell the ImagePolicies that use it when the tag set changed; one status write at the end.

use super::status::{self, Failure};
use super::support::secret_data;
use super::{Context, Disposition, ReconcileError};
use crate::controller::request_upstream;
use crate::registry::{RegistryError, ScanRequest, TagScan};
use crate::tags::StoredTags;
use flux_api::conditions::reasons;
use flux_api::image::{ImagePolicy, ImageRepository, ImageRepositoryStatus, ScanResult};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use std::time::Duration;

/// Delay before a failed scan is tried again (transient registry errors).
const RETRY: Duration = Duration::from_secs(10);

enum Scanned {
    /// A scan ran.
    New(TagScan),
    /// Nothing changed since the last scan and it is not due.
    Unchanged(ScanResult),
}

/// Reconciles one ImageRepository.
pub async fn reconcile(
    ctx: &Context,
    obj: &ImageRepository,
    reason: &str,
) -> Result<Disposition, ReconcileError> {
    if obj.spec.suspend == Some(true) {
        tracing::info!("ImageRepository is suspended; skipping.");
        return Ok(Disposition::Done);
    }
    let now = status::now();
    let result = steps(ctx, obj, reason, &now).await;
    let mut next = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    next.reconcile_request.last_handled_reconcile_at = status::requested_at(obj);
    let ready_message = match &result {
        Ok(Scanned::New(scan)) => {
            next.canonical_image_name = Some(scan.canonical_image_name.clone());
            next.last_scan_result = Some(scan.to_status(now.clone()));
            next.observed_exclusion_list = Some(obj.spec.exclusion_list());
            Ok(ready_message(scan.tags.len()))
        }
        Ok(Scanned::Unchanged(last)) => Ok(ready_message(
            usize::try_from(last.tag_count).unwrap_or_default(),
        )),
        Err(failure) => Err(failure),
    };
    if status::observes_generation(ready_message.as_ref().map(|_| ()).map_err(|f| *f)) {
        next.observed_generation = generation;
    }
    next.conditions = Some(status::ready_conditions(
        next.conditions.take(),
        ready_message.as_deref().map_err(|f| *f),
        generation,
        &now,
    ));
    write(ctx, obj, &next).await?;
    Ok(match result {
        Ok(_) => Disposition::Done,
        Err(Failure { retry: Some(d), .. }) => Disposition::Retry(d),
        Err(_) => Disposition::Done,
    })
}

/// Flux's Ready message after a scan.
fn ready_message(tags: usize) -> String {
    format!("successful scan: found {tags} tags")
}

async fn write(
    ctx: &Context,
    obj: &ImageRepository,
    next: &ImageRepositoryStatus,
) -> Result<(), ReconcileError> {
    let value = serde_json::to_value(next).map_err(|e| ReconcileError::Status(e.to_string()))?;
    status::patch_status(&ctx.kube, obj, value).await
}

async fn steps(
    ctx: &Context,
    obj: &ImageRepository,
    reason: &str,
    now: &Time,
) -> Result<Scanned, Failure> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    if let Err(e) = obj.spec.validate() {
        let reason = if e.to_string().contains("spec.image") {
            reasons::IMAGE_URL_INVALID
        } else {
            reasons::FAILURE
        };
        return Err(Failure::stall(reason, format!("invalid spec: {e}")));
    }
    let request = scan_request(ctx, obj, &namespace).await?;
    let stored = ctx
        .tags
        .get(&namespace, &name)
        .await
        .map_err(|e| Failure::retry(reasons::FAILURE, e.to_string(), RETRY))?;
    if let Some(last) = up_to_date(obj, stored.as_ref(), reason, now) {
        tracing::debug!("No scan needed.");
        return Ok(Scanned::Unchanged(last));
    }
    let scan = request.scan().await.map_err(from_registry)?;
    tracing::info!(
        tags = scan.tags.len(),
        revision = %scan.revision,
        pages = scan.pages,
        "Scanned {}.", scan.canonical_image_name
    );
    let tags = StoredTags {
        canonical_image_name: scan.canonical_image_name.clone(),
        revision: scan.revision.clone(),
        tags: scan.tags.clone(),
    };
    // An unchanged tag set is not written again; policies re-evaluate when the tag set or the
    // image name changed (their latestRef names the image); the token makes every replica's
    // report of one change one message.
    if stored.as_ref() != Some(&tags) {
        ctx.tags
            .put(&namespace, &name, &tags)
            .await
            .map_err(|e| Failure::retry(reasons::FAILURE, e.to_string(), RETRY))?;
        let token = short_hash(&format!("{}\n{}", tags.canonical_image_name, tags.revision));
        notify_policies(ctx, &namespace, &name, &token).await;
    }
    Ok(Scanned::New(scan))
}

/// Builds the scan from the spec and its Secrets (`secretRef`, `certSecretRef`,
/// `proxySecretRef`).
async fn scan_request(
    ctx: &Context,
    obj: &ImageRepository,
    namespace: &str,
) -> Result<ScanRequest, Failure> {
    let spec = &obj.spec;
    let docker = referenced(ctx, namespace, spec.secret_ref.as_ref(), "secretRef").await;
    // Registry credentials that cannot be read fail authentication, as in Flux.
    let docker = docker.map_err(|mut f| {
        f.reason = reasons::AUTHENTICATION_FAILED;
        f
    })?;
    let cert = referenced(
        ctx,
        namespace,
        spec.cert_secret_ref.as_ref(),
        "certSecretRef",
    )
    .await?;
    let proxy = referenced(
        ctx,
        namespace,
        spec.proxy_secret_ref.as_ref(),
        "proxySecretRef",
    )
    .await?;
    ScanRequest::from_spec(&obj.spec, docker.as_ref(), cert.as_ref(), ctx.azure.clone())
        .and_then(|request| request.with_proxy(proxy.as_ref()))
        .map_err(from_registry)
}

/// Flux's `shouldScan`: the stored scan stands unless the spec, the requested token or the
/// stored tags changed, or the interval passed. Returns the last result when it stands.
fn up_to_date(
    obj: &ImageRepository,
    stored: Option<&StoredTags>,
    reason: &str,
    now: &Time,
) -> Option<ScanResult> {
    if reason == "interval" {
        return None;
    }
    let status = obj.status.as_ref()?;
    let last = status.last_scan_result.clone()?;
    let stored = stored?;
    let same = status.observed_generation == obj.metadata.generation
        && status.reconcile_request.last_handled_reconcile_at == status::requested_at(obj)
        && status.observed_exclusion_list.as_ref() == Some(&obj.spec.exclusion_list())
        && last.revision.as_deref() == Some(stored.revision.as_str())
        && flux_api::conditions::is_true(status.conditions(), "Ready");
    let scanned = last.scan_time.as_ref()?;
    let interval = obj.spec.interval.as_duration();
    let elapsed = now.0.duration_since(scanned.0);
    let due = elapsed.as_secs_f64() + 1.0 >= interval.as_secs_f64();
    (same && !due).then_some(last)
}

/// Classifies a registry error: an invalid image or exclusion stalls, refused credentials
/// wait for a change or the interval, anything else is retried.
fn from_registry(e: RegistryError) -> Failure {
    let message = e.to_string();
    match e {
        RegistryError::InvalidImage { .. } | RegistryError::InvalidExclusion { .. } => {
            Failure::stall(e.reason(), message)
        }
        RegistryError::Client(_) => Failure::stall(e.reason(), message),
        _ if e.is_auth() => Failure::wait(e.reason(), message),
        _ => Failure::retry(e.reason(), message, RETRY),
    }
}

/// 16 hex digits of the SHA-256 of `text`.
fn short_hash(text: &str) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// Asks every ImagePolicy that refers to `namespace/name` to re-evaluate: the tags changed.
async fn notify_policies(ctx: &Context, namespace: &str, name: &str, token: &str) {
    let api: Api<ImagePolicy> = Api::all(ctx.kube.clone());
    let policies = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!(error = %e, "Could not list ImagePolicies; they re-evaluate on their next change.");
            return;
        }
    };
    for policy in policies {
        let reference = &policy.spec.image_repository_ref;
        let ref_namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| policy.namespace().unwrap_or_default());
        if reference.name == name && ref_namespace == namespace {
            request_upstream(&ctx.publisher, &policy, &format!("tags/{token}")).await;
        }
    }
}

/// The data of the Secret `reference` names (`field` for messages), `None` when unset; a
/// missing Secret waits, a failed read retries (reason `Failure`).
async fn referenced(
    ctx: &Context,
    namespace: &str,
    reference: Option<&flux_api::meta::LocalObjectReference>,
    field: &str,
) -> Result<Option<std::collections::BTreeMap<String, Vec<u8>>>, Failure> {
    let Some(r) = reference else {
        return Ok(None);
    };
    secret_data(&ctx.kube, namespace, &r.name)
        .await
        .map_err(|e| Failure::retry(reasons::FAILURE, e, RETRY))?
        .map(Some)
        .ok_or_else(|| {
            Failure::wait(
                reasons::FAILURE,
                format!("{field}: secret '{namespace}/{}' not found", r.name),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(status: serde_json::Value) -> ImageRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": "apps", "generation": 2,
                         "annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}},
            "spec": {"image": "127.0.0.1:5000/app", "interval": "10m"},
            "status": status,
        }))
        .expect("ImageRepository")
    }

    fn scanned_status(scan_time: &str) -> serde_json::Value {
        serde_json::json!({
            "observedGeneration": 2,
            "lastHandledReconcileAt": "t1",
            "observedExclusionList": ["^.*\\.sig$"],
            "lastScanResult": {"revision": "r1", "tagCount": 3, "scanTime": scan_time},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                            "message": "successful scan: found 3 tags",
                            "lastTransitionTime": scan_time}],
        })
    }

    fn stored(revision: &str) -> StoredTags {
        StoredTags {
            canonical_image_name: "127.0.0.1:5000/app".into(),
            revision: revision.into(),
            tags: vec![],
        }
    }

    fn at(time: &str) -> Time {
        Time(time.parse().expect("timestamp"))
    }

    #[test]
    fn a_recent_unchanged_scan_stands_until_the_interval_or_a_change() {
        let obj = repo(scanned_status("2026-01-01T00:00:00Z"));
        let now = at("2026-01-01T00:05:00Z");
        assert!(up_to_date(&obj, Some(&stored("r1")), "watch", &now).is_some());
        assert!(
            up_to_date(&obj, Some(&stored("r1")), "interval", &now).is_none(),
            "interval tick"
        );
        assert!(
            up_to_date(&obj, Some(&stored("r2")), "watch", &now).is_none(),
            "KV moved on"
        );
        assert!(
            up_to_date(&obj, None, "watch", &now).is_none(),
            "tags missing from KV"
        );
        let later = at("2026-01-01T00:10:00Z");
        assert!(
            up_to_date(&obj, Some(&stored("r1")), "watch", &later).is_none(),
            "interval passed"
        );
        let mut requested = obj.clone();
        requested
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(status::REQUESTED_AT.into(), "t2".into());
        assert!(up_to_date(&requested, Some(&stored("r1")), "requested", &now).is_none());
        let mut changed = obj;
        changed.metadata.generation = Some(3);
        assert!(up_to_date(&changed, Some(&stored("r1")), "watch", &now).is_none());
    }

    #[test]
    fn registry_errors_stall_wait_or_retry_by_cause() {
        let invalid = RegistryError::InvalidImage {
            image: "x".into(),
            reason: "bad".into(),
        };
        let failure = from_registry(invalid);
        assert!(failure.stalled);
        assert_eq!(failure.reason, "ImageURLInvalid");
        let auth = from_registry(RegistryError::Authentication {
            registry: "r".into(),
            message: "401".into(),
        });
        assert_eq!(
            (auth.reason, auth.stalled, auth.retry),
            ("AuthenticationFailed", false, None)
        );
        let read = from_registry(RegistryError::Read {
            operation: "listing tags of",
            registry: "r".into(),
            repository: "a".into(),
            status: Some(503),
            message: "unavailable".into(),
        });
        assert_eq!(read.reason, "ReadOperationFailed");
        assert_eq!(read.retry, Some(RETRY));
    }
}
