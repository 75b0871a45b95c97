//! `notification.toolkit.fluxcd.io/v1`: Receiver.

pub mod receiver;

pub use receiver::*;

/// API group of the notification kinds.
pub const GROUP: &str = "notification.toolkit.fluxcd.io";
