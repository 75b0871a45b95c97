//! Typed publishing of protobuf messages with trace headers and de-duplication ids.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;

use crate::error::PublishError;
use crate::message::{Event, Message};
use crate::trace_headers::{self, FERRY_TYPE};

/// Per-message publishing options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Sent as `Nats-Msg-Id`: a second message with the same id inside the stream's
    /// duplicate window is dropped (and reported as `duplicate`). Ferry's formats are listed
    /// in `docs/events.md`, e.g. `<uid>/<generation>/<time-slot>` for interval ticks.
    pub message_id: Option<String>,
}

impl PublishOptions {
    /// Options with this message id.
    pub fn with_id(message_id: impl Into<String>) -> Self {
        Self {
            message_id: Some(message_id.into()),
        }
    }
}

/// What the server said after storing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in that stream (of the first copy when `duplicate`).
    pub sequence: u64,
    /// True when the message id was seen inside the duplicate window and this copy dropped.
    pub duplicate: bool,
}

/// Publishes protobuf messages to JetStream and waits for the server's ack.
#[derive(Clone, Debug)]
pub struct Publisher {
    jetstream: jetstream::Context,
}

impl Publisher {
    /// A publisher on this JetStream context.
    pub fn new(jetstream: jetstream::Context) -> Self {
        Self { jetstream }
    }

    /// The JetStream context it publishes on.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Encodes `message`, adds `traceparent`/`tracestate` from the current span, `Ferry-Type`
    /// and, when given, `Nats-Msg-Id`, publishes on `subject` and awaits the JetStream ack.
    pub async fn publish<M: Message>(
        &self,
        subject: &str,
        message: &M,
        options: PublishOptions,
    ) -> Result<Published, PublishError> {
        let mut headers = HeaderMap::new();
        trace_headers::inject_current_span(&mut headers);
        headers.insert(FERRY_TYPE, M::TYPE_NAME);
        self.publish_raw(
            subject,
            headers,
            Bytes::from(message.encode_to_vec()),
            options,
        )
        .await
    }

    /// Publishes an [`Event`] on its own subject; see [`Publisher::publish`].
    pub async fn publish_event<E: Event>(
        &self,
        event: &E,
        options: PublishOptions,
    ) -> Result<Published, PublishError> {
        self.publish(E::SUBJECT, event, options).await
    }

    /// Publishes bytes with the given headers (plus `Nats-Msg-Id` from `options`) and awaits
    /// the ack. For tools and tests; services use the typed calls.
    pub async fn publish_raw(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: Bytes,
        options: PublishOptions,
    ) -> Result<Published, PublishError> {
        let mut publish = PublishMessage::build().payload(payload).headers(headers);
        if let Some(id) = options.message_id {
            publish = publish.message_id(id);
        }
        let ack = self
            .jetstream
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|source| PublishError::Send {
                subject: subject.to_owned(),
                source,
            })?
            .await
            .map_err(|source| PublishError::Ack {
                subject: subject.to_owned(),
                source,
            })?;
        Ok(Published {
            stream: ack.stream,
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}
