//! Watches ImageRepositories, ImagePolicies and ImageUpdateAutomations and publishes reconcile
//! requests: on a new generation or `requestedAt` token at once, and at every interval slot.
//! Every replica publishes; the message ids make JetStream keep one copy of each.

use crate::reconcile::REQUESTED_AT;
use ferry_bus::{Publisher, topology};
use ferry_schedule::{Observed, Trigger};
use ferry_triggers::{OnDelete, Target};
use flux_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation, ReflectionPolicy};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The API version of every kind this service reconciles.
pub const API_VERSION: &str = "image.toolkit.fluxcd.io/v1";

/// An interval so long that the slot never changes: "no interval".
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The kinds this service reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ImageRepository: scans.
    ImageRepository,
    /// ImagePolicy: picks the latest image.
    ImagePolicy,
    /// ImageUpdateAutomation: commits and pushes.
    ImageUpdateAutomation,
}

impl Kind {
    /// The Kubernetes kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ImageRepository => "ImageRepository",
            Kind::ImagePolicy => "ImagePolicy",
            Kind::ImageUpdateAutomation => "ImageUpdateAutomation",
        }
    }

    /// The work subject token: `ferry.work.image-scanner.<token>`; also the lease key prefix.
    pub fn token(self) -> &'static str {
        match self {
            Kind::ImageRepository => "imagerepository",
            Kind::ImagePolicy => "imagepolicy",
            Kind::ImageUpdateAutomation => "imageupdateautomation",
        }
    }

    /// The kind named `name` (as in `ReconcileRequest.object.kind`).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Kind::ImageRepository,
            Kind::ImagePolicy,
            Kind::ImageUpdateAutomation,
        ]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The work subject of this kind.
    pub fn subject(self) -> String {
        self.target().subject()
    }

    /// Where this kind's reconcile requests go.
    pub fn target(self) -> Target {
        Target {
            service: topology::IMAGE_SCANNER,
            token: self.token(),
            api_version: API_VERSION,
            kind: self.name(),
        }
    }
}

/// A kind the triggers watch.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Which kind.
    const KIND: Kind;
    /// How often it is due without a change.
    fn interval(&self) -> Duration;
    /// `spec.suspend`.
    fn suspended(&self) -> bool;
}

impl Watched for ImageRepository {
    const KIND: Kind = Kind::ImageRepository;
    fn interval(&self) -> Duration {
        self.spec.interval.as_duration()
    }
    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

impl Watched for ImagePolicy {
    const KIND: Kind = Kind::ImagePolicy;
    /// Only `digestReflectionPolicy: Always` re-evaluates on an interval; otherwise a policy
    /// runs when it changes or its ImageRepository's tags change.
    fn interval(&self) -> Duration {
        match (&self.spec.interval, self.spec.digest_reflection_policy()) {
            (Some(interval), ReflectionPolicy::Always) => interval.as_duration(),
            _ => NEVER,
        }
    }
    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

impl Watched for ImageUpdateAutomation {
    const KIND: Kind = Kind::ImageUpdateAutomation;
    fn interval(&self) -> Duration {
        self.spec.interval.as_duration()
    }
    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

/// Runs the watch of kind `K` until `shutdown` (the shared loop in `ferry-triggers`); a
/// deleted object gets one last reconcile that cleans up (an ImageRepository's stored tags).
pub async fn run<K: Watched>(
    kube: kube::Client,
    publisher: Publisher,
    shutdown: CancellationToken,
) {
    let api: Api<K> = Api::all(kube);
    ferry_triggers::run(
        api,
        publisher,
        K::KIND.target(),
        observed::<K>,
        OnDelete::ReconcileOnce,
        shutdown,
    )
    .await;
}

fn observed<K: Watched>(obj: &K) -> Observed {
    Observed {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.meta().generation.unwrap_or_default(),
        requested_at: obj.annotations().get(REQUESTED_AT).cloned(),
        interval: obj.interval(),
        suspended: obj.suspended(),
        traceparent: None,
    }
}

/// Publishes a reconcile request; a failure is logged, the next trigger or interval retries.
pub async fn publish_request(publisher: &Publisher, kind: Kind, trigger: &Trigger) {
    ferry_triggers::publish_request(publisher, &kind.target(), trigger).await;
}

/// Asks for a reconcile of `obj` because something upstream changed (new tags, a new latest
/// image). Message id `<uid>/<generation>/upstream/<token>`, so every replica's (and every
/// redelivery's) report of one upstream change is one message.
pub async fn request_upstream<K: Watched>(publisher: &Publisher, obj: &K, token: &str) {
    let generation = obj.meta().generation.unwrap_or_default();
    let uid = obj.uid().unwrap_or_default();
    let trigger = Trigger {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        message_id: format!("{uid}/{generation}/upstream/{token}"),
        uid,
        generation,
        reason: "upstream",
        requested_at: None,
        // Published from inside the upstream reconcile's span, which the headers carry.
        traceparent: None,
    };
    publish_request(publisher, K::KIND, &trigger).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_one_work_subject_each_and_parse_back() {
        for kind in [
            Kind::ImageRepository,
            Kind::ImagePolicy,
            Kind::ImageUpdateAutomation,
        ] {
            assert_eq!(
                kind.subject(),
                format!("ferry.work.image-scanner.{}", kind.token())
            );
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("GitRepository"), None);
    }
}
