//! `source.toolkit.fluxcd.io/v1`: GitRepository and OCIRepository.

pub mod git_repository;
pub mod oci_repository;

pub use git_repository::*;
pub use oci_repository::*;

/// API group of the source kinds.
pub const GROUP: &str = "source.toolkit.fluxcd.io";
