//! `ensure`: create or update the declared topology on the server, idempotently.

use std::time::Duration;

use async_nats::jetstream::{
    self, ErrorCode,
    consumer::{self, AckPolicy, DeliverPolicy, ReplayPolicy},
    context::CreateStreamErrorKind,
    object_store,
    stream::{self, DiscardPolicy, RetentionPolicy, StorageType},
};

use crate::error::EnsureError;
use crate::topology::{
    ConsumerSpec, KvSpec, ObjectStoreSpec, Retention, Storage, StreamSpec, Topology,
};

/// Creates every stream, consumer, KV bucket and object store of `topology`, or updates
/// existing ones to the declared config. Safe to call at every start-up and from replicas
/// racing each other: creating what exists with the same config succeeds, and a stream that
/// exists with another config is updated (the server refuses changes it cannot make, such as
/// the retention policy, with [`EnsureError::UpdateStream`]). Consumers are created or updated
/// in one call. Object stores are created when missing; an existing one is left as it is.
pub async fn ensure(js: &jetstream::Context, topology: &Topology) -> Result<(), EnsureError> {
    topology.validate()?;
    for spec in &topology.streams {
        ensure_stream(js, spec).await?;
    }
    for spec in &topology.consumers {
        ensure_consumer(js, spec).await?;
    }
    for spec in &topology.kv {
        ensure_kv(js, spec).await?;
    }
    for spec in &topology.object_stores {
        ensure_object_store(js, spec).await?;
    }
    Ok(())
}

fn storage(storage: Storage) -> StorageType {
    match storage {
        Storage::File => StorageType::File,
        Storage::Memory => StorageType::Memory,
    }
}

/// The server refuses a duplicate window longer than the max age.
fn duplicate_window(window: Duration, max_age: Duration) -> Duration {
    if max_age.is_zero() {
        window
    } else {
        window.min(max_age)
    }
}

fn description(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The async-nats config of a stream spec.
pub fn stream_config(spec: &StreamSpec) -> stream::Config {
    stream::Config {
        name: spec.name.clone(),
        description: description(&spec.description),
        subjects: spec.subjects.clone(),
        retention: match spec.retention {
            Retention::Limits => RetentionPolicy::Limits,
            Retention::WorkQueue => RetentionPolicy::WorkQueue,
            Retention::Interest => RetentionPolicy::Interest,
        },
        max_age: spec.max_age,
        storage: storage(spec.storage),
        duplicate_window: duplicate_window(spec.duplicate_window, spec.max_age),
        num_replicas: spec.replicas,
        discard: DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_consumers: -1,
        ..Default::default()
    }
}

/// The async-nats config of a durable pull consumer spec.
pub fn consumer_config(spec: &ConsumerSpec) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(spec.durable.clone()),
        description: description(&spec.description),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        max_deliver: i64::from(spec.max_deliver),
        filter_subject: spec.filter_subject.clone(),
        replay_policy: ReplayPolicy::Instant,
        max_ack_pending: spec.max_ack_pending,
        backoff: spec.backoff.clone(),
        ..Default::default()
    }
}

async fn ensure_stream(js: &jetstream::Context, spec: &StreamSpec) -> Result<(), EnsureError> {
    create_or_update_stream(js, &stream_config(spec)).await
}

/// Creates the stream; when it exists with another config, updates it.
async fn create_or_update_stream(
    js: &jetstream::Context,
    config: &stream::Config,
) -> Result<(), EnsureError> {
    match js.create_stream(config.clone()).await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(e.kind(), CreateStreamErrorKind::JetStream(ref js_err)
                if js_err.error_code() == ErrorCode::STREAM_NAME_EXIST) =>
        {
            js.update_stream(config)
                .await
                .map(drop)
                .map_err(|source| EnsureError::UpdateStream {
                    stream: config.name.clone(),
                    source,
                })
        }
        Err(source) => Err(EnsureError::CreateStream {
            stream: config.name.clone(),
            source,
        }),
    }
}

async fn ensure_consumer(js: &jetstream::Context, spec: &ConsumerSpec) -> Result<(), EnsureError> {
    js.create_consumer_on_stream(consumer_config(spec), &spec.stream)
        .await
        .map(drop)
        .map_err(|source| EnsureError::CreateConsumer {
            stream: spec.stream.clone(),
            consumer: spec.durable.clone(),
            source,
        })
}

/// The stream behind a KV bucket, as NATS clients lay it out (`KV_<bucket>`, subjects
/// `$KV.<bucket>.>`). Built here rather than by async-nats' `create_key_value`, which first
/// asks for account info in a shape nats-server 2.9 does not send.
pub fn kv_stream_config(spec: &KvSpec) -> stream::Config {
    stream::Config {
        name: format!("KV_{}", spec.bucket),
        description: description(&spec.description),
        subjects: vec![format!("$KV.{}.>", spec.bucket)],
        max_messages_per_subject: spec.history.max(1),
        max_messages: -1,
        max_bytes: -1,
        max_message_size: -1,
        max_consumers: -1,
        max_age: spec.max_age,
        duplicate_window: duplicate_window(Duration::from_secs(120), spec.max_age),
        storage: storage(spec.storage),
        num_replicas: spec.replicas.max(1),
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: DiscardPolicy::New,
        ..Default::default()
    }
}

async fn ensure_kv(js: &jetstream::Context, spec: &KvSpec) -> Result<(), EnsureError> {
    let config = kv_stream_config(spec);
    create_or_update_stream(js, &config)
        .await
        .map_err(|source| EnsureError::CreateKeyValue {
            bucket: spec.bucket.clone(),
            source: Box::new(source),
        })
}

async fn ensure_object_store(
    js: &jetstream::Context,
    spec: &ObjectStoreSpec,
) -> Result<(), EnsureError> {
    let created = js
        .create_object_store(object_store::Config {
            bucket: spec.bucket.clone(),
            description: description(&spec.description),
            max_age: spec.max_age,
            storage: storage(spec.storage),
            num_replicas: spec.replicas,
            ..Default::default()
        })
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(source) => match js.get_object_store(&spec.bucket).await {
            Ok(_) => Ok(()),
            Err(_) => Err(EnsureError::CreateObjectStore {
                bucket: spec.bucket.clone(),
                source,
            }),
        },
    }
}
