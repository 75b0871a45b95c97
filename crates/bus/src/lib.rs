//! Ferry's event bus over NATS JetStream: the declared topology, typed protobuf publishing
//! and pulling with W3C trace context in the headers, bounded redelivery with dead letters,
//! a handler loop with graceful hand-back, KV leases and revision journeys. It knows
//! subjects, streams and messages, not Flux kinds. `docs/events.md` describes the topology
//! of [`topology::ferry`].

pub mod dead_letter;
pub mod delivery;
pub mod ensure;
pub mod error;
pub mod handler;
pub mod journey;
pub mod lease;
pub mod max_deliveries;
pub mod message;
pub mod publish;
pub mod subscribe;
pub mod topology;
pub mod trace_headers;

pub use delivery::{AckHandle, Delivery, DeliveryInfo, Settlement};
pub use ensure::ensure;
pub use error::{
    BoxError, DeliveryError, EnsureError, HandlerError, LeaseError, PublishError, SubscribeError,
    TopologyError, WatchError,
};
pub use handler::{HandlerConfig, Outcome, RunSummary, run_handler, run_handler_with};
pub use journey::{Journey, JourneyError};
pub use lease::Lease;
pub use max_deliveries::watch_max_deliveries;
pub use message::{Event, Message};
pub use publish::{PublishOptions, Published, Publisher};
pub use subscribe::Subscriber;
pub use topology::{
    ConsumerSpec, KvSpec, ObjectStoreSpec, Retention, Storage, StreamSpec, Topology,
};
