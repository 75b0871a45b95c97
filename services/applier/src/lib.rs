//! Ferry applier library: parse renders, apply them in Flux's order with server-side apply,
//! keep the inventory, prune, check health, detect drift and reconcile Kustomizations.

pub mod apply;
pub mod drift;
pub mod expr;
pub mod health;
pub mod inventory;
pub mod manifests;
pub mod order;
pub mod plan;
pub mod prune;
pub mod reconcile;
