//! image-scanner: scans registries for tags, picks images by policy and writes them to Git.
//!
//! - [`registry`]: tag scans and digests with oci-client; docker-config, bearer and ACR auth.
//! - [`policy`]: ImagePolicy evaluation (semver, alphabetical, numerical, filterTags).
//! - [`setters`]: `$imagepolicy` marker edits on YAML text, byte for byte elsewhere.
//! - [`automation`]: clone, update, commit and push with the `git` CLI, retrying lost races.

pub mod automation;
pub mod policy;
pub mod registry;
pub mod setters;
