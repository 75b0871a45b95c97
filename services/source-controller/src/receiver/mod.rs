//! Receiver webhooks (`notification.toolkit.fluxcd.io/v1`): the hook path Flux derives from the
//! token, and the per-type checks that decide whether a call may trigger a reconcile.

mod path;
mod verify;

pub use path::webhook_path;
pub use verify::{HookRequest, ReceiverKind, Verdict, VerifyError, verify};
