//! Packs entries into a deterministic tar.gz: the same tree gives the same bytes on every replica.
//! The format is the incremental packer's (see [`crate::pack_tree`]); this is its entry point
//! for trees already in memory.

use crate::chunked::{Content, ItemMode, PackCache, TreeItem, pack_tree};
use crate::digest::Digest;
use crate::entry::{Entry, EntryKind};

/// A packed artifact and its content address.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The tar.gz bytes.
    pub bytes: Vec<u8>,
    /// `sha256` of `bytes`.
    pub digest: Digest,
}

impl Packed {
    /// Size in bytes, as Flux reports it in `status.artifact.size`.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Why a set of entries could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A path is empty, absolute, or has `.`/`..`/empty components or a NUL byte.
    #[error("artifact path {0:?} is not a clean relative path")]
    InvalidPath(String),
    /// Two entries have the same path.
    #[error("artifact path {0:?} appears twice")]
    DuplicatePath(String),
    /// The content adds up to more than the limit.
    #[error("artifact content exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes of file and link content.
        limit: u64,
    },
    /// The loader could not read an entry's content.
    #[error("reading the content of {path:?}")]
    Load {
        /// The entry.
        path: String,
        /// What the loader said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing the tar stream failed.
    #[error("writing tar entry {path:?}")]
    Write {
        /// The entry being written.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Packs `entries` (in any order) into a deterministic tar.gz: the same bytes
/// [`pack_tree`] gives for the same tree, whatever its cache holds.
pub fn pack(entries: impl IntoIterator<Item = Entry>) -> Result<Packed, PackError> {
    let items = entries.into_iter().map(TreeItem::from).collect();
    let (packed, _) = pack_tree(items, &mut PackCache::default(), u64::MAX, no_loader)?;
    Ok(packed)
}

/// An in-memory entry as a tree item whose content is at hand.
impl From<Entry> for TreeItem {
    fn from(entry: Entry) -> Self {
        let (mode, data) = match entry.kind {
            EntryKind::File {
                data,
                executable: true,
            } => (ItemMode::Executable, data),
            EntryKind::File { data, .. } => (ItemMode::File, data),
            EntryKind::Symlink { target } => (ItemMode::Symlink, target.into_bytes()),
        };
        TreeItem {
            path: entry.path,
            mode,
            content: Content::Bytes(data),
        }
    }
}

/// Entries carry their bytes, so the loader is never called.
fn no_loader(_id: &[u8], path: &str) -> Result<Vec<u8>, std::io::Error> {
    Err(std::io::Error::other(format!(
        "{path}: entries carry their content; nothing to load"
    )))
}

/// True for `a/b/c`; false for ``, `/a`, `a//b`, `./a`, `a/../b` and paths with NUL.
pub(crate) fn is_clean_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<Entry> {
        vec![
            Entry::file("b/deploy.yaml", "kind: Deployment\n"),
            Entry::file("a.yaml", "kind: ConfigMap\n"),
            Entry::symlink("c/link", "../a.yaml"),
        ]
    }

    #[test]
    fn same_tree_in_any_order_gives_identical_bytes() {
        let forward = pack(tree()).expect("pack");
        let backward = pack(tree().into_iter().rev()).expect("pack");
        assert_eq!(forward.bytes, backward.bytes);
        assert_eq!(forward.digest, backward.digest);
    }

    #[test]
    fn changing_one_byte_changes_the_digest() {
        let base = pack(tree()).expect("pack");
        let mut changed = tree();
        changed[0] = Entry::file("b/deploy.yaml", "kind: Deployment \n");
        assert_ne!(base.digest, pack(changed).expect("pack").digest);
    }

    #[test]
    fn executable_bit_is_part_of_the_content() {
        let plain = pack([Entry::file("run.sh", "echo")]).expect("pack");
        let exec = pack([Entry {
            path: "run.sh".into(),
            kind: EntryKind::File {
                data: b"echo".to_vec(),
                executable: true,
            },
        }])
        .expect("pack");
        assert_ne!(plain.digest, exec.digest);
    }

    #[test]
    fn unclean_and_duplicate_paths_are_rejected() {
        for bad in ["", "/abs", "a/../b", "./a", "a//b"] {
            assert!(
                matches!(
                    pack([Entry::file(bad, "x")]),
                    Err(PackError::InvalidPath(_))
                ),
                "{bad:?} should be rejected"
            );
        }
        let dup = pack([Entry::file("a", "1"), Entry::file("a", "2")]);
        assert!(matches!(dup, Err(PackError::DuplicatePath(_))));
    }

    #[test]
    fn long_paths_survive_packing() {
        let long = format!("{}/file.yaml", "d".repeat(150));
        let packed = pack([Entry::file(long.clone(), "x")]).expect("pack");
        let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(&packed.bytes[..]));
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, vec![long]);
    }
}
