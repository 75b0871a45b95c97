//! Credentials from a GitRepository's `secretRef`: the shared `git-credentials` crate, so
//! image-scanner reads the same Secret the same way.

pub use git_credentials::{AuthError, Credentials};
