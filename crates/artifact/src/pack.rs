//! Packs entries into a deterministic tar.gz: the same tree gives the same bytes on every replica.

use crate::digest::{Digest, sha256_digest};
use crate::entry::{Entry, EntryKind};
use flate2::{Compression, GzBuilder};
use std::collections::BTreeMap;
use std::io::Write;

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

/// File modes normalised the way Git sees them; owners, names and times are zeroed.
const FILE_MODE: u32 = 0o644;
const EXEC_MODE: u32 = 0o755;
const LINK_MODE: u32 = 0o777;

/// Packs `entries` (in any order) into a deterministic tar.gz.
pub fn pack(entries: impl IntoIterator<Item = Entry>) -> Result<Packed, PackError> {
    let sorted = sort_and_check(entries)?;
    let gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for entry in sorted.values() {
        append(&mut tar, entry)?;
    }
    let bytes = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut out| out.flush().map(|()| out))
        .map_err(|source| PackError::Write {
            path: String::new(),
            source,
        })?;
    let digest = sha256_digest(&bytes);
    Ok(Packed { bytes, digest })
}

fn sort_and_check(
    entries: impl IntoIterator<Item = Entry>,
) -> Result<BTreeMap<String, Entry>, PackError> {
    let mut sorted = BTreeMap::new();
    for entry in entries {
        if !is_clean_relative(&entry.path) {
            return Err(PackError::InvalidPath(entry.path));
        }
        if sorted.contains_key(&entry.path) {
            return Err(PackError::DuplicatePath(entry.path));
        }
        sorted.insert(entry.path.clone(), entry);
    }
    Ok(sorted)
}

/// True for `a/b/c`; false for ``, `/a`, `a//b`, `./a`, `a/../b` and paths with NUL.
pub(crate) fn is_clean_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn append<W: Write>(tar: &mut tar::Builder<W>, entry: &Entry) -> Result<(), PackError> {
    let write_err = |source| PackError::Write {
        path: entry.path.clone(),
        source,
    };
    let mut header = tar::Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    match &entry.kind {
        EntryKind::File { data, executable } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if *executable { EXEC_MODE } else { FILE_MODE });
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, &entry.path, data.as_slice())
                .map_err(write_err)
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(LINK_MODE);
            header.set_size(0);
            tar.append_link(&mut header, &entry.path, target)
                .map_err(write_err)
        }
    }
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
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&packed.bytes[..]));
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
