//! The incremental packer: a tree becomes a tar stream cut into content-defined chunks, each
//! compressed as its own gzip member, so a new revision re-compresses only the chunks it changed.

use crate::digest::sha256_digest;
use crate::pack::{PackError, Packed, is_clean_relative};
use crate::tar_block::Records;
use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// A path ends a chunk when the first byte of its sha256 is below this: about one path in
/// `256 / CUT_BELOW`, so a chunk averages 32 entries. Cuts depend on paths only, so editing a
/// file never moves a boundary and adding one moves at most one.
const CUT_BELOW: u8 = 8;

/// What an item of the tree is, with Git's three modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemMode {
    /// A regular file (Git 100644).
    File,
    /// An executable file (Git 100755).
    Executable,
    /// A symbolic link (Git 120000); its content is the target.
    Symlink,
}

/// Where an item's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The bytes themselves (included artifacts, tests).
    Bytes(Vec<u8>),
    /// A content-addressed object (a Git blob id), read through the loader only when the
    /// chunk holding it is not already cached.
    Object(Vec<u8>),
}

/// One path of the tree to pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    /// Relative, `/`-separated path.
    pub path: String,
    /// File, executable or link.
    pub mode: ItemMode,
    /// Its content or the id to load it by.
    pub content: Content,
}

/// Compressed chunks of earlier packs, keyed by what went into them. Output never depends on
/// what is cached: a cold cache and a warm one give the same bytes.
#[derive(Debug, Default, Clone)]
pub struct PackCache {
    members: HashMap<[u8; 32], Member>,
}

#[derive(Debug, Clone)]
struct Member {
    gz: Arc<[u8]>,
    content_bytes: u64,
}

impl PackCache {
    /// Chunks held.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// What a pack did, besides the artifact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Chunks in the artifact.
    pub chunks: usize,
    /// Chunks compressed afresh (the rest came from the cache).
    pub compressed: usize,
    /// Objects read through the loader.
    pub loaded: usize,
    /// Bytes of file and link content in the artifact.
    pub content_bytes: u64,
}

/// Packs `items` (any order) into a deterministic tar.gz, reusing `cache` and leaving in it
/// exactly the chunks of this artifact. `load` reads an [`Content::Object`] by id; content
/// beyond `max_bytes` in total fails with [`PackError::TooLarge`].
pub fn pack_tree<E>(
    items: Vec<TreeItem>,
    cache: &mut PackCache,
    max_bytes: u64,
    mut load: impl FnMut(&[u8], &str) -> Result<Vec<u8>, E>,
) -> Result<(Packed, PackStats), PackError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let sorted = sort_and_check(items)?;
    let mut fresh = HashMap::new();
    let mut stats = PackStats::default();
    let mut out = Vec::new();
    for chunk in chunks(&sorted) {
        let key = chunk_key(chunk);
        let member = match cache.members.get(&key).or_else(|| fresh.get(&key)) {
            Some(member) => Member::clone(member),
            None => {
                stats.compressed += 1;
                compress_chunk(chunk, &mut load, &mut stats.loaded)?
            }
        };
        stats.chunks += 1;
        stats.content_bytes += member.content_bytes;
        if stats.content_bytes > max_bytes {
            return Err(PackError::TooLarge { limit: max_bytes });
        }
        out.extend_from_slice(&member.gz);
        fresh.insert(key, member);
    }
    out.extend_from_slice(&end_member()?);
    cache.members = fresh;
    let digest = sha256_digest(&out);
    Ok((Packed { bytes: out, digest }, stats))
}

fn sort_and_check(mut items: Vec<TreeItem>) -> Result<Vec<TreeItem>, PackError> {
    if let Some(bad) = items.iter().find(|i| !is_clean_relative(&i.path)) {
        return Err(PackError::InvalidPath(bad.path.clone()));
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(pair) = items.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(PackError::DuplicatePath(pair[0].path.clone()));
    }
    Ok(items)
}

/// Splits sorted items after every path whose hash falls under [`CUT_BELOW`].
fn chunks(items: &[TreeItem]) -> Vec<&[TreeItem]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if Sha256::digest(item.path.as_bytes())[0] < CUT_BELOW {
            out.push(&items[start..=i]);
            start = i + 1;
        }
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// Names a chunk by every path, mode and content (or content id) in it.
fn chunk_key(chunk: &[TreeItem]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for item in chunk {
        let (tag, bytes): (&[u8], &[u8]) = match &item.content {
            Content::Bytes(data) => (b"b", data),
            Content::Object(id) => (b"o", id),
        };
        let mode = [item.mode as u8];
        for part in [item.path.as_bytes(), &mode, tag] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    hash.finalize().into()
}

fn compress_chunk<E>(
    chunk: &[TreeItem],
    load: &mut impl FnMut(&[u8], &str) -> Result<Vec<u8>, E>,
    loaded: &mut usize,
) -> Result<Member, PackError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut tar = Records::new();
    let mut content_bytes = 0u64;
    for item in chunk {
        let data = match &item.content {
            Content::Bytes(data) => std::borrow::Cow::Borrowed(data.as_slice()),
            Content::Object(id) => {
                *loaded += 1;
                std::borrow::Cow::Owned(load(id, &item.path).map_err(|e| PackError::Load {
                    path: item.path.clone(),
                    source: Box::new(e),
                })?)
            }
        };
        content_bytes += data.len() as u64;
        tar.append(&item.path, item.mode, &data)?;
    }
    Ok(Member {
        gz: gzip(&tar.into_bytes())?.into(),
        content_bytes,
    })
}

/// The tar end-of-archive marker (two zero blocks), a member of its own.
fn end_member() -> Result<Vec<u8>, PackError> {
    gzip(&[0u8; 1024])
}

/// One gzip member with no name and mtime 0, so equal input gives equal bytes.
pub(crate) fn gzip(data: &[u8]) -> Result<Vec<u8>, PackError> {
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    gz.write_all(data)
        .and_then(|()| gz.finish())
        .map_err(|source| PackError::Write {
            path: String::new(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    /// A store of objects by id, like a Git cache; counts what is read from it.
    struct Store(BTreeMap<Vec<u8>, Vec<u8>>);

    impl Store {
        fn loader(&self) -> impl FnMut(&[u8], &str) -> Result<Vec<u8>, Infallible> + '_ {
            |id, _| Ok(self.0[id].clone())
        }
    }

    /// `files` items whose content is `rev`-dependent for the paths in `changed`.
    fn tree(files: usize, changed: &[usize], rev: u32) -> (Vec<TreeItem>, Store) {
        let mut store = BTreeMap::new();
        let items = (0..files)
            .map(|i| {
                let r = if changed.contains(&i) { rev } else { 0 };
                let data =
                    format!("kind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  rev: \"{r}\"\n");
                let id = sha256_digest(data.as_bytes()).as_bytes().to_vec();
                store.insert(id.clone(), data.into_bytes());
                TreeItem {
                    path: format!("apps/team-{:02}/cm-{i:04}.yaml", i % 7),
                    mode: ItemMode::File,
                    content: Content::Object(id),
                }
            })
            .collect();
        (items, Store(store))
    }

    #[test]
    fn warm_cache_gives_the_same_bytes_as_a_cold_one() {
        let mut warm = PackCache::default();
        let (v1, store1) = tree(600, &[], 0);
        pack_tree(v1, &mut warm, u64::MAX, store1.loader()).expect("pack v1");
        let (v2, store2) = tree(600, &[5, 300], 1);
        let (incremental, stats) =
            pack_tree(v2.clone(), &mut warm, u64::MAX, store2.loader()).expect("warm pack");
        let (cold, cold_stats) =
            pack_tree(v2, &mut PackCache::default(), u64::MAX, store2.loader()).expect("cold");
        assert_eq!(incremental.bytes, cold.bytes);
        assert_eq!(incremental.digest, cold.digest);
        assert!(stats.chunks > 2, "600 paths make many chunks: {stats:?}");
        assert!(stats.compressed <= 2, "only the changed chunks: {stats:?}");
        assert!(
            stats.loaded < 600 / 4,
            "unchanged chunks read nothing: {stats:?}"
        );
        assert_eq!(cold_stats.compressed, cold_stats.chunks);
        assert_eq!(cold_stats.loaded, 600);
    }

    #[test]
    fn unchanged_tree_gives_the_same_digest_without_reading_anything() {
        let mut cache = PackCache::default();
        let (items, store) = tree(200, &[], 0);
        let (first, _) = pack_tree(items.clone(), &mut cache, u64::MAX, store.loader()).unwrap();
        let (again, stats) = pack_tree(items, &mut cache, u64::MAX, store.loader()).unwrap();
        assert_eq!(first.digest, again.digest);
        assert_eq!((stats.compressed, stats.loaded), (0, 0));
    }

    #[test]
    fn object_and_inline_content_pack_to_the_same_bytes() {
        let (items, store) = tree(100, &[], 0);
        let inline: Vec<TreeItem> = items
            .iter()
            .map(|i| TreeItem {
                content: match &i.content {
                    Content::Object(id) => Content::Bytes(store.0[id].clone()),
                    other => other.clone(),
                },
                ..i.clone()
            })
            .collect();
        let (a, _) = pack_tree(items, &mut PackCache::default(), u64::MAX, store.loader()).unwrap();
        let (b, _) =
            pack_tree(inline, &mut PackCache::default(), u64::MAX, store.loader()).unwrap();
        assert_eq!(a.digest, b.digest);
    }

    #[test]
    fn content_over_the_byte_limit_is_refused_warm_or_cold() {
        let (items, store) = tree(50, &[], 0);
        let mut cache = PackCache::default();
        pack_tree(items.clone(), &mut cache, u64::MAX, store.loader()).unwrap();
        for cache in [&mut cache, &mut PackCache::default()] {
            let result = pack_tree(items.clone(), cache, 100, store.loader());
            assert!(matches!(result, Err(PackError::TooLarge { limit: 100 })));
        }
    }

    #[test]
    fn a_failing_loader_names_the_path() {
        let items = vec![TreeItem {
            path: "a.yaml".into(),
            mode: ItemMode::File,
            content: Content::Object(vec![1]),
        }];
        let err = pack_tree(items, &mut PackCache::default(), u64::MAX, |_, _| {
            Err(std::io::Error::other("gone"))
        })
        .unwrap_err();
        assert!(matches!(err, PackError::Load { path, .. } if path == "a.yaml"));
    }
}
