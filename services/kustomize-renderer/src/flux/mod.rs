//! What Flux's kustomize-controller adds around `kustomize build`: generation, the CR's fields, post-build substitution.

pub mod envsubst;
pub mod generate;
pub mod spec;
pub mod substitute;
