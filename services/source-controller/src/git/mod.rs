//! Git access with gix: list a remote's refs cheaply, fetch into a per-URL cache, read trees.
//! Every call here blocks; the reconciler runs them on the blocking pool under a timeout.

mod auth;
mod cache;
mod diff;
mod error;
mod reference;
mod remote;
mod tree;

pub use auth::{AuthError, Credentials};
pub use cache::RepoCache;
pub use diff::changed_paths;
pub use error::GitError;
pub use reference::{GitRef, Resolved, resolve};
pub use remote::{RemoteRef, fetch, list_and_fetch_if, list_remote_refs};
pub use tree::{TreeLimits, load_blob, read_tree, tree_items};
