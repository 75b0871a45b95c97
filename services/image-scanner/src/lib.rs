//! image-scanner: scans registries for tags, picks images by policy and writes them to Git.
//!
//! - [`registry`]: tag scans and digests with oci-client; docker-config, bearer and ACR auth.
//! - [`policy`]: ImagePolicy evaluation (semver, alphabetical, numerical, filterTags).
//! - [`setters`]: `$imagepolicy` marker edits on YAML text, byte for byte elsewhere.
//! - [`automation`]: clone, update, commit and push with the `git` CLI, retrying lost races.
//! - [`tags`]: the scanned tags of every ImageRepository in NATS KV.
//! - [`journey`]: a push's steps in `ferry-journeys` (`ferry trace`).
//! - [`reconcile`]: the ImageRepository, ImagePolicy and ImageUpdateAutomation reconcilers.
//! - [`controller`]: the work loop (watch, schedule, work queue, leases) around them.

pub mod automation;
pub mod controller;
pub mod journey;
pub mod policy;
pub mod reconcile;
pub mod registry;
pub mod setters;
pub mod tags;
