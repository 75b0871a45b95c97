//! Typed errors of every bus operation, one enum per module, each keeping its source.

use std::time::Duration;

/// A boxed error from a handler or from async-nats' untyped acknowledgement calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`crate::Topology`] that the server would reject or that would break the bus's guarantees.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    /// A stream, consumer or bucket name has characters other than letters, digits, `-`, `_`.
    #[error("invalid name {name:?}: use letters, digits, '-' and '_'")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// A stream declares no subjects.
    #[error("stream {stream} declares no subjects")]
    NoSubjects {
        /// The stream.
        stream: String,
    },
    /// A consumer names a stream the topology does not declare.
    #[error("consumer {consumer} reads undeclared stream {stream}")]
    UnknownStream {
        /// The consumer.
        consumer: String,
        /// The stream it names.
        stream: String,
    },
    /// A consumer's filter subject is not within any subject of its stream.
    #[error("consumer {consumer}: filter {filter} is outside its stream's subjects")]
    FilterOutsideStream {
        /// The consumer.
        consumer: String,
        /// Its filter subject.
        filter: String,
    },
    /// `max_deliver` is zero, or not greater than the number of backoff steps.
    #[error("consumer {consumer}: max_deliver must be at least 1 and exceed the backoff steps")]
    UnboundedOrShortMaxDeliver {
        /// The consumer.
        consumer: String,
    },
    /// The first backoff step differs from `ack_wait` (the server would replace `ack_wait`).
    #[error("consumer {consumer}: the first backoff step must equal ack_wait")]
    BackoffAckWaitMismatch {
        /// The consumer.
        consumer: String,
    },
    /// Two consumers of one work-queue stream have overlapping filters.
    #[error("work-queue consumers {first} and {second} overlap")]
    OverlappingWorkQueueConsumers {
        /// One consumer.
        first: String,
        /// The other.
        second: String,
    },
}

/// Failure of [`crate::ensure()`].
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// The topology is invalid; nothing was sent to the server.
    #[error("invalid topology")]
    Validate(#[from] TopologyError),
    /// Creating a stream failed.
    #[error("creating stream {stream}")]
    CreateStream {
        /// The stream.
        stream: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// Updating an existing stream to the declared config failed.
    #[error("updating stream {stream}")]
    UpdateStream {
        /// The stream.
        stream: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::context::UpdateStreamError,
    },
    /// Creating or updating a durable consumer failed.
    #[error("creating consumer {consumer} on stream {stream}")]
    CreateConsumer {
        /// The stream.
        stream: String,
        /// The consumer.
        consumer: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::stream::ConsumerError,
    },
    /// Creating or updating the stream behind a KV bucket failed.
    #[error("creating KV bucket {bucket}")]
    CreateKeyValue {
        /// The bucket.
        bucket: String,
        /// The failed stream operation.
        #[source]
        source: Box<EnsureError>,
    },
    /// Creating an object store failed, and it did not exist either.
    #[error("creating object store {bucket}")]
    CreateObjectStore {
        /// The bucket.
        bucket: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::context::CreateObjectStoreError,
    },
}

/// Failure of [`crate::Publisher`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Sending the message failed (invalid subject, too large, disconnected).
    #[error("publishing to {subject}")]
    Send {
        /// The subject.
        subject: String,
        /// What the client said.
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
    /// The server did not acknowledge the message (no stream, timeout, rejected).
    #[error("awaiting the JetStream ack for {subject}")]
    Ack {
        /// The subject.
        subject: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
}

/// Failure of [`crate::Subscriber`].
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Looking up the durable consumer failed (missing: run [`crate::ensure()`] first).
    #[error("looking up consumer {consumer} on stream {stream}")]
    GetConsumer {
        /// The stream.
        stream: String,
        /// The consumer.
        consumer: String,
        /// What the server or client said.
        #[source]
        source: BoxError,
    },
    /// Asking the server for messages failed.
    #[error("pulling from consumer {consumer}")]
    Pull {
        /// The consumer.
        consumer: String,
        /// What the server or client said.
        #[source]
        source: BoxError,
    },
    /// A message arrived without JetStream metadata (no or malformed reply subject).
    #[error("reading the JetStream metadata of a message on {subject}")]
    Metadata {
        /// The message's subject.
        subject: String,
        /// What the client said.
        #[source]
        source: BoxError,
    },
    /// A message could not be decoded and dead-lettering it failed too.
    #[error("dead-lettering an undecodable message on {subject}")]
    DeadLetterPoison {
        /// The message's subject.
        subject: String,
        /// Why dead-lettering failed.
        #[source]
        source: Box<DeliveryError>,
    },
}

/// Failure to settle a [`crate::Delivery`].
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Sending `+ACK` failed.
    #[error("acking stream sequence {sequence}")]
    Ack {
        /// The message's stream sequence.
        sequence: u64,
        /// What the client said.
        #[source]
        source: BoxError,
    },
    /// Sending `-NAK` failed.
    #[error("naking stream sequence {sequence} (delay {delay:?})")]
    Nak {
        /// The message's stream sequence.
        sequence: u64,
        /// The requested redelivery delay.
        delay: Option<Duration>,
        /// What the client said.
        #[source]
        source: BoxError,
    },
    /// Sending `+WPI` failed.
    #[error("reporting progress on stream sequence {sequence}")]
    InProgress {
        /// The message's stream sequence.
        sequence: u64,
        /// What the client said.
        #[source]
        source: BoxError,
    },
    /// Sending `+TERM` failed.
    #[error("terminating stream sequence {sequence}")]
    Term {
        /// The message's stream sequence.
        sequence: u64,
        /// What the client said.
        #[source]
        source: BoxError,
    },
    /// Publishing the dead-letter record failed; the original was not terminated.
    #[error("publishing the dead letter of stream sequence {sequence}")]
    DeadLetter {
        /// The message's stream sequence.
        sequence: u64,
        /// Why publishing failed.
        #[source]
        source: PublishError,
    },
}

/// Failure of [`crate::max_deliveries::watch_max_deliveries`] to start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Subscribing to an advisory subject failed.
    #[error("subscribing to {subject}")]
    Subscribe {
        /// The advisory subject.
        subject: String,
        /// What the client said.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// Flushing the subscriptions to the server failed.
    #[error("flushing the advisory subscriptions")]
    Flush {
        /// What the client said.
        #[source]
        source: async_nats::client::FlushError,
    },
}

/// Failure of [`crate::Lease`].
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Someone else holds an unexpired lease on the key.
    #[error("lease {key} is held by {holder} until unix ms {expires_at_unix_ms}")]
    Held {
        /// The key.
        key: String,
        /// The current holder.
        holder: String,
        /// When the current lease lapses unless renewed.
        expires_at_unix_ms: i64,
    },
    /// The lease was taken over, released or expired since it was last written.
    #[error("lease {key} was lost (taken over, released or expired)")]
    Lost {
        /// The key.
        key: String,
    },
    /// The key is not a valid KV key.
    #[error("invalid lease key {key:?}")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// Creating the key failed for another reason than it existing.
    #[error("creating lease {key}")]
    Create {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::kv::CreateError,
    },
    /// Reading the current holder failed.
    #[error("reading lease {key}")]
    Read {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::kv::EntryError,
    },
    /// The stored value is not a lease record.
    #[error("decoding lease {key}")]
    Decode {
        /// The key.
        key: String,
        /// What prost said.
        #[source]
        source: prost::DecodeError,
    },
    /// Writing the renewed lease (or taking over an expired one) failed.
    #[error("updating lease {key}")]
    Update {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::kv::UpdateError,
    },
    /// Deleting the lease failed.
    #[error("releasing lease {key}")]
    Release {
        /// The key.
        key: String,
        /// What the server or client said.
        #[source]
        source: async_nats::jetstream::kv::DeleteError,
    },
}

/// What a handler reports when it could not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying: the message is delivered again after the delay, or dead-lettered when
    /// this was its last delivery.
    #[error("handler failed (transient)")]
    Transient {
        /// What went wrong.
        source: BoxError,
        /// Redelivery delay; `None` uses [`crate::HandlerConfig::retry_delay`].
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: the message is dead-lettered now.
    #[error("handler failed (permanent)")]
    Permanent {
        /// What went wrong.
        source: BoxError,
    },
}

impl HandlerError {
    /// A transient failure with the default retry delay.
    pub fn transient(source: impl Into<BoxError>) -> Self {
        Self::Transient {
            source: source.into(),
            retry_after: None,
        }
    }

    /// A transient failure retried after `delay`.
    pub fn retry_after(source: impl Into<BoxError>, delay: Duration) -> Self {
        Self::Transient {
            source: source.into(),
            retry_after: Some(delay),
        }
    }

    /// A permanent failure: dead-letter now.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self::Permanent {
            source: source.into(),
        }
    }
}
