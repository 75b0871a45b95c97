//! Declarations of every stream, durable consumer, KV bucket and object store Ferry uses.

use std::time::Duration;

use crate::error::TopologyError;

/// Name of the work-queue stream that carries requests to reconcile or render.
pub const WORK_STREAM: &str = "FERRY_WORK";
/// Name of the stream that carries facts (things that happened).
pub const EVENTS_STREAM: &str = "FERRY_EVENTS";
/// Name of the stream that keeps dead letters for inspection.
pub const DLQ_STREAM: &str = "FERRY_DLQ";

/// Prefix of every work subject: `ferry.work.<service>.<kind>`.
pub const WORK_SUBJECT_PREFIX: &str = "ferry.work";
/// Prefix of every dead-letter subject: `ferry.dlq.<stream>.<consumer>`.
pub const DLQ_SUBJECT_PREFIX: &str = "ferry.dlq";

/// Subject of [`ArtifactReady`](ferry_proto::events::v1::ArtifactReady).
pub const ARTIFACT_READY: &str = "ferry.events.artifact.ready";
/// Subject of [`SourceFailed`](ferry_proto::events::v1::SourceFailed).
pub const SOURCE_FAILED: &str = "ferry.events.source.failed";
/// Subject of [`RenderReady`](ferry_proto::events::v1::RenderReady).
pub const RENDER_READY: &str = "ferry.events.render.ready";
/// Subject of [`RenderFailed`](ferry_proto::events::v1::RenderFailed).
pub const RENDER_FAILED: &str = "ferry.events.render.failed";
/// Subject of [`ApplyResult`](ferry_proto::events::v1::ApplyResult).
pub const APPLY_RESULT: &str = "ferry.events.apply.result";

/// The source-controller service (and its work consumer's durable name).
pub const SOURCE_CONTROLLER: &str = "source-controller";
/// The kustomize-renderer service (and its work consumer's durable name).
pub const KUSTOMIZE_RENDERER: &str = "kustomize-renderer";
/// The applier service (and its work consumer's durable name).
pub const APPLIER: &str = "applier";
/// The image-scanner service (and its work consumer's durable name).
pub const IMAGE_SCANNER: &str = "image-scanner";

/// Durable consumer of the applier on [`ARTIFACT_READY`].
pub const APPLIER_ARTIFACT_READY: &str = "applier-artifact-ready";
/// Durable consumer of the applier on [`SOURCE_FAILED`].
pub const APPLIER_SOURCE_FAILED: &str = "applier-source-failed";
/// Durable consumer of the applier on [`RENDER_READY`].
pub const APPLIER_RENDER_READY: &str = "applier-render-ready";
/// Durable consumer of the applier on [`RENDER_FAILED`].
pub const APPLIER_RENDER_FAILED: &str = "applier-render-failed";

/// KV bucket holding short leases on objects (see [`crate::Lease`]).
pub const LEASES_BUCKET: &str = "ferry-leases";
/// KV bucket recording the journey of a revision through the pipeline.
pub const JOURNEYS_BUCKET: &str = "ferry-journeys";
/// KV bucket: the recent artifacts of each source (newest first), for serving and GC.
pub const ARTIFACT_INDEX_BUCKET: &str = "ferry-artifact-index";
/// KV bucket: the scanned tags of each ImageRepository (key `<namespace>.<name>`).
pub const IMAGE_TAGS_BUCKET: &str = "ferry-image-tags";
/// Object store of source artifacts (tar.gz), keyed by `sha256:<hex>` digest.
pub const ARTIFACTS_STORE: &str = "ferry-artifacts";
/// Object store of rendered multi-document YAML, keyed by render digest.
pub const RENDERS_STORE: &str = "ferry-renders";

/// The work subject of one service and kind: `ferry.work.<service>.<kind>`.
///
/// `kind` is a single lower-case subject token chosen by the service (for example
/// `gitrepository`); it must not contain `.`, `*`, `>` or whitespace.
pub fn work_subject(service: &str, kind: &str) -> String {
    format!("{WORK_SUBJECT_PREFIX}.{service}.{kind}")
}

/// The dead-letter subject of one consumer: `ferry.dlq.<stream>.<consumer>`.
pub fn dlq_subject(stream: &str, consumer: &str) -> String {
    format!("{DLQ_SUBJECT_PREFIX}.{stream}.{consumer}")
}

/// What a stream keeps and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep messages until the limits (age, size) remove them; any number of consumers.
    Limits,
    /// Remove a message once one consumer acknowledged it; consumers must not overlap.
    WorkQueue,
    /// Remove a message once every consumer interested in it acknowledged it.
    Interest,
}

/// Where a stream, bucket or object store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// On disk (survives a server restart).
    File,
    /// In memory.
    Memory,
}

/// One JetStream stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Stream name (no `.`, `*`, `>` or whitespace).
    pub name: String,
    /// One-line description shown by `nats stream info`.
    pub description: String,
    /// Subjects the stream captures (wildcards allowed).
    pub subjects: Vec<String>,
    /// Retention policy.
    pub retention: Retention,
    /// Oldest message kept; zero keeps messages regardless of age.
    pub max_age: Duration,
    /// Storage backend.
    pub storage: Storage,
    /// Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate.
    pub duplicate_window: Duration,
    /// Number of replicas in a cluster (1 on a single server).
    pub replicas: usize,
}

impl StreamSpec {
    /// A file-backed, single-replica stream with no age limit and a two-minute duplicate window.
    pub fn new(name: &str, retention: Retention, subjects: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            description: String::new(),
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            retention,
            max_age: Duration::ZERO,
            storage: Storage::File,
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

/// One durable pull consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSpec {
    /// The stream it reads.
    pub stream: String,
    /// Durable name (no `.`, `*`, `>` or whitespace); all replicas of a service share it.
    pub durable: String,
    /// One-line description.
    pub description: String,
    /// The subject (wildcards allowed) it takes from the stream.
    pub filter_subject: String,
    /// How long the server waits for an ack before delivering again (first delivery).
    pub ack_wait: Duration,
    /// Deliveries before the message is dead-lettered; at least 1 (the bus always bounds).
    pub max_deliver: u32,
    /// Ack waits of successive deliveries when a handler neither acks nor naks (crash, hang).
    /// Empty means `ack_wait` every time; otherwise the first entry must equal `ack_wait`
    /// and there must be fewer entries than `max_deliver`.
    pub backoff: Vec<Duration>,
    /// Most deliveries outstanding without an ack, across all replicas.
    pub max_ack_pending: i64,
}

impl ConsumerSpec {
    /// A consumer with a 30 s ack wait, 5 deliveries, no backoff and 1000 pending acks.
    pub fn new(stream: &str, durable: &str, filter_subject: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            durable: durable.to_owned(),
            description: String::new(),
            filter_subject: filter_subject.to_owned(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            backoff: Vec::new(),
            max_ack_pending: 1000,
        }
    }
}

/// One KV bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct KvSpec {
    /// Bucket name (letters, digits, `-`, `_`).
    pub bucket: String,
    /// One-line description.
    pub description: String,
    /// Values kept per key (1 to 64).
    pub history: i64,
    /// Time to live of every value, counted from its last write; zero keeps values forever.
    pub max_age: Duration,
    /// Storage backend.
    pub storage: Storage,
    /// Number of replicas in a cluster.
    pub replicas: usize,
}

/// One object store.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectStoreSpec {
    /// Bucket name (letters, digits, `-`, `_`).
    pub bucket: String,
    /// One-line description.
    pub description: String,
    /// Oldest object kept; zero keeps objects forever.
    pub max_age: Duration,
    /// Storage backend.
    pub storage: Storage,
    /// Number of replicas in a cluster.
    pub replicas: usize,
}

/// Everything [`crate::ensure()`] creates or updates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Topology {
    /// Streams, created before the consumers.
    pub streams: Vec<StreamSpec>,
    /// Durable pull consumers.
    pub consumers: Vec<ConsumerSpec>,
    /// KV buckets.
    pub kv: Vec<KvSpec>,
    /// Object stores.
    pub object_stores: Vec<ObjectStoreSpec>,
}

impl Topology {
    /// The stream with this name.
    pub fn stream(&self, name: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The consumer with this durable name on this stream.
    pub fn consumer(&self, stream: &str, durable: &str) -> Option<&ConsumerSpec> {
        self.consumers
            .iter()
            .find(|c| c.stream == stream && c.durable == durable)
    }

    /// Checks what the server would reject or what would break the bus's guarantees: names,
    /// consumers on undeclared streams, filters outside their stream, unbounded deliveries,
    /// backoff that disagrees with the ack wait, overlapping work-queue consumers.
    pub fn validate(&self) -> Result<(), TopologyError> {
        for s in &self.streams {
            check_name(&s.name)?;
            if s.subjects.is_empty() {
                return Err(TopologyError::NoSubjects {
                    stream: s.name.clone(),
                });
            }
        }
        for c in &self.consumers {
            check_name(&c.durable)?;
            let Some(stream) = self.stream(&c.stream) else {
                return Err(TopologyError::UnknownStream {
                    consumer: c.durable.clone(),
                    stream: c.stream.clone(),
                });
            };
            if !stream
                .subjects
                .iter()
                .any(|s| subject_within(&c.filter_subject, s))
            {
                return Err(TopologyError::FilterOutsideStream {
                    consumer: c.durable.clone(),
                    filter: c.filter_subject.clone(),
                });
            }
            if c.max_deliver == 0 || c.backoff.len() >= c.max_deliver as usize {
                return Err(TopologyError::UnboundedOrShortMaxDeliver {
                    consumer: c.durable.clone(),
                });
            }
            if let Some(first) = c.backoff.first()
                && *first != c.ack_wait
            {
                return Err(TopologyError::BackoffAckWaitMismatch {
                    consumer: c.durable.clone(),
                });
            }
            if stream.retention == Retention::WorkQueue {
                let overlapping = self.consumers.iter().find(|o| {
                    o.stream == c.stream
                        && o.durable != c.durable
                        && (subject_within(&o.filter_subject, &c.filter_subject)
                            || subject_within(&c.filter_subject, &o.filter_subject))
                });
                if let Some(o) = overlapping {
                    return Err(TopologyError::OverlappingWorkQueueConsumers {
                        first: c.durable.clone(),
                        second: o.durable.clone(),
                    });
                }
            }
        }
        for kv in &self.kv {
            check_name(&kv.bucket)?;
        }
        for os in &self.object_stores {
            check_name(&os.bucket)?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), TopologyError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(TopologyError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// True when every subject matched by `inner` is also matched by `outer`.
pub(crate) fn subject_within(inner: &str, outer: &str) -> bool {
    let inner: Vec<&str> = inner.split('.').collect();
    let outer: Vec<&str> = outer.split('.').collect();
    for (i, o) in outer.iter().enumerate() {
        if *o == ">" {
            return inner.len() > i;
        }
        match inner.get(i) {
            None => return false,
            Some(&">") => return false,
            Some(&"*") if *o != "*" => return false,
            Some(t) if *o != "*" && t != o => return false,
            Some(_) => {}
        }
    }
    inner.len() == outer.len()
}

fn work_consumer(service: &str) -> ConsumerSpec {
    ConsumerSpec {
        description: format!("{service} replicas share this queue"),
        ack_wait: Duration::from_secs(30),
        max_deliver: 6,
        backoff: vec![
            Duration::from_secs(30),
            Duration::from_secs(60),
            Duration::from_secs(120),
            Duration::from_secs(300),
        ],
        ..ConsumerSpec::new(
            WORK_STREAM,
            service,
            &format!("{WORK_SUBJECT_PREFIX}.{service}.>"),
        )
    }
}

fn event_consumer(durable: &str, subject: &str) -> ConsumerSpec {
    ConsumerSpec {
        description: format!("{durable}: {subject}"),
        ack_wait: Duration::from_secs(30),
        max_deliver: 5,
        backoff: vec![
            Duration::from_secs(30),
            Duration::from_secs(60),
            Duration::from_secs(120),
        ],
        ..ConsumerSpec::new(EVENTS_STREAM, durable, subject)
    }
}

/// Ferry's topology: every stream, consumer, bucket and object store the services use.
/// `docs/events.md` describes the same values; keep the two in step.
pub fn ferry() -> Topology {
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    Topology {
        streams: vec![
            StreamSpec {
                description: "requests to reconcile or render, one consumer per service".into(),
                max_age: Duration::from_secs(DAY),
                duplicate_window: Duration::from_secs(600),
                ..StreamSpec::new(WORK_STREAM, Retention::WorkQueue, &["ferry.work.>"])
            },
            StreamSpec {
                description: "facts: artifacts, renders and applies that happened".into(),
                max_age: Duration::from_secs(7 * DAY),
                ..StreamSpec::new(EVENTS_STREAM, Retention::Limits, &["ferry.events.>"])
            },
            StreamSpec {
                description: "messages that exhausted their deliveries or could not be decoded"
                    .into(),
                max_age: Duration::from_secs(14 * DAY),
                ..StreamSpec::new(DLQ_STREAM, Retention::Limits, &["ferry.dlq.>"])
            },
        ],
        consumers: vec![
            work_consumer(SOURCE_CONTROLLER),
            work_consumer(KUSTOMIZE_RENDERER),
            work_consumer(APPLIER),
            work_consumer(IMAGE_SCANNER),
            event_consumer(APPLIER_ARTIFACT_READY, ARTIFACT_READY),
            event_consumer(APPLIER_SOURCE_FAILED, SOURCE_FAILED),
            event_consumer(APPLIER_RENDER_READY, RENDER_READY),
            event_consumer(APPLIER_RENDER_FAILED, RENDER_FAILED),
        ],
        kv: vec![
            KvSpec {
                bucket: LEASES_BUCKET.into(),
                description: "short leases on objects; a value lapses 5 min after its last write"
                    .into(),
                history: 1,
                max_age: Duration::from_secs(300),
                storage: Storage::File,
                replicas: 1,
            },
            KvSpec {
                bucket: ARTIFACT_INDEX_BUCKET.into(),
                description: "per source: the last N artifacts (path, digest, revision)".into(),
                history: 1,
                max_age: Duration::ZERO,
                storage: Storage::File,
                replicas: 1,
            },
            KvSpec {
                bucket: IMAGE_TAGS_BUCKET.into(),
                description: "per ImageRepository: the tags of its last scan (gzip)".into(),
                history: 1,
                max_age: Duration::ZERO,
                storage: Storage::File,
                replicas: 1,
            },
            KvSpec {
                bucket: JOURNEYS_BUCKET.into(),
                description: "the path of one revision through the pipeline".into(),
                history: 16,
                max_age: Duration::from_secs(7 * DAY),
                storage: Storage::File,
                replicas: 1,
            },
        ],
        object_stores: vec![
            ObjectStoreSpec {
                bucket: ARTIFACTS_STORE.into(),
                description: "source artifacts (tar.gz), key sha256:<hex>".into(),
                max_age: Duration::ZERO,
                storage: Storage::File,
                replicas: 1,
            },
            ObjectStoreSpec {
                bucket: RENDERS_STORE.into(),
                description: "rendered multi-document YAML, key sha256:<hex>".into(),
                max_age: Duration::ZERO,
                storage: Storage::File,
                replicas: 1,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ferry_topology_is_valid() {
        assert_eq!(ferry().validate(), Ok(()));
    }

    #[test]
    fn subject_containment() {
        assert!(subject_within("ferry.work.applier.>", "ferry.work.>"));
        assert!(subject_within(
            "ferry.events.render.ready",
            "ferry.events.>"
        ));
        assert!(subject_within("a.b", "a.*"));
        assert!(!subject_within("a.>", "a.*"));
        assert!(!subject_within("ferry.work.>", "ferry.work.applier.>"));
        assert!(!subject_within("a.b.c", "a.*"));
        assert!(!subject_within("x.y", "a.>"));
    }

    #[test]
    fn overlapping_work_queue_consumers_are_rejected() {
        let mut t = ferry();
        t.consumers.push(ConsumerSpec {
            max_deliver: 5,
            ..ConsumerSpec::new(WORK_STREAM, "greedy", "ferry.work.>")
        });
        assert!(matches!(
            t.validate(),
            Err(TopologyError::OverlappingWorkQueueConsumers { .. })
        ));
    }

    #[test]
    fn consumers_must_be_bounded() {
        let mut t = ferry();
        t.consumers.push(ConsumerSpec {
            max_deliver: 0,
            ..ConsumerSpec::new(EVENTS_STREAM, "unbounded", APPLY_RESULT)
        });
        assert!(matches!(
            t.validate(),
            Err(TopologyError::UnboundedOrShortMaxDeliver { .. })
        ));
    }

    #[test]
    fn subjects_are_built_from_tokens() {
        assert_eq!(
            work_subject(SOURCE_CONTROLLER, "gitrepository"),
            "ferry.work.source-controller.gitrepository"
        );
        assert_eq!(
            dlq_subject(WORK_STREAM, APPLIER),
            "ferry.dlq.FERRY_WORK.applier"
        );
    }
}
