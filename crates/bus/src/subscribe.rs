//! Typed pulling from durable consumers; undecodable messages are dead-lettered on arrival.

use std::marker::PhantomData;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer};
use std::pin::pin;

use futures::{Stream, StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::delivery::{AckHandle, Delivery, DeliveryInfo};
use crate::error::{BoxError, SubscribeError};
use crate::message::Message;
use crate::publish::Publisher;
use crate::topology::ConsumerSpec;
use crate::trace_headers::{self, FERRY_TYPE};

/// The shortest pull request worth sending.
const MIN_PULL_EXPIRY: Duration = Duration::from_millis(50);

/// What turns raw JetStream messages into deliveries; cloned into the pull streams.
#[derive(Clone, Debug)]
struct Decoder {
    publisher: Publisher,
    consumer: String,
    max_deliver: u64,
}

impl Decoder {
    /// A delivery, `None` for a poison message that was dead-lettered, or an error.
    async fn accept<M: Message>(
        &self,
        message: jetstream::Message,
    ) -> Option<Result<Delivery<M>, SubscribeError>> {
        let info = match message.info() {
            Ok(info) => info,
            Err(source) => {
                return Some(Err(SubscribeError::Metadata {
                    subject: message.subject.to_string(),
                    source,
                }));
            }
        };
        let stream = info.stream.to_owned();
        let consumer = info.consumer.to_owned();
        let stream_sequence = info.stream_sequence;
        let consumer_sequence = info.consumer_sequence;
        let deliveries = u64::try_from(info.delivered).unwrap_or(0);
        let pending = info.pending;
        let (raw, acker) = message.split();
        let headers = raw.headers.unwrap_or_default();
        let message_id = headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_owned());
        let info = DeliveryInfo {
            stream,
            consumer: if consumer.is_empty() {
                self.consumer.clone()
            } else {
                consumer
            },
            subject: raw.subject.to_string(),
            stream_sequence,
            consumer_sequence,
            deliveries,
            max_deliver: self.max_deliver,
            message_id,
            pending,
        };
        let parent = trace_headers::extract_context(&headers);
        let decoded = decode::<M>(&headers, &raw.payload);
        let handle = AckHandle::new(acker, info, raw.payload, parent, self.publisher.clone());
        match decoded {
            Ok(message) => Some(Ok(Delivery::new(message, handle))),
            Err(reason) => match handle.dead_letter(&reason).await {
                Ok(()) => None,
                Err(source) => Some(Err(SubscribeError::DeadLetterPoison {
                    subject: handle.info().subject.clone(),
                    source: Box::new(source),
                })),
            },
        }
    }
}

/// Decodes a body as `M`, refusing one whose `Ferry-Type` header names another type.
fn decode<M: Message>(headers: &HeaderMap, payload: &[u8]) -> Result<M, String> {
    if let Some(ty) = headers.get(FERRY_TYPE)
        && ty.as_str() != M::TYPE_NAME
    {
        return Err(format!(
            "poison: message type {} where {} was expected",
            ty.as_str(),
            M::TYPE_NAME
        ));
    }
    M::decode(payload).map_err(|e| format!("poison: cannot decode as {}: {e}", M::TYPE_NAME))
}

/// Pulls messages of type `M` from one durable pull consumer (created by [`crate::ensure()`]).
#[derive(Debug)]
pub struct Subscriber<M> {
    consumer: PullConsumer,
    decoder: Decoder,
    stream: String,
    ack_wait: Duration,
    prefetch: usize,
    _message: PhantomData<fn() -> M>,
}

impl<M> Clone for Subscriber<M> {
    fn clone(&self) -> Self {
        Self {
            consumer: self.consumer.clone(),
            decoder: self.decoder.clone(),
            stream: self.stream.clone(),
            ack_wait: self.ack_wait,
            prefetch: self.prefetch,
            _message: PhantomData,
        }
    }
}

impl<M: Message> Subscriber<M> {
    /// Binds to the existing durable consumer `durable` on `stream`, reading its ack wait and
    /// delivery bound from the server.
    pub async fn bind(
        jetstream: &jetstream::Context,
        stream: &str,
        durable: &str,
    ) -> Result<Self, SubscribeError> {
        let get_consumer = |source: BoxError| SubscribeError::GetConsumer {
            stream: stream.to_owned(),
            consumer: durable.to_owned(),
            source,
        };
        let consumer: PullConsumer = jetstream
            .get_stream_no_info(stream)
            .await
            .map_err(|e| get_consumer(Box::new(e)))?
            .get_consumer(durable)
            .await
            .map_err(get_consumer)?;
        let config = &consumer.cached_info().config;
        let max_deliver = u64::try_from(config.max_deliver)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(u64::MAX);
        let ack_wait = config.ack_wait;
        Ok(Self {
            decoder: Decoder {
                publisher: Publisher::new(jetstream.clone()),
                consumer: durable.to_owned(),
                max_deliver,
            },
            consumer,
            stream: stream.to_owned(),
            ack_wait,
            prefetch: 1,
            _message: PhantomData,
        })
    }

    /// Binds to the consumer a [`ConsumerSpec`] declares.
    pub async fn for_consumer(
        jetstream: &jetstream::Context,
        spec: &ConsumerSpec,
    ) -> Result<Self, SubscribeError> {
        Self::bind(jetstream, &spec.stream, &spec.durable).await
    }

    /// How many messages [`Subscriber::pull`] asks for at a time (default 1). Each one's ack
    /// wait runs from its delivery, so keep it small for slow handlers.
    pub fn with_prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// The JetStream context it pulls and dead-letters on.
    pub fn jetstream(&self) -> &jetstream::Context {
        self.decoder.publisher.jetstream()
    }

    /// The stream it reads.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The durable consumer's name.
    pub fn consumer_name(&self) -> &str {
        &self.decoder.consumer
    }

    /// The consumer's ack wait (of the first delivery).
    pub fn ack_wait(&self) -> Duration {
        self.ack_wait
    }

    /// The consumer's bound on deliveries (`u64::MAX` when the server has none).
    pub fn max_deliver(&self) -> u64 {
        self.decoder.max_deliver
    }

    /// An endless stream of deliveries. Poison messages are dead-lettered and skipped;
    /// transport errors are yielded and the stream goes on.
    pub async fn pull(
        &self,
    ) -> Result<
        impl Stream<Item = Result<Delivery<M>, SubscribeError>> + Send + use<M>,
        SubscribeError,
    > {
        let messages = self
            .consumer
            .stream()
            .max_messages_per_batch(self.prefetch)
            .messages()
            .await
            .map_err(|source| self.pull_error(Box::new(source)))?;
        Ok(self.decode_stream(messages.map_err(|e| Box::new(e) as BoxError)))
    }

    /// One pull request for up to `max` messages, ending when they arrived or `expires` passed.
    pub async fn batch(
        &self,
        max: usize,
        expires: Duration,
    ) -> Result<
        impl Stream<Item = Result<Delivery<M>, SubscribeError>> + Send + use<M>,
        SubscribeError,
    > {
        let messages = self
            .consumer
            .batch()
            .max_messages(max.max(1))
            .expires(expires)
            .messages()
            .await
            .map_err(|source| self.pull_error(Box::new(source)))?;
        Ok(self.decode_stream(messages))
    }

    /// Up to `max` deliveries, waiting at most `expires` for them. Poison messages taken on
    /// the way are dead-lettered and do not count.
    pub async fn fetch(
        &self,
        max: usize,
        expires: Duration,
    ) -> Result<Vec<Delivery<M>>, SubscribeError> {
        let max = max.max(1);
        let deadline = Instant::now() + expires;
        let mut deliveries = Vec::with_capacity(max);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut batch = pin!(self.batch(max - deliveries.len(), remaining).await?);
            while let Some(delivery) = batch.next().await {
                deliveries.push(delivery?);
            }
            // A batch also ends early when poison filled part of it: ask again for the rest.
            if deliveries.len() >= max
                || deadline.saturating_duration_since(Instant::now()) < MIN_PULL_EXPIRY
            {
                return Ok(deliveries);
            }
        }
    }

    /// The next delivery, or `None` when none arrived within `expires`.
    pub async fn next(&self, expires: Duration) -> Result<Option<Delivery<M>>, SubscribeError> {
        Ok(self.fetch(1, expires).await?.pop())
    }

    fn pull_error(&self, source: BoxError) -> SubscribeError {
        SubscribeError::Pull {
            consumer: self.decoder.consumer.clone(),
            source,
        }
    }

    fn decode_stream<S>(
        &self,
        messages: S,
    ) -> impl Stream<Item = Result<Delivery<M>, SubscribeError>> + Send + use<M, S>
    where
        S: Stream<Item = Result<jetstream::Message, BoxError>> + Send + 'static,
    {
        let decoder = self.decoder.clone();
        messages.filter_map(move |item| {
            let decoder = decoder.clone();
            async move {
                match item {
                    Ok(message) => decoder.accept::<M>(message).await,
                    Err(source) => Some(Err(SubscribeError::Pull {
                        consumer: decoder.consumer.clone(),
                        source,
                    })),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::events::v1::{ApplyResult, ReconcileRequest};
    use prost::Message as _;

    #[test]
    fn decode_refuses_another_type_and_garbage() {
        let body = ReconcileRequest {
            reason: "watch".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut headers = HeaderMap::new();
        assert!(decode::<ReconcileRequest>(&headers, &body).is_ok());
        headers.insert(FERRY_TYPE, <ApplyResult as Message>::TYPE_NAME);
        let err = decode::<ReconcileRequest>(&headers, &body).err();
        assert!(err.is_some_and(|e| e.contains("ApplyResult")));
        let garbage = decode::<ReconcileRequest>(&HeaderMap::new(), &[0xff, 0xff, 0xff]);
        assert!(garbage.is_err_and(|e| e.contains("cannot decode")));
    }
}
