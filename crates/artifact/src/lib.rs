//! Source artifacts as Ferry stores them: a deterministic tar.gz of a tree, addressed by its
//! sha256 digest, unpacked without ever writing outside the destination.

mod chunked;
mod digest;
mod entry;
mod ignore_rules;
mod pack;
mod tar_block;
mod unpack;

pub use chunked::{Content, ItemMode, PackCache, PackStats, TreeItem, pack_tree};
pub use digest::{Digest, DigestError, sha256_digest};
pub use entry::{Entry, EntryKind};
pub use ignore_rules::{IgnoreError, IgnoreRules};
pub use pack::{PackError, Packed, pack};
pub use unpack::{UnpackError, UnpackLimits, UnpackSummary, read_entries, unpack};
