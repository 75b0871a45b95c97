//! Journeys: the compact record of one source revision's path through the pipeline (steps,
//! times, outcome, trace id), kept in the `ferry-journeys` KV bucket for `ferry trace`.
//!
//! Every writer appends with a read-modify-write guarded by compare-and-swap (KV `update` on
//! the revision it read, retried on a conflict), so services appending at once never lose a
//! step. A record for another source revision is replaced by a new journey; a journey keeps
//! at most [`MAX_STEPS`] steps (its first, the root, and the newest). Writing a journey must
//! never fail a reconcile: callers log a warning on error.

use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use opentelemetry::trace::TraceContextExt as _;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Most steps one journey keeps: the root and the newest `MAX_STEPS - 1`.
pub const MAX_STEPS: usize = 32;
/// Longest step message kept, in bytes; longer ones are cut at a character boundary.
pub const MAX_MESSAGE: usize = 256;
/// Compare-and-swap attempts before [`JourneyError::Conflict`].
const CAS_ATTEMPTS: usize = 16;

/// The step outcome of a step that did what it set out to do.
pub const OK: &str = "ok";
/// The step outcome of a step that failed.
pub const FAILED: &str = "failed";

/// One revision's journey, serialised as
/// `{"revision","traceId","outcome","startedAt","steps":[…]}` (what `ferry trace` renders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journey {
    /// The source revision, e.g. `main@sha1:<hex>`.
    pub revision: String,
    /// The OpenTelemetry trace id (32 hex) of the revision's trace; empty when none was known.
    #[serde(default)]
    pub trace_id: String,
    /// The end result (`Ready`, or `failed: <reason>`); absent while the journey runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// When the journey's record was started, RFC 3339.
    pub started_at: String,
    /// The steps in the order they were recorded.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One step of a journey, serialised as
/// `{"name","service","startedAt","durationMs","outcome","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What the step was: `fetch`, `artifact`, `render`, `apply`, `prune`, `health`, ….
    pub name: String,
    /// The service that ran it.
    pub service: String,
    /// When it started, RFC 3339 with milliseconds.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// [`OK`] or [`FAILED`].
    pub outcome: String,
    /// A short note (counts, cache hit, the error); never secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A step's start: the wall time it is recorded with and a monotonic clock for its duration.
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    started_at: DateTime<Utc>,
    t0: Instant,
}

/// Failure to read or write a journey.
#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    /// The key is not a valid KV key.
    #[error("invalid journey key {key:?}")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// Reading the stored journey failed.
    #[error("reading journey {key}")]
    Read {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: kv::EntryError,
    },
    /// Writing the first journey of the key failed.
    #[error("creating journey {key}")]
    Create {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: kv::CreateError,
    },
    /// Writing the changed journey failed for another reason than a concurrent write.
    #[error("updating journey {key}")]
    Update {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: kv::UpdateError,
    },
    /// Other writers changed the key on every attempt.
    #[error("journey {key} changed under every one of {attempts} attempts to write it")]
    Conflict {
        /// The key.
        key: String,
        /// How many compare-and-swap attempts were made.
        attempts: usize,
    },
    /// The journey could not be serialised.
    #[error("encoding journey {key}")]
    Encode {
        /// The key.
        key: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

/// The journey key of an object: `<Kind>.<namespace>.<name>` (what `ferry trace` reads).
pub fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}.{namespace}.{name}")
}

/// The trace id (32 hex) of the current `tracing` span's OpenTelemetry context; empty when
/// the span is not traced.
pub fn current_trace_id() -> String {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let id = span.span_context().trace_id();
    if id == opentelemetry::trace::TraceId::INVALID {
        String::new()
    } else {
        id.to_string()
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Cuts `s` to at most [`MAX_MESSAGE`] bytes at a character boundary.
fn short(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl Timer {
    /// Starts timing a step now.
    pub fn start() -> Self {
        Self {
            started_at: Utc::now(),
            t0: Instant::now(),
        }
    }

    /// The time since [`Timer::start`].
    pub fn elapsed(&self) -> Duration {
        self.t0.elapsed()
    }

    /// The step, ended now, with `outcome`.
    pub fn step(&self, name: &str, service: &str, outcome: &str) -> Step {
        Step {
            name: name.to_owned(),
            service: service.to_owned(),
            started_at: rfc3339(self.started_at),
            duration_ms: u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: outcome.to_owned(),
            message: None,
        }
    }

    /// A step that succeeded, ended now.
    pub fn ok(&self, name: &str, service: &str) -> Step {
        self.step(name, service, OK)
    }

    /// A step that failed with `message`, ended now.
    pub fn failed(&self, name: &str, service: &str, message: impl Into<String>) -> Step {
        self.step(name, service, FAILED).with_message(message)
    }
}

impl Step {
    /// The step with a short note (cut to [`MAX_MESSAGE`] bytes).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(short(message.into()));
        self
    }

    /// The step with its duration replaced (a wait measured elsewhere).
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

impl Journey {
    /// A new journey for `revision`, started now, with no steps.
    pub fn new(revision: &str, trace_id: &str) -> Self {
        Self {
            revision: revision.to_owned(),
            trace_id: trace_id.to_owned(),
            outcome: None,
            started_at: rfc3339(Utc::now()),
            steps: Vec::new(),
        }
    }

    /// The stored journey when it is for `revision`, else a new one; a missing trace id is
    /// filled in from `trace_id`.
    pub fn for_revision(stored: Option<Journey>, revision: &str, trace_id: &str) -> Self {
        let mut journey = match stored {
            Some(j) if j.revision == revision => j,
            _ => Journey::new(revision, trace_id),
        };
        if journey.trace_id.is_empty() {
            journey.trace_id = trace_id.to_owned();
        }
        journey
    }

    /// Appends `step`; past [`MAX_STEPS`] the oldest step after the root is dropped.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
        while self.steps.len() > MAX_STEPS {
            self.steps.remove(1);
        }
    }
}

/// Appends `step` to the journey of `revision` under `key` (a new journey when the stored one
/// is for another revision, or there is none).
pub async fn record_step(
    kv: &kv::Store,
    key: &str,
    revision: &str,
    trace_id: &str,
    step: Step,
) -> Result<Journey, JourneyError> {
    record(kv, key, revision, trace_id, vec![step], None).await
}

/// Appends `steps` to the journey of `revision` under `key` and, when given, sets its outcome,
/// in one write.
pub async fn record(
    kv: &kv::Store,
    key: &str,
    revision: &str,
    trace_id: &str,
    steps: Vec<Step>,
    outcome: Option<String>,
) -> Result<Journey, JourneyError> {
    let written = modify(kv, key, |stored| {
        let mut journey = Journey::for_revision(stored, revision, trace_id);
        for step in &steps {
            journey.push(step.clone());
        }
        if let Some(o) = &outcome {
            journey.outcome = Some(short(o.clone()));
        }
        Some(journey)
    })
    .await?;
    Ok(written.unwrap_or_else(|| Journey::new(revision, trace_id)))
}

/// Appends `step` to whatever journey is stored under `key`, for a step whose revision is not
/// known (a fetch that failed before resolving one); a new journey with an empty revision
/// when there is none.
pub async fn record_step_unknown_revision(
    kv: &kv::Store,
    key: &str,
    trace_id: &str,
    step: Step,
) -> Result<Journey, JourneyError> {
    let written = modify(kv, key, |stored| {
        let revision = stored
            .as_ref()
            .map(|j| j.revision.clone())
            .unwrap_or_default();
        let mut journey = Journey::for_revision(stored, &revision, trace_id);
        journey.push(step.clone());
        Some(journey)
    })
    .await?;
    Ok(written.unwrap_or_else(|| Journey::new("", trace_id)))
}

/// Starts the journey of `revision` under `target_key` with the steps (and trace id) the
/// journey under `source_key` holds for that revision: the fetch is the root of a
/// Kustomization's journey. Nothing is written when the target already records `revision` or
/// the source holds no journey for it. Returns whether it seeded.
pub async fn seed_from(
    kv: &kv::Store,
    source_key: &str,
    target_key: &str,
    revision: &str,
) -> Result<bool, JourneyError> {
    let Some((source, _)) = read(kv, source_key).await? else {
        return Ok(false);
    };
    if source.revision != revision {
        return Ok(false);
    }
    let written = modify(kv, target_key, |stored| {
        if stored.as_ref().is_some_and(|j| j.revision == revision) {
            return None;
        }
        let mut journey = Journey::new(revision, &source.trace_id);
        journey.started_at = source.started_at.clone();
        journey.steps = source.steps.clone();
        Some(journey)
    })
    .await?;
    Ok(written.is_some())
}

/// Reads the journey under `key` (`None` when absent, deleted or not a journey) and the KV
/// revision to update it on (`None` when the key has no entry at all).
pub async fn read(
    kv: &kv::Store,
    key: &str,
) -> Result<Option<(Journey, Option<u64>)>, JourneyError> {
    let (journey, revision) = read_entry(kv, key).await?;
    Ok(journey.map(|j| (j, revision)))
}

async fn read_entry(
    kv: &kv::Store,
    key: &str,
) -> Result<(Option<Journey>, Option<u64>), JourneyError> {
    let entry = kv.entry(key).await.map_err(|source| {
        if source.kind() == kv::EntryErrorKind::InvalidKey {
            JourneyError::InvalidKey {
                key: key.to_owned(),
            }
        } else {
            JourneyError::Read {
                key: key.to_owned(),
                source,
            }
        }
    })?;
    let Some(entry) = entry else {
        return Ok((None, None));
    };
    // A deleted key, or a value that is not a journey (an older format), is simply replaced.
    let journey = match entry.operation {
        Operation::Put => serde_json::from_slice(&entry.value).ok(),
        Operation::Delete | Operation::Purge => None,
    };
    Ok((journey, Some(entry.revision)))
}

/// Read-modify-write of `key` with compare-and-swap. `change` gets the stored journey and
/// returns the one to write, or `None` to leave the key as it is. Returns what was written.
async fn modify<F>(
    kv: &kv::Store,
    key: &str,
    mut change: F,
) -> Result<Option<Journey>, JourneyError>
where
    F: FnMut(Option<Journey>) -> Option<Journey>,
{
    for _ in 0..CAS_ATTEMPTS {
        let (stored, last) = read_entry(kv, key).await?;
        let Some(journey) = change(stored) else {
            return Ok(None);
        };
        let bytes =
            Bytes::from(
                serde_json::to_vec(&journey).map_err(|source| JourneyError::Encode {
                    key: key.to_owned(),
                    source,
                })?,
            );
        if write(kv, key, bytes, last).await? {
            return Ok(Some(journey));
        }
    }
    Err(JourneyError::Conflict {
        key: key.to_owned(),
        attempts: CAS_ATTEMPTS,
    })
}

/// Writes `bytes` if the key is still at `last` (absent when `None`); `false` on a conflict.
async fn write(
    kv: &kv::Store,
    key: &str,
    bytes: Bytes,
    last: Option<u64>,
) -> Result<bool, JourneyError> {
    let invalid = || JourneyError::InvalidKey {
        key: key.to_owned(),
    };
    match last {
        None => match kv.create(key, bytes).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) if e.kind() == CreateErrorKind::InvalidKey => Err(invalid()),
            Err(source) => Err(JourneyError::Create {
                key: key.to_owned(),
                source,
            }),
        },
        Some(revision) => match kv.update(key, bytes, revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) if e.kind() == UpdateErrorKind::InvalidKey => Err(invalid()),
            Err(source) => Err(JourneyError::Update {
                key: key.to_owned(),
                source,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str) -> Step {
        Step {
            name: name.into(),
            service: "source-controller".into(),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            duration_ms: 12,
            outcome: OK.into(),
            message: None,
        }
    }

    #[test]
    fn serialises_in_the_shape_ferry_trace_reads() {
        let mut j = Journey::new("main@sha1:abc", "0af7651916cd43dd8448eb211c80319c");
        j.started_at = "2026-01-02T03:04:05.000Z".into();
        j.outcome = Some("Ready".into());
        j.push(step("fetch").with_message("2 objects"));
        let v = serde_json::to_value(&j).expect("serialises");
        assert_eq!(
            v,
            serde_json::json!({
                "revision": "main@sha1:abc",
                "traceId": "0af7651916cd43dd8448eb211c80319c",
                "outcome": "Ready",
                "startedAt": "2026-01-02T03:04:05.000Z",
                "steps": [{"name": "fetch", "service": "source-controller",
                    "startedAt": "2026-01-02T03:04:05.678Z", "durationMs": 12,
                    "outcome": "ok", "message": "2 objects"}]
            })
        );
        let back: Journey = serde_json::from_value(v).expect("deserialises");
        assert_eq!(back, j);
    }

    #[test]
    fn a_running_journey_has_no_outcome_and_steps_no_empty_message() {
        let mut j = Journey::new("r", "");
        j.push(step("fetch"));
        let v = serde_json::to_value(&j).expect("serialises");
        assert!(v.get("outcome").is_none(), "{v}");
        assert!(v["steps"][0].get("message").is_none(), "{v}");
    }

    #[test]
    fn another_revision_starts_a_new_journey_and_the_same_one_continues() {
        let mut old = Journey::new("main@sha1:1", "t1");
        old.push(step("fetch"));
        old.outcome = Some("Ready".into());
        let same = Journey::for_revision(Some(old.clone()), "main@sha1:1", "t2");
        assert_eq!(same, old, "same revision keeps steps, outcome and trace id");
        let new = Journey::for_revision(Some(old), "main@sha1:2", "t2");
        assert_eq!(new.revision, "main@sha1:2");
        assert_eq!(new.trace_id, "t2");
        assert!(new.steps.is_empty() && new.outcome.is_none());
    }

    #[test]
    fn a_missing_trace_id_is_filled_in() {
        let j = Journey::for_revision(Some(Journey::new("r", "")), "r", "t9");
        assert_eq!(j.trace_id, "t9");
    }

    #[test]
    fn the_step_cap_keeps_the_root_and_the_newest_steps() {
        let mut j = Journey::new("r", "t");
        for i in 0..MAX_STEPS + 5 {
            j.push(step(&format!("s{i}")));
        }
        assert_eq!(j.steps.len(), MAX_STEPS);
        assert_eq!(j.steps[0].name, "s0");
        assert_eq!(j.steps[1].name, "s6");
        assert_eq!(j.steps[MAX_STEPS - 1].name, format!("s{}", MAX_STEPS + 4));
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let s = step("x").with_message("é".repeat(MAX_MESSAGE));
        let m = s.message.expect("message");
        assert!(m.len() <= MAX_MESSAGE && m.len() >= MAX_MESSAGE - 1);
        assert!(m.chars().all(|c| c == 'é'));
    }

    #[test]
    fn timer_steps_carry_outcome_message_and_rfc3339_start() {
        let t = Timer::start();
        let ok = t.ok("render", "kustomize-renderer");
        assert_eq!(ok.outcome, OK);
        assert!(DateTime::parse_from_rfc3339(&ok.started_at).is_ok());
        let failed = t.failed("render", "kustomize-renderer", "boom");
        assert_eq!(failed.outcome, FAILED);
        assert_eq!(failed.message.as_deref(), Some("boom"));
        assert_eq!(
            failed
                .with_duration(Duration::from_millis(1500))
                .duration_ms,
            1500
        );
    }

    #[test]
    fn keys_are_kind_namespace_name() {
        assert_eq!(
            key("GitRepository", "flux-system", "app"),
            "GitRepository.flux-system.app"
        );
    }

    #[test]
    fn an_untraced_span_has_no_trace_id() {
        assert_eq!(current_trace_id(), "");
    }
}
