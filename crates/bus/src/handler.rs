//! `run_handler`: a pull loop with bounded concurrency, progress reports and graceful hand-back.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::delivery::{AckHandle, Delivery, Settlement};
use crate::error::{BoxError, HandlerError};
use crate::message::Message;
use crate::subscribe::Subscriber;

/// What a handler decided about a message it processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: acknowledge.
    Ack,
    /// Not now: deliver again after this delay (dead-lettered if it was the last delivery).
    Retry(Duration),
    /// Never: dead-letter with this reason.
    Dead(String),
}

/// Tuning of [`run_handler_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    /// Most messages handled at once by this process.
    pub concurrency: usize,
    /// How long one pull request waits for messages; also bounds how long a shutdown waits
    /// for an outstanding pull request (whose messages are handed back at once).
    pub pull_expiry: Duration,
    /// How long a shutdown waits for in-flight handlers before handing their messages back.
    pub grace: Duration,
    /// How often a running handler's message gets `in_progress`; `None` uses a third of the
    /// consumer's ack wait.
    pub progress_interval: Option<Duration>,
    /// Redelivery delay of a [`HandlerError::Transient`] without its own delay, and of a
    /// panicked handler.
    pub retry_delay: Duration,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            pull_expiry: Duration::from_secs(2),
            grace: Duration::from_secs(10),
            progress_interval: None,
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// What a [`run_handler`] loop did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Messages acknowledged.
    pub acked: u64,
    /// Messages naked for a later retry.
    pub retried: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
    /// Messages handed back (naked without delay) on shutdown.
    pub handed_back: u64,
    /// Messages the handler settled itself through the delivery.
    pub settled_by_handler: u64,
    /// Settlements that failed to reach the server (the message is redelivered after its
    /// ack wait).
    pub settle_failures: u64,
}

/// How one message ended.
enum Done {
    Settled(Settlement),
    ByHandler,
    Failed,
}

impl RunSummary {
    fn record(&mut self, result: Result<Done, JoinError>) {
        match result {
            Ok(Done::Settled(Settlement::Acked)) => self.acked += 1,
            Ok(Done::Settled(Settlement::Retried(_))) => self.retried += 1,
            Ok(Done::Settled(Settlement::DeadLettered)) => self.dead_lettered += 1,
            Ok(Done::Settled(Settlement::HandedBack)) => self.handed_back += 1,
            Ok(Done::ByHandler) => self.settled_by_handler += 1,
            Ok(Done::Failed) | Err(_) => self.settle_failures += 1,
        }
    }
}

/// [`run_handler_with`] with [`HandlerConfig::default`].
pub async fn run_handler<M, H, Fut, S>(
    subscriber: Subscriber<M>,
    handler: H,
    shutdown: S,
) -> RunSummary
where
    M: Message,
    H: Fn(Delivery<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, HandlerError>> + Send + 'static,
    S: Future<Output = ()>,
{
    run_handler_with(subscriber, handler, shutdown, HandlerConfig::default()).await
}

/// Pulls from `subscriber` and runs `handler` on each delivery, at most
/// `config.concurrency` at once, each in its own task inside a span whose parent is the
/// publisher's trace context.
///
/// * The handler's result settles the message: [`Outcome::Ack`] acks; [`Outcome::Retry`] and
///   [`HandlerError::Transient`] nak with a delay, or dead-letter when the consumer's
///   `max_deliver` is reached; [`Outcome::Dead`] and [`HandlerError::Permanent`]
///   dead-letter at once. A panicking handler counts as a transient failure. A handler may
///   also settle the delivery itself; the loop then leaves it alone.
/// * While a handler runs, its message gets `in_progress` every `progress_interval`, so slow
///   work is not delivered twice.
/// * When `shutdown` completes the loop stops pulling, hands back (naks without delay) any
///   message that still arrives for its outstanding pull request, waits up to `config.grace`
///   for running handlers, then aborts the rest and hands their messages back, so another
///   replica gets them at once instead of after the ack wait.
///
/// Transport errors are logged and retried; the loop only ends on shutdown.
pub async fn run_handler_with<M, H, Fut, S>(
    subscriber: Subscriber<M>,
    handler: H,
    shutdown: S,
    config: HandlerConfig,
) -> RunSummary
where
    M: Message,
    H: Fn(Delivery<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, HandlerError>> + Send + 'static,
    S: Future<Output = ()>,
{
    let handler = Arc::new(handler);
    let concurrency = config.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let hand_back = CancellationToken::new();
    let progress = config
        .progress_interval
        .unwrap_or(subscriber.ack_wait() / 3)
        .max(Duration::from_millis(100));
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut summary = RunSummary::default();
    let mut shutdown = pin!(shutdown);

    'pull: loop {
        while let Some(done) = tasks.try_join_next() {
            summary.record(done);
        }
        let first = tokio::select! {
            biased;
            () = &mut shutdown => break 'pull,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break 'pull,
            },
        };
        let mut held = vec![first];
        while held.len() < concurrency {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => held.push(permit),
                Err(_) => break,
            }
        }
        let batch = match subscriber.batch(held.len(), config.pull_expiry).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "pull failed; retrying");
                tokio::select! {
                    () = &mut shutdown => break 'pull,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue 'pull,
                }
            }
        };
        let mut batch = pin!(batch);
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown, if !stopping => stopping = true,
                item = batch.next() => match item {
                    None => break,
                    Some(Ok(delivery)) if stopping => {
                        summary.record(Ok(hand_back_now(delivery.handle()).await));
                    }
                    Some(Ok(delivery)) => {
                        let permit = held.pop();
                        let handler = handler.clone();
                        let hand_back = hand_back.clone();
                        let retry_delay = config.retry_delay;
                        tasks.spawn(async move {
                            let settlement =
                                work(delivery, handler, hand_back, progress, retry_delay).await;
                            drop(permit);
                            settlement
                        });
                    }
                    Some(Err(error)) => {
                        tracing::warn!(error = %error_chain(&error), "pull failed");
                    }
                },
            }
        }
        if stopping {
            break 'pull;
        }
    }

    let finish = async {
        while let Some(done) = tasks.join_next().await {
            summary.record(done);
        }
    };
    if tokio::time::timeout(config.grace, finish).await.is_err() {
        hand_back.cancel();
        while let Some(done) = tasks.join_next().await {
            summary.record(done);
        }
    }
    if let Err(error) = subscriber.jetstream().client().flush().await {
        tracing::warn!(error = %error_chain(&error), "flushing acknowledgements failed");
    }
    summary
}

async fn hand_back_now(handle: &AckHandle) -> Done {
    match handle.nak().await {
        Ok(()) => Done::Settled(Settlement::HandedBack),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "handing back failed");
            Done::Failed
        }
    }
}

/// Runs one handler to completion (reporting progress) or until handed back, then settles.
async fn work<M, H, Fut>(
    delivery: Delivery<M>,
    handler: Arc<H>,
    hand_back: CancellationToken,
    progress: Duration,
    retry_delay: Duration,
) -> Done
where
    M: Message,
    H: Fn(Delivery<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, HandlerError>> + Send + 'static,
{
    let handle = delivery.handle().clone();
    let span = handle.span(&format!("process {}", handle.info().subject));
    let mut task = tokio::spawn(handler(delivery).instrument(span));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + progress, progress);
    let result = loop {
        tokio::select! {
            result = &mut task => break result,
            _ = ticker.tick() => {
                if let Err(error) = handle.in_progress().await {
                    tracing::warn!(error = %error_chain(&error), "in_progress failed");
                }
            }
            () = hand_back.cancelled() => {
                task.abort();
                return hand_back_now(&handle).await;
            }
        }
    };
    if handle.is_settled() {
        return Done::ByHandler;
    }
    let settled = match result {
        Ok(Ok(Outcome::Ack)) => handle.ack().await.map(|()| Settlement::Acked),
        Ok(Ok(Outcome::Retry(delay))) => {
            handle
                .retry_or_dead_letter("handler asked for a retry on the last delivery", delay)
                .await
        }
        Ok(Ok(Outcome::Dead(reason))) => handle
            .dead_letter(&reason)
            .await
            .map(|()| Settlement::DeadLettered),
        Ok(Err(HandlerError::Transient {
            source,
            retry_after,
        })) => {
            handle
                .retry_or_dead_letter(&boxed_chain(&source), retry_after.unwrap_or(retry_delay))
                .await
        }
        Ok(Err(HandlerError::Permanent { source })) => handle
            .dead_letter(&boxed_chain(&source))
            .await
            .map(|()| Settlement::DeadLettered),
        Err(join) => {
            handle
                .retry_or_dead_letter(&format!("handler panicked: {join}"), retry_delay)
                .await
        }
    };
    match settled {
        Ok(settlement) => Done::Settled(settlement),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "settling a delivery failed");
            Done::Failed
        }
    }
}

/// `error: cause: cause`, the whole source chain on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn boxed_chain(error: &BoxError) -> String {
    error_chain(error.as_ref())
}
