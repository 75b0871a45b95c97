//! Ferry's wire contracts: the protobuf messages carried on NATS and the gRPC services.
//! Generated at build time from the `.proto` files beside this crate.

#![allow(missing_docs)]

/// Messages published on the event bus (see `docs/events.md`).
pub mod events {
    /// Version 1 of the event messages.
    pub mod v1 {
        tonic::include_proto!("ferry.events.v1");
    }
}

/// The source-controller's gRPC API (artifacts).
pub mod source {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("ferry.source.v1");
    }
}

/// The kustomize-renderer's gRPC API (on-demand builds).
pub mod render {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("ferry.render.v1");
    }
}

/// The applier's gRPC API (diff and plan).
pub mod apply {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("ferry.apply.v1");
    }
}
