//! The paths that differ between two commits, so consumers whose files did not change skip work.

use super::error::GitError;
use std::collections::BTreeMap;

/// Paths (files and links) added, removed or changed between `old` and `new`, sorted.
pub fn changed_paths(
    repo: &gix::Repository,
    old: gix::ObjectId,
    new: gix::ObjectId,
) -> Result<Vec<String>, GitError> {
    let before = flatten(repo, old)?;
    let after = flatten(repo, new)?;
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(path, entry)| before.get(*path) != Some(entry))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    changed.sort();
    Ok(changed)
}

/// path -> (mode, object id) for every non-tree entry; no blob is read.
fn flatten(
    repo: &gix::Repository,
    commit: gix::ObjectId,
) -> Result<BTreeMap<String, (u32, gix::ObjectId)>, GitError> {
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
    Ok(recorder
        .records
        .into_iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| (e.filepath.to_string(), (e.mode.value() as u32, e.oid)))
        .collect())
}
