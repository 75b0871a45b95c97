//! One delivered message: its decoded body, metadata, trace parent and acknowledgements.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::message::Acker;
use bytes::Bytes;
use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::dead_letter::{self, Original};
use crate::error::DeliveryError;
use crate::publish::Publisher;

/// Where a message came from and how often it was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// Stream that stores it.
    pub stream: String,
    /// Durable consumer that delivered it.
    pub consumer: String,
    /// Subject it was published on.
    pub subject: String,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// The consumer's delivery sequence (grows with every delivery, redeliveries included).
    pub consumer_sequence: u64,
    /// Deliveries so far, this one included (1 on the first delivery).
    pub deliveries: u64,
    /// The consumer's bound on deliveries.
    pub max_deliver: u64,
    /// Its `Nats-Msg-Id`, when it had one.
    pub message_id: Option<String>,
    /// Messages still pending for the consumer after this one.
    pub pending: u64,
}

impl DeliveryInfo {
    /// True when the server will not deliver this message again if it is not acked.
    pub fn is_last_delivery(&self) -> bool {
        self.deliveries >= self.max_deliver
    }
}

/// How a delivery was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Acknowledged: done.
    Acked,
    /// Negatively acknowledged: delivered again after the delay.
    Retried(Duration),
    /// Recorded on the dead-letter stream and terminated.
    DeadLettered,
    /// Handed back on shutdown: delivered again at once to another subscriber.
    HandedBack,
}

struct Inner {
    acker: Acker,
    settled: AtomicBool,
    info: DeliveryInfo,
    payload: Bytes,
    parent: Context,
    publisher: Publisher,
}

/// The acknowledgement side of a delivery; cheap to clone, so a supervisor (such as
/// [`crate::run_handler`]) can settle a message its handler still owns. Once settled (ack,
/// nak, term, dead letter) further settlements are no-ops.
#[derive(Clone)]
pub struct AckHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AckHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckHandle")
            .field("info", &self.inner.info)
            .field("settled", &self.is_settled())
            .finish()
    }
}

impl AckHandle {
    pub(crate) fn new(
        acker: Acker,
        info: DeliveryInfo,
        payload: Bytes,
        parent: Context,
        publisher: Publisher,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                acker,
                settled: AtomicBool::new(false),
                info,
                payload,
                parent,
                publisher,
            }),
        }
    }

    /// Metadata of the delivery.
    pub fn info(&self) -> &DeliveryInfo {
        &self.inner.info
    }

    /// The remote parent context extracted from the message's headers.
    pub fn parent_context(&self) -> &Context {
        &self.inner.parent
    }

    /// The body as received.
    pub fn payload(&self) -> &Bytes {
        &self.inner.payload
    }

    /// True once acked, naked, terminated or dead-lettered.
    pub fn is_settled(&self) -> bool {
        self.inner.settled.load(Ordering::SeqCst)
    }

    /// Marks the delivery settled; false when it already was.
    fn claim(&self) -> bool {
        !self.inner.settled.swap(true, Ordering::SeqCst)
    }

    fn unclaim(&self) {
        self.inner.settled.store(false, Ordering::SeqCst);
    }

    async fn send(&self, kind: AckKind) -> Result<(), async_nats::Error> {
        self.inner.acker.ack_with(kind).await
    }

    /// Acknowledges: the message is done and will not be delivered again.
    pub async fn ack(&self) -> Result<(), DeliveryError> {
        if !self.claim() {
            return Ok(());
        }
        self.send(AckKind::Ack).await.map_err(|source| {
            self.unclaim();
            DeliveryError::Ack {
                sequence: self.inner.info.stream_sequence,
                source,
            }
        })
    }

    /// Asks for redelivery now (to any subscriber).
    pub async fn nak(&self) -> Result<(), DeliveryError> {
        self.nak_inner(None).await
    }

    /// Asks for redelivery after `delay`.
    pub async fn nak_with_delay(&self, delay: Duration) -> Result<(), DeliveryError> {
        self.nak_inner(Some(delay)).await
    }

    async fn nak_inner(&self, delay: Option<Duration>) -> Result<(), DeliveryError> {
        if !self.claim() {
            return Ok(());
        }
        self.send(AckKind::Nak(delay)).await.map_err(|source| {
            self.unclaim();
            DeliveryError::Nak {
                sequence: self.inner.info.stream_sequence,
                delay,
                source,
            }
        })
    }

    /// Reports work in progress: the server restarts the ack-wait timer. No-op once settled.
    pub async fn in_progress(&self) -> Result<(), DeliveryError> {
        if self.is_settled() {
            return Ok(());
        }
        self.send(AckKind::Progress)
            .await
            .map_err(|source| DeliveryError::InProgress {
                sequence: self.inner.info.stream_sequence,
                source,
            })
    }

    /// Stops redelivery without a dead-letter record.
    pub async fn term(&self) -> Result<(), DeliveryError> {
        if !self.claim() {
            return Ok(());
        }
        self.send(AckKind::Term).await.map_err(|source| {
            self.unclaim();
            DeliveryError::Term {
                sequence: self.inner.info.stream_sequence,
                source,
            }
        })
    }

    /// Publishes a [`DeadLetter`](ferry_proto::events::v1::DeadLetter) record with `error` on
    /// `ferry.dlq.<stream>.<consumer>`, then terminates the message. When publishing fails the
    /// message is left unsettled (it is delivered again after its ack wait).
    pub async fn dead_letter(&self, error: &str) -> Result<(), DeliveryError> {
        if self.is_settled() {
            return Ok(());
        }
        let info = &self.inner.info;
        let original = Original {
            stream: &info.stream,
            consumer: &info.consumer,
            subject: &info.subject,
            stream_sequence: info.stream_sequence,
            deliveries: info.deliveries,
            message_id: info.message_id.as_deref(),
            payload: &self.inner.payload,
        };
        dead_letter::publish(&self.inner.publisher, &original, error, &self.inner.parent)
            .await
            .map_err(|source| DeliveryError::DeadLetter {
                sequence: info.stream_sequence,
                source,
            })?;
        tracing::warn!(
            stream = %info.stream,
            consumer = %info.consumer,
            subject = %info.subject,
            stream_sequence = info.stream_sequence,
            deliveries = info.deliveries,
            error,
            "message dead-lettered"
        );
        self.term().await
    }

    /// The usual answer to a failed attempt: dead-letter when this was the last delivery the
    /// consumer allows, otherwise ask for redelivery after `delay`.
    pub async fn retry_or_dead_letter(
        &self,
        error: &str,
        delay: Duration,
    ) -> Result<Settlement, DeliveryError> {
        if self.inner.info.is_last_delivery() {
            self.dead_letter(error).await?;
            Ok(Settlement::DeadLettered)
        } else {
            self.nak_with_delay(delay).await?;
            Ok(Settlement::Retried(delay))
        }
    }

    /// A `tracing` span named `name` (as `otel.name`) whose OpenTelemetry parent is the
    /// publisher's context, so the handler's work joins the publisher's trace.
    pub fn span(&self, name: &str) -> tracing::Span {
        let info = &self.inner.info;
        let span = tracing::info_span!(
            "bus.receive",
            otel.name = name,
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.destination.name = %info.subject,
            messaging.consumer.group.name = %info.consumer,
            messaging.message.id = info.message_id.as_deref().unwrap_or_default(),
            ferry.stream = %info.stream,
            ferry.stream_sequence = info.stream_sequence,
            ferry.deliveries = info.deliveries,
        );
        // Fails only when no OpenTelemetry layer is installed: then there is no trace to join.
        let _ = span.set_parent(self.inner.parent.clone());
        span
    }
}

/// A decoded message delivered by a durable pull consumer, with its acknowledgement handle.
#[derive(Debug)]
pub struct Delivery<M> {
    message: M,
    handle: AckHandle,
}

impl<M> Delivery<M> {
    pub(crate) fn new(message: M, handle: AckHandle) -> Self {
        Self { message, handle }
    }

    /// The decoded message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Splits into the message and its acknowledgement handle.
    pub fn into_parts(self) -> (M, AckHandle) {
        (self.message, self.handle)
    }

    /// The acknowledgement handle (a clone shares the settled state).
    pub fn handle(&self) -> &AckHandle {
        &self.handle
    }

    /// Metadata of the delivery.
    pub fn info(&self) -> &DeliveryInfo {
        self.handle.info()
    }

    /// Deliveries so far, this one included.
    pub fn deliveries(&self) -> u64 {
        self.handle.info().deliveries
    }

    /// The message's sequence in its stream.
    pub fn stream_sequence(&self) -> u64 {
        self.handle.info().stream_sequence
    }

    /// The subject it was published on.
    pub fn subject(&self) -> &str {
        &self.handle.info().subject
    }

    /// The remote parent context extracted from the headers.
    pub fn parent_context(&self) -> &Context {
        self.handle.parent_context()
    }

    /// A span named `name` whose parent is the publisher's context; see [`AckHandle::span`].
    pub fn span(&self, name: &str) -> tracing::Span {
        self.handle.span(name)
    }

    /// See [`AckHandle::ack`].
    pub async fn ack(&self) -> Result<(), DeliveryError> {
        self.handle.ack().await
    }

    /// See [`AckHandle::nak`].
    pub async fn nak(&self) -> Result<(), DeliveryError> {
        self.handle.nak().await
    }

    /// See [`AckHandle::nak_with_delay`].
    pub async fn nak_with_delay(&self, delay: Duration) -> Result<(), DeliveryError> {
        self.handle.nak_with_delay(delay).await
    }

    /// See [`AckHandle::in_progress`].
    pub async fn in_progress(&self) -> Result<(), DeliveryError> {
        self.handle.in_progress().await
    }

    /// See [`AckHandle::term`].
    pub async fn term(&self) -> Result<(), DeliveryError> {
        self.handle.term().await
    }

    /// See [`AckHandle::dead_letter`].
    pub async fn dead_letter(&self, error: &str) -> Result<(), DeliveryError> {
        self.handle.dead_letter(error).await
    }

    /// See [`AckHandle::retry_or_dead_letter`].
    pub async fn retry_or_dead_letter(
        &self,
        error: &str,
        delay: Duration,
    ) -> Result<Settlement, DeliveryError> {
        self.handle.retry_or_dead_letter(error, delay).await
    }
}
