//! kustomize-renderer: renders Flux Kustomizations from source artifacts, with a render cache.
//!
//! [`Renderer::render`] runs the pipeline: the artifact (`ferry-artifacts`, by digest) is
//! unpacked once into a bounded local cache ([`cache::ArtifactCache`]); the Kustomization's
//! path gets Flux's generated or wrapped kustomization file ([`flux::generate`]) as an
//! in-memory overlay ([`fs::OverlayFs`]); `ferry-kustomize` builds it with
//! `LoadRestrictionsNone`, reads confined to the artifact root; Flux's post-build
//! substitution ([`flux::substitute`]) and `commonMetadata` follow; the result is stored in
//! `ferry-renders` under a key over every input ([`cache::render_key`]). A stored render is
//! served without building, and one whose reachable files did not change between two
//! revisions is reused ([`cache::reach`]).
//!
//! A binary wires it with [`config::setup`], then runs [`worker::run`] (NATS work queue) and
//! serves [`grpc::RenderGrpc`] (on-demand builds).

pub mod cache;
pub mod config;
pub mod flux;
pub mod fs;
pub mod grpc;
pub mod journey;
pub mod render;
pub mod worker;

pub use render::{
    Builder, BuiltObject, CacheOutcome, ChangeSet, KustomizeBuilder, RenderError, RenderRequest,
    Rendered, Renderer, RendererConfig,
};
