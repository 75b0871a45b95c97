//! Subcommands.

pub mod bootstrap;
pub mod build;
pub mod check;
pub mod diff;
pub mod events;
pub mod get;
pub mod reconcile;
pub mod suspend;
pub mod target;
pub mod trace;
pub mod tree;
pub mod version;
