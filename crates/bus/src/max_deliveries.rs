//! Dead letters for messages whose handler never answered on their last delivery.
//!
//! When a handler crashes or hangs on a message's last allowed delivery, nobody is left to
//! write its dead letter: the server just stops delivering it and emits a core-NATS advisory on
//! `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`. [`watch_max_deliveries`]
//! listens for those advisories (in a queue group per consumer, so one replica of a service
//! handles each), reads the message from its stream, records a
//! [`DeadLetter`](ferry_proto::events::v1::DeadLetter) as the handlers would, and removes the
//! message from a work-queue stream, where it would otherwise stay until the stream's max age.
//! Advisories are not stored: one emitted while no watcher runs is lost.

use std::future::Future;
use std::pin::pin;

use async_nats::jetstream;
use futures::StreamExt;
use serde::Deserialize;

use crate::dead_letter::{self, Original};
use crate::error::WatchError;
use crate::handler::error_chain;
use crate::publish::Publisher;
use crate::topology::{Retention, Topology};
use crate::trace_headers;

/// Subject prefix of the server's max-deliveries advisories.
pub const MAX_DELIVERIES_ADVISORY: &str = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";

/// The `last_error` of a dead letter written from an advisory.
pub const NO_ANSWER: &str =
    "no answer from the handler on the last delivery (it crashed or hung past the ack wait)";

/// The fields of `io.nats.jetstream.advisory.v1.max_deliver` the watcher uses.
#[derive(Debug, Deserialize)]
struct Advisory {
    stream: String,
    consumer: String,
    stream_seq: u64,
    deliveries: u64,
}

/// Watches the consumers named in `durables` (all of `topology`'s when empty) until
/// `shutdown` completes, dead-lettering every message the server gives up on. Returns how many
/// it recorded. Failures on single advisories are logged and skipped.
pub async fn watch_max_deliveries<S: Future<Output = ()>>(
    js: &jetstream::Context,
    topology: &Topology,
    durables: &[&str],
    shutdown: S,
) -> Result<u64, WatchError> {
    let mut subscriptions = Vec::new();
    for consumer in topology
        .consumers
        .iter()
        .filter(|c| durables.is_empty() || durables.contains(&c.durable.as_str()))
    {
        let subject = format!(
            "{MAX_DELIVERIES_ADVISORY}.{}.{}",
            consumer.stream, consumer.durable
        );
        let group = format!("ferry-dlq-{}-{}", consumer.stream, consumer.durable);
        let subscription = js
            .client()
            .queue_subscribe(subject.clone(), group)
            .await
            .map_err(|source| WatchError::Subscribe { subject, source })?;
        subscriptions.push(subscription);
    }
    // Make sure the server knows the subscriptions before the caller goes on.
    js.client()
        .flush()
        .await
        .map_err(|source| WatchError::Flush { source })?;
    let publisher = Publisher::new(js.clone());
    let mut advisories = futures::stream::select_all(subscriptions);
    let mut shutdown = pin!(shutdown);
    let mut recorded = 0;
    loop {
        let message = tokio::select! {
            () = &mut shutdown => return Ok(recorded),
            message = advisories.next() => match message {
                Some(message) => message,
                None => return Ok(recorded),
            },
        };
        let advisory: Advisory = match serde_json::from_slice(&message.payload) {
            Ok(advisory) => advisory,
            Err(error) => {
                tracing::warn!(error = %error, subject = %message.subject, "unreadable advisory");
                continue;
            }
        };
        match record(js, &publisher, topology, &advisory).await {
            Ok(()) => recorded += 1,
            Err(error) => tracing::warn!(
                error,
                stream = %advisory.stream,
                consumer = %advisory.consumer,
                stream_sequence = advisory.stream_seq,
                "dead-lettering an abandoned message failed"
            ),
        }
    }
}

async fn record(
    js: &jetstream::Context,
    publisher: &Publisher,
    topology: &Topology,
    advisory: &Advisory,
) -> Result<(), String> {
    let stream = js
        .get_stream_no_info(&advisory.stream)
        .await
        .map_err(|e| error_chain(&e))?;
    let message = stream
        .get_raw_message(advisory.stream_seq)
        .await
        .map_err(|e| format!("reading the message: {}", error_chain(&e)))?;
    let message_id = message
        .headers
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.as_str().to_owned());
    let original = Original {
        stream: &advisory.stream,
        consumer: &advisory.consumer,
        subject: message.subject.as_str(),
        stream_sequence: advisory.stream_seq,
        deliveries: advisory.deliveries,
        message_id: message_id.as_deref(),
        payload: &message.payload,
    };
    let parent = trace_headers::extract_context(&message.headers);
    dead_letter::publish(publisher, &original, NO_ANSWER, &parent)
        .await
        .map_err(|e| format!("publishing the dead letter: {}", error_chain(&e)))?;
    tracing::warn!(
        stream = %advisory.stream,
        consumer = %advisory.consumer,
        subject = %message.subject,
        stream_sequence = advisory.stream_seq,
        deliveries = advisory.deliveries,
        "message dead-lettered after its handler never answered"
    );
    let work_queue = topology
        .stream(&advisory.stream)
        .is_some_and(|s| s.retention == Retention::WorkQueue);
    if work_queue {
        stream
            .delete_message(advisory.stream_seq)
            .await
            .map_err(|e| format!("removing it from the work queue: {}", error_chain(&e)))?;
    }
    Ok(())
}
