//! Subcommands.

pub mod build;
