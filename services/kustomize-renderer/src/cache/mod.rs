//! The render cache: keys over every input, stored renders, unpacked artifacts, path-aware reuse.

pub mod artifacts;
pub mod key;
pub mod reach;
pub mod renders;

pub use artifacts::{ArtifactCache, ArtifactError, ArtifactSource, UnpackedArtifact};
pub use key::{RenderInputs, content_digest, render_key, reuse_key};
pub use reach::{Reach, Reachable};
pub use renders::{RenderStore, ReuseRecord, StoreError, StoredRender};
