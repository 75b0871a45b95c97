//! Reads a commit's tree into artifact entries or packer items, applying ignore rules and limits.
//! Symlinks stay links (never followed); submodules are left out.

use super::error::GitError;
use ferry_artifact::{Content, Entry, EntryKind, IgnoreRules, ItemMode, TreeItem};
use gix::objs::tree::EntryKind as GitKind;

/// Bounds that keep a huge repository from exhausting a replica.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    /// Most files (and links) in the artifact.
    pub max_files: u64,
    /// Most bytes of file content in the artifact.
    pub max_bytes: u64,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits {
            max_files: 100_000,
            max_bytes: 512 << 20,
        }
    }
}

/// The files of `commit`, minus what `spec_ignore`, Flux's defaults and `.sourceignore` exclude,
/// with their content read.
pub fn read_tree(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    spec_ignore: Option<&str>,
    limits: TreeLimits,
) -> Result<Vec<Entry>, GitError> {
    let items = tree_items(repo, commit, spec_ignore, limits)?;
    let mut entries = Vec::with_capacity(items.len());
    let mut bytes = 0u64;
    for item in items {
        let data = match item.content {
            Content::Bytes(data) => data,
            Content::Object(id) => load_blob(repo, &id, &item.path)?,
        };
        bytes += data.len() as u64;
        if bytes > limits.max_bytes {
            return Err(GitError::TooLarge {
                what: "bytes",
                limit: limits.max_bytes,
            });
        }
        entries.push(to_entry(item.path, item.mode, data));
    }
    Ok(entries)
}

/// The paths of `commit` that go into its artifact (ignore rules applied, at most
/// `limits.max_files`), each with its blob id: no file content is read, only `.sourceignore`s.
pub fn tree_items(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    spec_ignore: Option<&str>,
    limits: TreeLimits,
) -> Result<Vec<TreeItem>, GitError> {
    let records = list(repo, commit)?;
    let rules = ignore_rules(repo, &records, spec_ignore)?;
    let mut items = Vec::new();
    for record in records {
        let path = record.filepath.to_string();
        let mode = match record.mode.kind() {
            GitKind::Tree | GitKind::Commit => continue,
            GitKind::Link => ItemMode::Symlink,
            GitKind::BlobExecutable => ItemMode::Executable,
            GitKind::Blob => ItemMode::File,
        };
        if rules.is_ignored(&path, false) {
            continue;
        }
        if items.len() as u64 >= limits.max_files {
            return Err(GitError::TooLarge {
                what: "files",
                limit: limits.max_files,
            });
        }
        items.push(TreeItem {
            path,
            mode,
            content: Content::Object(record.oid.as_bytes().to_vec()),
        });
    }
    Ok(items)
}

/// Reads the blob `id` (raw object id bytes) for the entry at `path`.
pub fn load_blob(repo: &gix::Repository, id: &[u8], path: &str) -> Result<Vec<u8>, GitError> {
    let oid = gix::ObjectId::try_from(id).map_err(|e| GitError::Object {
        what: format!("blob of {path}"),
        message: e.to_string(),
    })?;
    read_blob(repo, oid, path)
}

fn list(
    repo: &gix::Repository,
    commit: gix::ObjectId,
) -> Result<Vec<gix::traverse::tree::recorder::Entry>, GitError> {
    let object_err = |e: String| GitError::Object {
        what: format!("commit {commit}"),
        message: e,
    };
    let tree = repo
        .find_commit(commit)
        .map_err(|e| object_err(format!("{e:#}")))?
        .tree()
        .map_err(|e| object_err(format!("{e:#}")))?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(|e| object_err(format!("{e:#}")))?;
    Ok(recorder.records)
}

/// Flux's defaults or `spec.ignore`, plus every `.sourceignore` in the tree (shallowest first,
/// so deeper files override).
fn ignore_rules(
    repo: &gix::Repository,
    records: &[gix::traverse::tree::recorder::Entry],
    spec_ignore: Option<&str>,
) -> Result<IgnoreRules, GitError> {
    let mut rules = IgnoreRules::new(spec_ignore)?;
    let mut files: Vec<(String, gix::ObjectId)> = records
        .iter()
        .filter(|r| r.mode.is_blob())
        .filter_map(|r| {
            let path = r.filepath.to_string();
            let dir = match path.rsplit_once('/') {
                Some((dir, ".sourceignore")) => dir.to_string(),
                None if path == ".sourceignore" => String::new(),
                _ => return None,
            };
            Some((dir, r.oid))
        })
        .collect();
    files.sort_by_key(|(dir, _)| dir.matches('/').count() + usize::from(!dir.is_empty()));
    for (dir, oid) in files {
        let data = read_blob(repo, oid, &format!("{dir}/.sourceignore"))?;
        rules.add_sourceignore(&dir, &String::from_utf8_lossy(&data))?;
    }
    Ok(rules)
}

fn read_blob(repo: &gix::Repository, oid: gix::ObjectId, path: &str) -> Result<Vec<u8>, GitError> {
    repo.find_object(oid)
        .map(|object| object.detach().data)
        .map_err(|e| GitError::Object {
            what: format!("blob {oid} ({path})"),
            message: format!("{e:#}"),
        })
}

fn to_entry(path: String, mode: ItemMode, data: Vec<u8>) -> Entry {
    let kind = match mode {
        ItemMode::Symlink => EntryKind::Symlink {
            target: String::from_utf8_lossy(&data).into_owned(),
        },
        ItemMode::Executable | ItemMode::File => EntryKind::File {
            data,
            executable: mode == ItemMode::Executable,
        },
    };
    Entry { path, kind }
}
