//! `image.toolkit.fluxcd.io/v1`: ImageRepository, ImagePolicy and ImageUpdateAutomation,
//! plus the deprecated `v1beta2` versions that convert into v1.

pub mod automation;
pub mod policy;
pub mod repository;
pub mod v1beta2;

pub use automation::*;
pub use policy::*;
pub use repository::*;

/// API group of the image kinds.
pub const GROUP: &str = "image.toolkit.fluxcd.io";
