//! Receiver webhooks (`notification.toolkit.fluxcd.io/v1`): the hook path Flux derives from the
//! token, per-type checks, the HTTP endpoint, and the status writer.

mod path;
mod server;
mod status;
mod targets;
mod token;
mod verify;

pub use path::webhook_path;
pub use server::{ReceiverState, receiver_kind, router};
pub use status::start as start_status_writer;
pub use targets::{TargetError, request_reconcile};
pub use token::{TokenError, read_token};
pub use verify::{HookRequest, ReceiverKind, Verdict, VerifyError, verify};
