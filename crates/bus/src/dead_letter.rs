//! Dead-letter records: what is published on `ferry.dlq.<stream>.<consumer>` and how.

use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use bytes::Bytes;
use ferry_proto::events::v1::DeadLetter;
use opentelemetry::Context;
use prost::Message as _;

use crate::error::PublishError;
use crate::message::Message;
use crate::publish::{PublishOptions, Published, Publisher};
use crate::topology::dlq_subject;
use crate::trace_headers::{self, FERRY_TYPE};

/// The message being given up on, as it was delivered.
#[derive(Debug, Clone)]
pub struct Original<'a> {
    /// Stream it was stored in.
    pub stream: &'a str,
    /// Durable consumer that delivered it.
    pub consumer: &'a str,
    /// Subject it was published on.
    pub subject: &'a str,
    /// Its stream sequence.
    pub stream_sequence: u64,
    /// How many times it was delivered, this time included.
    pub deliveries: u64,
    /// Its `Nats-Msg-Id`, when it had one.
    pub message_id: Option<&'a str>,
    /// The body, byte for byte.
    pub payload: &'a Bytes,
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The record kept for `original`, which failed with `error`.
pub fn record(original: &Original<'_>, error: &str) -> DeadLetter {
    DeadLetter {
        stream: original.stream.to_owned(),
        consumer: original.consumer.to_owned(),
        subject: original.subject.to_owned(),
        stream_sequence: original.stream_sequence,
        deliveries: original.deliveries,
        last_error: error.to_owned(),
        payload: original.payload.to_vec(),
        message_id: original.message_id.unwrap_or_default().to_owned(),
        dead_at_unix_ms: now_unix_ms(),
    }
}

/// The `Nats-Msg-Id` of a dead letter: `dlq/<stream>/<consumer>/<stream-sequence>`, so a
/// message dead-lettered twice (the term was lost) is recorded once.
pub fn message_id(stream: &str, consumer: &str, stream_sequence: u64) -> String {
    format!("dlq/{stream}/{consumer}/{stream_sequence}")
}

/// Publishes the dead letter of `original` on `ferry.dlq.<stream>.<consumer>`, carrying the
/// original's trace context (`parent`) so the record joins the original trace.
pub async fn publish(
    publisher: &Publisher,
    original: &Original<'_>,
    error: &str,
    parent: &Context,
) -> Result<Published, PublishError> {
    let dead = record(original, error);
    let mut headers = HeaderMap::new();
    trace_headers::inject_context(parent, &mut headers);
    headers.insert(FERRY_TYPE, <DeadLetter as Message>::TYPE_NAME);
    publisher
        .publish_raw(
            &dlq_subject(original.stream, original.consumer),
            headers,
            Bytes::from(dead.encode_to_vec()),
            PublishOptions::with_id(message_id(
                original.stream,
                original.consumer,
                original.stream_sequence,
            )),
        )
        .await
}
