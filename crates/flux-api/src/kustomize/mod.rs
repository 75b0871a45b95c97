//! `kustomize.toolkit.fluxcd.io/v1`: Kustomization.

pub mod kustomization;

pub use kustomization::*;

/// API group of the Kustomization kind.
pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";
