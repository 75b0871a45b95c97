//! Test harness: real servers on random loopback ports, each removed on drop.
//!
//! - [`git_http::GitHttpServer`]: Git smart HTTP (`git http-backend`), optional basic or bearer
//!   auth, with a request log.
//! - [`git_daemon::GitDaemon`]: `git daemon` over `git://`.
//! - [`git_repo::GitRepoBuilder`]: bare repositories with commits, tags and branches.
//! - [`registry::Registry`]: Debian's `docker-registry`, optional htpasswd auth, plus
//!   [`registry::push_image`] and [`registry::list_tags`].
//! - [`sshd::Sshd`]: Debian's OpenSSH server serving bare repositories to `git-upload-pack`.
//! - [`cluster::KubeTarget`]: the cluster in `KUBECONFIG`, or the Kubernetes API emulator.
//! - [`otlp::OtlpCollector`]: an in-process OTLP/gRPC collector recording spans.
//! - [`stack::Stack`]: all of the above plus the four Ferry services as child processes (the
//!   demo and the pipeline benchmark).
//!
//! A missing program fails with [`HarnessError::MissingBinary`], whose message names the Debian
//! package to install.

pub mod cluster;
pub mod error;
pub mod fleet;
pub mod git_daemon;
pub mod git_http;
pub mod git_repo;
pub mod nats;
pub mod otlp;
pub mod ports;
pub mod process;
pub mod registry;
pub mod service;
pub mod sshd;
pub mod stack;
pub mod wait;

pub use error::{HarnessError, Result};
