//! Journeys of image updates (`ferry-journeys`): after an ImageUpdateAutomation pushes, its own
//! key `ImageUpdateAutomation.<ns>.<name>` gets the `push` step, and its GitRepository's key
//! starts the pushed revision's journey with an `image-update` step, so a Kustomization's
//! journey reads image update → fetch → render → apply.

use async_nats::jetstream::kv;
use ferry_bus::journey::{self, Step, Timer};
use flux_api::image::ImageUpdateAutomation;
use flux_api::source::GitRepository;
use kube::ResourceExt;

use crate::automation::AutomationOutcome;

/// The service name written on its steps.
pub const SERVICE: &str = "image-scanner";
/// Clone, set the images, commit and push (one run of the automation).
pub const PUSH: &str = "push";
/// The root of a pushed revision's journey in its GitRepository.
pub const IMAGE_UPDATE: &str = "image-update";

/// What a push records: the revision and the steps for the automation and for the source
/// (`None` for the source when it does not track the pushed branch, so no fetch follows).
fn steps(
    obj: &ImageUpdateAutomation,
    source: &GitRepository,
    outcome: &AutomationOutcome,
    timer: &Timer,
) -> Option<(String, Step, Option<Step>)> {
    let AutomationOutcome::Pushed {
        commit,
        branch,
        result,
        attempts,
        ..
    } = outcome
    else {
        return None;
    };
    let revision = format!("{branch}@sha1:{commit}");
    let files = result.files.len();
    let push = timer.ok(PUSH, SERVICE).with_message(format!(
        "pushed {commit} to {branch}: {files} file(s) changed, {attempts} attempt(s)"
    ));
    let tracks_branch = source.spec.reference().branch.as_deref() == Some(branch.as_str());
    let update = tracks_branch.then(|| {
        timer.ok(IMAGE_UPDATE, SERVICE).with_message(format!(
            "ImageUpdateAutomation {}/{}: {files} file(s) changed",
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        ))
    });
    Some((revision, push, update))
}

/// Records a push (see the module docs); anything else records nothing. Write it before
/// asking the source-controller to fetch, so the fetch lands after the image update.
/// Failures are logged: a journey never fails a reconcile.
pub async fn pushed(
    kv: &kv::Store,
    obj: &ImageUpdateAutomation,
    source: &GitRepository,
    outcome: &AutomationOutcome,
    timer: &Timer,
) {
    let Some((revision, push, update)) = steps(obj, source, outcome, timer) else {
        return;
    };
    let trace_id = journey::current_trace_id();
    let own = journey::key(
        "ImageUpdateAutomation",
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    );
    let outcome = Some(format!("pushed {revision}"));
    if let Err(e) = journey::record(kv, &own, &revision, &trace_id, vec![push], outcome).await {
        tracing::warn!(error = %e, key = own, "Could not record the journey.");
    }
    let Some(update) = update else {
        return;
    };
    let key = journey::key(
        "GitRepository",
        &source.namespace().unwrap_or_default(),
        &source.name_any(),
    );
    if let Err(e) = journey::record_step(kv, &key, &revision, &trace_id, update).await {
        tracing::warn!(error = %e, key, "Could not record the journey.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setters::UpdateResult;

    fn automation() -> ImageUpdateAutomation {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "auto", "namespace": "flux-system"},
            "spec": {"interval": "1m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "update": {"strategy": "Setters"}}
        }))
        .expect("an ImageUpdateAutomation")
    }

    fn source(branch: &str) -> GitRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": "https://example.invalid/r.git",
                     "ref": {"branch": branch}}
        }))
        .expect("a GitRepository")
    }

    fn pushed_to(branch: &str) -> AutomationOutcome {
        AutomationOutcome::Pushed {
            commit: "abc123".into(),
            branch: branch.into(),
            message: "update".into(),
            result: UpdateResult::default(),
            attempts: 1,
        }
    }

    #[test]
    fn a_push_to_the_tracked_branch_starts_the_sources_journey_with_an_image_update() {
        let (revision, push, update) = steps(
            &automation(),
            &source("main"),
            &pushed_to("main"),
            &Timer::start(),
        )
        .expect("a push records");
        assert_eq!(revision, "main@sha1:abc123");
        assert_eq!(push.name, PUSH);
        let update = update.expect("the source tracks main");
        assert_eq!(update.name, IMAGE_UPDATE);
        assert!(
            update
                .message
                .as_deref()
                .is_some_and(|m| m.contains("flux-system/auto"))
        );
    }

    #[test]
    fn a_push_to_another_branch_leaves_the_source_alone_and_up_to_date_records_nothing() {
        let (_, _, update) = steps(
            &automation(),
            &source("main"),
            &pushed_to("auto"),
            &Timer::start(),
        )
        .expect("a push records");
        assert!(update.is_none());
        let up_to_date = AutomationOutcome::UpToDate {
            revision: "abc".into(),
            result: UpdateResult::default(),
        };
        assert!(steps(&automation(), &source("main"), &up_to_date, &Timer::start()).is_none());
    }
}
