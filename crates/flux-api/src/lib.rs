//! Flux's Kubernetes APIs as Rust types: sources, Kustomization, image automation and
//! Receiver, plus shared metadata, conditions, revisions, durations and CRD generation.
#![deny(missing_docs)]
// kube-derive's repeated `printcolumn(type_ = ...)` attributes are not duplicates.
#![allow(clippy::duplicated_attributes)]

pub mod conditions;
pub mod crd;
pub mod duration;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod revision;
pub mod source;
pub mod validation;

pub use duration::GoDuration;
pub use revision::{Digest, Revision};
