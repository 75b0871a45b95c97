//! The event bus (`ferry-bus`) against a real `nats-server -js`, one server per test.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use async_nats::jetstream;
use bytes::Bytes;
use ferry_bus::topology::{self, DLQ_STREAM, dlq_subject};
use ferry_bus::trace_headers::FERRY_TYPE;
use ferry_bus::{
    ConsumerSpec, HandlerConfig, HandlerError, Lease, LeaseError, Outcome, PublishOptions,
    Publisher, Retention, Settlement, StreamSpec, Subscriber, Topology,
};
use ferry_integration_tests::HarnessError;
use ferry_integration_tests::nats::NatsServer;
use ferry_proto::events::v1::{DeadLetter, ObjectRef, ReconcileRequest};
use opentelemetry::trace::{SpanId, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Upper bound for any one test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const STREAM: &str = "JOBS";
const CONSUMER: &str = "worker";
const SUBJECT: &str = "jobs.worker.thing";

async fn bounded<T>(test: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test exceeded its time bound")?
}

/// A work-queue stream `JOBS` with one consumer `worker`, plus Ferry's dead-letter stream.
fn jobs_topology(ack_wait: Duration, max_deliver: u32) -> Result<Topology> {
    let dlq = topology::ferry()
        .stream(DLQ_STREAM)
        .cloned()
        .context("Ferry's topology declares the DLQ stream")?;
    Ok(Topology {
        streams: vec![
            StreamSpec::new(STREAM, Retention::WorkQueue, &["jobs.>"]),
            dlq,
        ],
        consumers: vec![ConsumerSpec {
            ack_wait,
            max_deliver,
            ..ConsumerSpec::new(STREAM, CONSUMER, "jobs.worker.>")
        }],
        ..Topology::default()
    })
}

/// A server with the jobs topology in place, and a JetStream context on it.
async fn jobs_server(
    ack_wait: Duration,
    max_deliver: u32,
) -> Result<(NatsServer, jetstream::Context)> {
    let server = NatsServer::start().await?;
    let js = server.jetstream().await?;
    ferry_bus::ensure(&js, &jobs_topology(ack_wait, max_deliver)?).await?;
    Ok((server, js))
}

fn request(name: &str) -> ReconcileRequest {
    ReconcileRequest {
        object: Some(ObjectRef {
            api_version: "source.toolkit.fluxcd.io/v1".into(),
            kind: "GitRepository".into(),
            namespace: "flux-system".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }),
        reason: "interval".into(),
        generation: 1,
        requested_at: String::new(),
        triggered_at_unix_ms: 1,
    }
}

async fn subscriber(js: &jetstream::Context) -> Result<Subscriber<ReconcileRequest>> {
    Ok(Subscriber::bind(js, STREAM, CONSUMER).await?)
}

async fn last_dead_letter(js: &jetstream::Context) -> Result<DeadLetter> {
    let dlq = js.get_stream(DLQ_STREAM).await?;
    let raw = dlq
        .get_last_raw_message_by_subject(&dlq_subject(STREAM, CONSUMER))
        .await
        .context("no dead letter recorded")?;
    decode(raw.payload.as_ref())
}

async fn message_count(js: &jetstream::Context, stream: &str) -> Result<u64> {
    Ok(js.get_stream(stream).await?.info().await?.state.messages)
}

fn encode<M: ferry_bus::Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

fn decode<M: ferry_bus::Message>(bytes: &[u8]) -> Result<M> {
    Ok(M::decode(bytes)?)
}

/// Records finished spans.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Recorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if let Ok(mut spans) = self.0.lock() {
            spans.extend(batch);
        }
        Ok(())
    }
}

#[tokio::test]
async fn trace_context_published_becomes_the_receivers_parent() -> Result<()> {
    bounded(async {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let recorder = Recorder::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(recorder.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bus-test"));
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

        let (_server, js) = jobs_server(Duration::from_secs(5), 3).await?;
        let publisher = Publisher::new(js.clone());

        let publish_span = tracing::info_span!("publish side");
        let sent = publish_span.context().span().span_context().clone();
        ensure!(
            sent.is_valid(),
            "the publishing span has an OpenTelemetry context"
        );
        publisher
            .publish(SUBJECT, &request("traced"), PublishOptions::default())
            .instrument(publish_span)
            .await?;

        let delivery = subscriber(&js)
            .await?
            .next(Duration::from_secs(5))
            .await?
            .context("the message arrives")?;
        let parent = delivery.parent_context().span().span_context().clone();
        ensure!(parent.is_remote(), "the parent is a remote context");
        ensure!(parent.trace_id() == sent.trace_id(), "same trace id");
        ensure!(
            parent.span_id() == sent.span_id(),
            "parent span id is the publisher's"
        );

        let receive_span = delivery.span("handle thing");
        let received = receive_span.context().span().span_context().clone();
        ensure!(
            received.trace_id() == sent.trace_id(),
            "the receiving span joins the trace"
        );
        ensure!(
            received.span_id() != sent.span_id(),
            "the receiving span is a new span"
        );
        drop(receive_span);
        delivery.ack().await?;

        let spans = recorder.0.lock().map(|s| s.clone()).unwrap_or_default();
        let handled = spans
            .iter()
            .find(|s| s.name == "handle thing")
            .context("the receiving span was exported")?;
        ensure!(handled.span_context.trace_id() == sent.trace_id());
        ensure!(
            handled.parent_span_id == sent.span_id() && handled.parent_span_is_remote,
            "the exported receiving span's parent is the publisher's span: {:?} vs {:?}",
            handled.parent_span_id,
            sent.span_id()
        );
        ensure!(handled.parent_span_id != SpanId::INVALID);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn unacked_message_is_redelivered_after_the_ack_wait() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(1), 5).await?;
        let sent = Publisher::new(js.clone())
            .publish(SUBJECT, &request("forgotten"), PublishOptions::default())
            .await?;
        let sub = subscriber(&js).await?;

        let first = sub
            .next(Duration::from_secs(5))
            .await?
            .context("first delivery")?;
        ensure!(first.deliveries() == 1);
        ensure!(first.stream_sequence() == sent.sequence);
        let started = tokio::time::Instant::now();
        // Not acked: dropped on the floor.
        drop(first);

        let second = sub
            .next(Duration::from_secs(5))
            .await?
            .context("redelivery after the ack wait")?;
        let waited = started.elapsed();
        ensure!(
            second.deliveries() == 2,
            "deliveries = {}",
            second.deliveries()
        );
        ensure!(second.stream_sequence() == sent.sequence);
        ensure!(second.message() == &request("forgotten"));
        ensure!(
            waited >= Duration::from_millis(700),
            "redelivered only after the ack wait, not after {waited:?}"
        );
        second.ack().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_same_message_id_twice_is_stored_once() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(5), 3).await?;
        let publisher = Publisher::new(js.clone());
        let id = "uid-a/7/29412345";
        let first = publisher
            .publish(SUBJECT, &request("a"), PublishOptions::with_id(id))
            .await?;
        let second = publisher
            .publish(SUBJECT, &request("a"), PublishOptions::with_id(id))
            .await?;
        ensure!(!first.duplicate, "the first copy is stored");
        ensure!(
            second.duplicate,
            "the second copy is reported as a duplicate"
        );
        ensure!(second.sequence == first.sequence);
        let other = publisher
            .publish(
                SUBJECT,
                &request("a"),
                PublishOptions::with_id("uid-a/8/29412345"),
            )
            .await?;
        ensure!(!other.duplicate);
        ensure!(message_count(&js, STREAM).await? == 2);

        let delivery = subscriber(&js)
            .await?
            .next(Duration::from_secs(5))
            .await?
            .context("delivery")?;
        ensure!(delivery.info().message_id.as_deref() == Some(id));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn in_progress_keeps_a_slow_message_from_redelivery() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(1), 5).await?;
        Publisher::new(js.clone())
            .publish(SUBJECT, &request("slow"), PublishOptions::default())
            .await?;
        let sub = subscriber(&js).await?;
        let other = subscriber(&js).await?;
        let slow = sub
            .next(Duration::from_secs(5))
            .await?
            .context("first delivery")?;

        // Three ack waits of work, reporting progress every 300 ms, while another replica
        // pulls the same consumer.
        let work = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                slow.in_progress().await?;
            }
            anyhow::Ok(())
        };
        let (worked, stolen) = tokio::join!(work, other.next(Duration::from_millis(3200)));
        worked?;
        if let Some(stolen) = stolen? {
            bail!(
                "redelivered during progress reports (delivery {})",
                stolen.deliveries()
            );
        }
        slow.ack().await?;
        ensure!(
            other.next(Duration::from_millis(1500)).await?.is_none(),
            "nothing left after the ack"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_failing_message_stops_after_max_deliver_and_leaves_a_dead_letter() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(1), 3).await?;
        let id = "uid-poison/1/1";
        let sent = Publisher::new(js.clone())
            .publish(SUBJECT, &request("poison"), PublishOptions::with_id(id))
            .await?;
        let sub = subscriber(&js).await?;
        ensure!(sub.max_deliver() == 3);

        let mut settlements = Vec::new();
        for attempt in 1..=3 {
            let delivery = sub
                .next(Duration::from_secs(5))
                .await?
                .with_context(|| format!("delivery {attempt}"))?;
            ensure!(delivery.deliveries() == attempt);
            settlements.push(
                delivery
                    .retry_or_dead_letter("boom: the handler failed", Duration::from_millis(100))
                    .await?,
            );
        }
        ensure!(
            settlements
                == vec![
                    Settlement::Retried(Duration::from_millis(100)),
                    Settlement::Retried(Duration::from_millis(100)),
                    Settlement::DeadLettered,
                ],
            "{settlements:?}"
        );
        ensure!(
            sub.next(Duration::from_millis(2500)).await?.is_none(),
            "no delivery after the bound"
        );

        let dead = last_dead_letter(&js).await?;
        ensure!(
            dead.payload == encode(&request("poison")),
            "payload kept byte for byte"
        );
        ensure!(dead.deliveries == 3);
        ensure!(dead.stream == STREAM && dead.consumer == CONSUMER && dead.subject == SUBJECT);
        ensure!(dead.stream_sequence == sent.sequence);
        ensure!(dead.last_error == "boom: the handler failed");
        ensure!(dead.message_id == id);
        ensure!(dead.dead_at_unix_ms > 0);
        // Terminated: the work queue no longer holds it.
        ensure!(
            message_count(&js, STREAM).await? == 0,
            "terminated in the work queue"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_at_once() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(1), 3).await?;
        let publisher = Publisher::new(js.clone());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(FERRY_TYPE, "ferry.events.v1.ReconcileRequest");
        let garbage = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
        publisher
            .publish_raw(SUBJECT, headers, garbage.clone(), PublishOptions::default())
            .await?;
        let mut wrong_type = async_nats::HeaderMap::new();
        wrong_type.insert(FERRY_TYPE, "ferry.events.v1.ApplyResult");
        publisher
            .publish_raw(
                SUBJECT,
                wrong_type,
                Bytes::from(encode(&request("x"))),
                PublishOptions::default(),
            )
            .await?;
        publisher
            .publish(SUBJECT, &request("good"), PublishOptions::default())
            .await?;

        let sub = subscriber(&js).await?;
        let delivery = sub
            .next(Duration::from_secs(5))
            .await?
            .context("the good message arrives")?;
        ensure!(delivery.message() == &request("good"), "poison was skipped");
        delivery.ack().await?;

        ensure!(
            message_count(&js, DLQ_STREAM).await? == 2,
            "two dead letters"
        );
        let dlq = js.get_stream(DLQ_STREAM).await?;
        let first = decode::<DeadLetter>(dlq.get_raw_message(1).await?.payload.as_ref())?;
        ensure!(first.payload == garbage.to_vec());
        ensure!(first.deliveries == 1);
        ensure!(
            first.last_error.contains("cannot decode"),
            "{}",
            first.last_error
        );
        let second = decode::<DeadLetter>(dlq.get_raw_message(2).await?.payload.as_ref())?;
        ensure!(
            second.last_error.contains("ApplyResult"),
            "{}",
            second.last_error
        );
        ensure!(message_count(&js, STREAM).await? == 0);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ensure_is_idempotent_twice_concurrently_and_applies_updates() -> Result<()> {
    bounded(async {
        let server = NatsServer::start().await?;
        let ferry = topology::ferry();
        // Three replicas racing on an empty server.
        let mut contexts = Vec::new();
        for _ in 0..3 {
            contexts.push(server.jetstream().await?);
        }
        let raced =
            futures::future::join_all(contexts.iter().map(|js| ferry_bus::ensure(js, &ferry)))
                .await;
        for result in raced {
            result?;
        }
        let js = &contexts[0];
        ferry_bus::ensure(js, &ferry).await?;
        ferry_bus::ensure(js, &ferry).await?;

        for stream in &ferry.streams {
            let info = js.get_stream(&stream.name).await?.info().await?.clone();
            ensure!(info.config.subjects == stream.subjects, "{}", stream.name);
            ensure!(info.config.max_age == stream.max_age, "{}", stream.name);
            ensure!(info.config.duplicate_window == stream.duplicate_window);
        }
        for consumer in &ferry.consumers {
            let info = js
                .get_stream(&consumer.stream)
                .await?
                .consumer_info(&consumer.durable)
                .await?;
            ensure!(info.config.filter_subject == consumer.filter_subject);
            ensure!(info.config.ack_wait == consumer.ack_wait);
            ensure!(info.config.max_deliver == i64::from(consumer.max_deliver));
            ensure!(info.config.backoff == consumer.backoff);
        }
        for kv in &ferry.kv {
            let status = js.get_key_value(&kv.bucket).await?.status().await?;
            ensure!(status.max_age() == kv.max_age, "{}", kv.bucket);
            ensure!(status.history() == kv.history, "{}", kv.bucket);
        }
        for store in &ferry.object_stores {
            js.get_object_store(&store.bucket).await?;
        }

        // A later version of the topology changes what the server can change.
        let mut changed = ferry.clone();
        if let Some(events) = changed
            .streams
            .iter_mut()
            .find(|s| s.name == topology::EVENTS_STREAM)
        {
            events.max_age = Duration::from_secs(3600);
        }
        if let Some(applier) = changed
            .consumers
            .iter_mut()
            .find(|c| c.durable == "applier")
        {
            applier.ack_wait = Duration::from_secs(45);
            applier.backoff = vec![Duration::from_secs(45), Duration::from_secs(90)];
        }
        ferry_bus::ensure(js, &changed).await?;
        let events = js
            .get_stream(topology::EVENTS_STREAM)
            .await?
            .info()
            .await?
            .clone();
        ensure!(events.config.max_age == Duration::from_secs(3600));
        let applier = js
            .get_stream(topology::WORK_STREAM)
            .await?
            .consumer_info("applier")
            .await?;
        ensure!(applier.config.ack_wait == Duration::from_secs(45));
        ensure!(applier.config.backoff.len() == 2);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_lease_cannot_be_taken_twice_and_can_after_release_or_expiry() -> Result<()> {
    bounded(async {
        let server = NatsServer::start().await?;
        let js = server.jetstream().await?;
        ferry_bus::ensure(&js, &topology::ferry()).await?;
        let kv = js.get_key_value(topology::LEASES_BUCKET).await?;
        let key = "GitRepository.flux-system.podinfo";
        let ttl = Duration::from_secs(1);

        let a = Lease::acquire(&kv, key, "source-controller/a", ttl).await?;
        match Lease::acquire(&kv, key, "source-controller/b", ttl).await {
            Err(LeaseError::Held { holder, .. }) => ensure!(holder == "source-controller/a"),
            other => bail!("a held lease was taken again: {other:?}"),
        }
        a.release().await?;

        // Released: the next holder takes it at once.
        let mut b = Lease::acquire(&kv, key, "source-controller/b", ttl).await?;
        b.renew().await?;
        ensure!(matches!(
            Lease::acquire(&kv, key, "source-controller/c", ttl).await,
            Err(LeaseError::Held { .. })
        ));

        // b stops renewing; after its TTL c takes over, and b learns it lost the lease.
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        let mut c = Lease::acquire(&kv, key, "source-controller/c", ttl).await?;
        ensure!(c.holder() == "source-controller/c");
        ensure!(matches!(b.renew().await, Err(LeaseError::Lost { .. })));
        ensure!(matches!(b.release().await, Err(LeaseError::Lost { .. })));
        c.renew().await?;
        c.release().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn run_handler_hands_back_in_flight_work_on_shutdown() -> Result<()> {
    bounded(async {
        // A long ack wait: a prompt redelivery can only come from the hand-back.
        let (_server, js) = jobs_server(Duration::from_secs(30), 5).await?;
        let sent = Publisher::new(js.clone())
            .publish(SUBJECT, &request("in-flight"), PublishOptions::default())
            .await?;

        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let started_tx = Arc::new(Mutex::new(Some(started_tx)));
        let handler = move |_delivery: ferry_bus::Delivery<ReconcileRequest>| {
            let started_tx = started_tx.clone();
            async move {
                if let Some(tx) = started_tx.lock().ok().and_then(|mut tx| tx.take()) {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, HandlerError>(Outcome::Ack)
            }
        };
        let shutdown = async {
            let _ = started_rx.await;
        };
        let config = HandlerConfig {
            concurrency: 2,
            pull_expiry: Duration::from_millis(500),
            grace: Duration::from_millis(500),
            ..HandlerConfig::default()
        };
        let began = tokio::time::Instant::now();
        let summary =
            ferry_bus::run_handler_with(subscriber(&js).await?, handler, shutdown, config).await;
        ensure!(summary.handed_back == 1, "{summary:?}");
        ensure!(summary.acked == 0, "{summary:?}");
        ensure!(
            began.elapsed() < Duration::from_secs(5),
            "shutdown took {:?}",
            began.elapsed()
        );

        // The next replica gets it at once, long before the 30 s ack wait.
        let next = subscriber(&js)
            .await?
            .next(Duration::from_secs(3))
            .await?
            .context("handed-back work is redelivered to the next subscriber")?;
        ensure!(next.stream_sequence() == sent.sequence);
        ensure!(next.deliveries() == 2);
        next.ack().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn run_handler_acks_successes_and_dead_letters_permanent_failures() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(5), 3).await?;
        let publisher = Publisher::new(js.clone());
        for name in ["ok-1", "bad", "ok-2"] {
            publisher
                .publish(SUBJECT, &request(name), PublishOptions::default())
                .await?;
        }
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let handler = move |delivery: ferry_bus::Delivery<ReconcileRequest>| {
            let done_tx = done_tx.clone();
            async move {
                let name = delivery
                    .message()
                    .object
                    .as_ref()
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                let _ = done_tx.send(name.clone());
                if name == "bad" {
                    Err(HandlerError::permanent("object is invalid"))
                } else {
                    Ok(Outcome::Ack)
                }
            }
        };
        let shutdown = async move {
            for _ in 0..3 {
                let _ = done_rx.recv().await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let config = HandlerConfig {
            pull_expiry: Duration::from_millis(500),
            ..HandlerConfig::default()
        };
        let summary =
            ferry_bus::run_handler_with(subscriber(&js).await?, handler, shutdown, config).await;
        ensure!(
            summary.acked == 2 && summary.dead_lettered == 1,
            "{summary:?}"
        );
        ensure!(message_count(&js, STREAM).await? == 0);
        let dead = last_dead_letter(&js).await?;
        ensure!(dead.last_error == "object is invalid");
        ensure!(dead.payload == encode(&request("bad")));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn nats_server_restart_keeps_jetstream_data() -> Result<()> {
    bounded(async {
        let (mut server, js) = jobs_server(Duration::from_secs(5), 3).await?;
        Publisher::new(js.clone())
            .publish(SUBJECT, &request("durable"), PublishOptions::default())
            .await?;
        let port = server.port();
        server.restart().await?;
        ensure!(server.port() == port);
        let js = server.jetstream().await?;
        ensure!(message_count(&js, STREAM).await? == 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn pull_stream_yields_messages_as_they_are_published() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(5), 3).await?;
        let publisher = Publisher::new(js.clone());
        let sub = subscriber(&js).await?.with_prefetch(2);
        let mut stream = std::pin::pin!(sub.pull().await?);
        for name in ["one", "two", "three"] {
            publisher
                .publish(SUBJECT, &request(name), PublishOptions::default())
                .await?;
        }
        for name in ["one", "two", "three"] {
            let delivery = futures::StreamExt::next(&mut stream)
                .await
                .context("the stream goes on")??;
            ensure!(delivery.message() == &request(name));
            delivery.ack().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_missing_nats_server_binary_is_named_with_its_package() -> Result<()> {
    match NatsServer::start_with_binary("ferry-no-such-nats-server").await {
        Err(error @ HarnessError::MissingBinary { .. }) => {
            let text = error.to_string();
            ensure!(text.contains("ferry-no-such-nats-server"), "{text}");
            ensure!(text.contains("apt-get install -y nats-server"), "{text}");
            Ok(())
        }
        other => bail!("expected a missing-binary error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_handler_crash_on_the_last_delivery_is_dead_lettered_from_the_advisory() -> Result<()> {
    bounded(async {
        let (_server, js) = jobs_server(Duration::from_secs(1), 2).await?;
        let topology = jobs_topology(Duration::from_secs(1), 2)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let watcher_js = js.clone();
        let watcher = tokio::spawn(async move {
            ferry_bus::watch_max_deliveries(&watcher_js, &topology, &[CONSUMER], async {
                let _ = stop_rx.await;
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;

        let sent = Publisher::new(js.clone())
            .publish(
                SUBJECT,
                &request("crashy"),
                PublishOptions::with_id("crashy/1/1"),
            )
            .await?;
        let sub = subscriber(&js).await?;
        for attempt in 1..=2 {
            let delivery = sub
                .next(Duration::from_secs(5))
                .await?
                .with_context(|| format!("delivery {attempt}"))?;
            ensure!(delivery.deliveries() == attempt);
            // The handler "crashes": no ack, no nak.
            drop(delivery);
        }
        ensure!(
            sub.next(Duration::from_millis(2500)).await?.is_none(),
            "no third delivery"
        );

        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let dead = loop {
            if message_count(&js, DLQ_STREAM).await? > 0 {
                break last_dead_letter(&js).await?;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "no dead letter from the advisory"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        ensure!(dead.last_error == ferry_bus::max_deliveries::NO_ANSWER);
        ensure!(dead.deliveries == 2);
        ensure!(dead.stream_sequence == sent.sequence);
        ensure!(dead.payload == encode(&request("crashy")));
        ensure!(dead.message_id == "crashy/1/1");
        ensure!(
            message_count(&js, STREAM).await? == 0,
            "removed from the work queue"
        );

        let _ = stop_tx.send(());
        let recorded = watcher.await??;
        ensure!(recorded == 1, "recorded {recorded}");
        Ok(())
    })
    .await
}
