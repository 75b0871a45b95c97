//! The paths that differ between two commits, so consumers whose files did not change skip work.
//! Subtrees with the same id on both sides are skipped without being read.

use super::error::GitError;
use gix::objs::tree::EntryMode;
use std::collections::BTreeMap;

/// Paths (files and links) added, removed or changed between `old` and `new`, sorted.
pub fn changed_paths(
    repo: &gix::Repository,
    old: gix::ObjectId,
    new: gix::ObjectId,
) -> Result<Vec<String>, GitError> {
    let mut changed = Vec::new();
    let (before, after) = (root_tree(repo, old)?, root_tree(repo, new)?);
    diff_trees(repo, Some(before), Some(after), "", &mut changed)?;
    changed.sort();
    Ok(changed)
}

fn root_tree(repo: &gix::Repository, commit: gix::ObjectId) -> Result<gix::ObjectId, GitError> {
    let object_err = |e: String| GitError::Object {
        what: format!("commit {commit}"),
        message: e,
    };
    let commit = repo
        .find_commit(commit)
        .map_err(|e| object_err(format!("{e:#}")))?;
    commit
        .tree_id()
        .map(|id| id.detach())
        .map_err(|e| object_err(format!("{e:#}")))
}

/// Appends to `out` every non-tree path under `prefix` that differs between the two trees
/// (`None`: the tree is absent on that side).
fn diff_trees(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: Option<gix::ObjectId>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<(), GitError> {
    if old == new {
        return Ok(());
    }
    let before = entries(repo, old)?;
    let after = entries(repo, new)?;
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        let (b, a) = (before.get(name), after.get(name));
        if b == a {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if tree(b).is_some() || tree(a).is_some() {
            diff_trees(repo, tree(b), tree(a), &path, out)?;
        }
        if leaf(b) != leaf(a) {
            out.push(path);
        }
    }
    Ok(())
}

type Leaf = (EntryMode, gix::ObjectId);

fn tree(entry: Option<&Leaf>) -> Option<gix::ObjectId> {
    entry.filter(|(mode, _)| mode.is_tree()).map(|(_, id)| *id)
}

fn leaf(entry: Option<&Leaf>) -> Option<&Leaf> {
    entry.filter(|(mode, _)| !mode.is_tree())
}

/// name -> (mode, id) of one tree's direct entries; an absent tree has none.
fn entries(
    repo: &gix::Repository,
    tree: Option<gix::ObjectId>,
) -> Result<BTreeMap<String, (EntryMode, gix::ObjectId)>, GitError> {
    let Some(id) = tree else {
        return Ok(BTreeMap::new());
    };
    let object_err = |e: String| GitError::Object {
        what: format!("tree {id}"),
        message: e,
    };
    let tree = repo
        .find_tree(id)
        .map_err(|e| object_err(format!("{e:#}")))?;
    let decoded = tree.decode().map_err(|e| object_err(format!("{e:#}")))?;
    Ok(decoded
        .entries
        .iter()
        .map(|e| (e.filename.to_string(), (e.mode, e.oid.to_owned())))
        .collect())
}
