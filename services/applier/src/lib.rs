//! Ferry applier library: parse renders, apply them in Flux's order with server-side apply,
//! keep the inventory, prune, check health, detect drift and reconcile Kustomizations; the
//! service's work loop ([`controller`]) and gRPC API ([`grpc`]).

pub mod apply;
pub mod controller;
pub mod decrypt;
pub mod drift;
pub mod expr;
pub mod grpc;
pub mod health;
pub mod inventory;
pub mod journey;
pub mod live;
pub mod manifests;
pub mod noop;
pub mod order;
pub mod plan;
pub mod prune;
pub mod reconcile;
