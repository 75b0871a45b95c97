//! Which commit a GitRepository's `spec.ref` selects, and the revision string Flux gives it.
//! Precedence as in Flux: commit, then name, then semver, then tag, then branch.

use super::error::GitError;
use super::remote::RemoteRef;

/// `spec.ref` of a GitRepository, after Flux's precedence is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// `ref.branch` (Flux's default is `master`).
    Branch(String),
    /// `ref.tag`.
    Tag(String),
    /// `ref.semver`: the highest tag in the range.
    Semver(String),
    /// `ref.name`: any full ref, e.g. `refs/pull/1/head`.
    Name(String),
    /// `ref.commit`, optionally within `ref.branch`.
    Commit {
        /// The commit SHA.
        commit: String,
        /// The branch to look in, when set.
        branch: Option<String>,
    },
}

/// A ref resolved against the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The commit to package.
    pub commit: gix::ObjectId,
    /// Flux's revision string, e.g. `main@sha1:<hex>` or `sha1:<hex>`.
    pub revision: String,
    /// The refspecs that bring the commit into the cache.
    pub refspecs: Vec<String>,
}

impl GitRef {
    /// The refspec sources to ask the remote about (the cheap check lists only these).
    pub fn listing_refspecs(&self) -> Vec<String> {
        match self {
            GitRef::Branch(branch) => vec![tracking(&format!("refs/heads/{branch}"))],
            GitRef::Tag(_) | GitRef::Semver(_) => vec![tracking("refs/tags/*")],
            GitRef::Name(name) => vec![tracking(name)],
            GitRef::Commit {
                branch: Some(branch),
                ..
            } => vec![tracking(&format!("refs/heads/{branch}"))],
            GitRef::Commit { branch: None, .. } => {
                vec![tracking("refs/heads/*"), tracking("refs/tags/*")]
            }
        }
    }
}

/// `+refs/x:refs/ferry/x`: remote refs land under our own namespace in the cache.
fn tracking(source: &str) -> String {
    let local = source.strip_prefix("refs/").unwrap_or(source);
    format!("+{source}:refs/ferry/{local}")
}

/// Picks the commit `git_ref` selects among the remote's refs.
pub fn resolve(git_ref: &GitRef, refs: &[RemoteRef]) -> Result<Resolved, GitError> {
    let find = |name: &str| refs.iter().find(|r| r.name == name);
    match git_ref {
        GitRef::Branch(branch) => {
            let full = format!("refs/heads/{branch}");
            let found = find(&full).ok_or_else(|| {
                GitError::RefNotFound(format!(
                    "spec.ref.branch: branch '{branch}' not found on the remote"
                ))
            })?;
            Ok(resolved(found.commit, Some(branch), vec![tracking(&full)]))
        }
        GitRef::Tag(tag) => {
            let full = format!("refs/tags/{tag}");
            let found = find(&full).ok_or_else(|| {
                GitError::RefNotFound(format!("spec.ref.tag: tag '{tag}' not found on the remote"))
            })?;
            Ok(resolved(found.commit, Some(tag), vec![tracking(&full)]))
        }
        GitRef::Semver(range) => resolve_semver(range, refs),
        GitRef::Name(name) => {
            let found = find(name).ok_or_else(|| {
                GitError::RefNotFound(format!(
                    "spec.ref.name: ref '{name}' not found on the remote"
                ))
            })?;
            Ok(resolved(found.commit, Some(name), vec![tracking(name)]))
        }
        GitRef::Commit { commit, branch } => {
            let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| {
                GitError::RefNotFound(format!(
                    "spec.ref.commit: '{commit}' is not a full 40-character commit SHA"
                ))
            })?;
            Ok(resolved(id, branch.as_deref(), git_ref.listing_refspecs()))
        }
    }
}

fn resolve_semver(range: &str, refs: &[RemoteRef]) -> Result<Resolved, GitError> {
    let constraint = flux_semver::Constraint::parse(range)
        .map_err(|e| GitError::Semver(format!("spec.ref.semver: invalid range '{range}': {e}")))?;
    let tags = refs
        .iter()
        .filter_map(|r| r.name.strip_prefix("refs/tags/").map(|tag| (tag, r)));
    let best = flux_semver::latest_matching(&constraint, tags.clone().map(|(tag, _)| tag))
        .ok_or_else(|| {
            GitError::Semver(format!(
                "spec.ref.semver: no tag matches the range '{range}'"
            ))
        })?;
    let (tag, found) = tags
        .into_iter()
        .find(|(tag, _)| *tag == best)
        .ok_or_else(|| GitError::Semver(format!("spec.ref.semver: tag '{best}' vanished")))?;
    let full = format!("refs/tags/{tag}");
    Ok(resolved(found.commit, Some(tag), vec![tracking(&full)]))
}

fn resolved(commit: gix::ObjectId, name: Option<&str>, refspecs: Vec<String>) -> Resolved {
    let revision = match name {
        Some(name) => format!("{name}@sha1:{commit}"),
        None => format!("sha1:{commit}"),
    };
    Resolved {
        commit,
        revision,
        refspecs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    fn refs() -> Vec<RemoteRef> {
        [
            ("refs/heads/main", A),
            ("refs/tags/v1.2.0", B),
            ("refs/tags/v1.10.0", C),
            ("refs/tags/v2.0.0-rc.1", A),
            ("refs/pull/1/head", B),
        ]
        .into_iter()
        .map(|(name, sha)| RemoteRef {
            name: name.into(),
            commit: gix::ObjectId::from_hex(sha.as_bytes()).expect("hex"),
        })
        .collect()
    }

    #[test]
    fn branch_revision_is_branch_at_sha1() {
        let r = resolve(&GitRef::Branch("main".into()), &refs()).expect("resolves");
        assert_eq!(r.revision, format!("main@sha1:{A}"));
        assert_eq!(r.refspecs, vec!["+refs/heads/main:refs/ferry/heads/main"]);
    }

    #[test]
    fn semver_picks_the_highest_matching_tag_not_the_last_alphabetically() {
        let r = resolve(&GitRef::Semver(">=1.0.0 <2.0.0".into()), &refs()).expect("resolves");
        assert_eq!(r.revision, format!("v1.10.0@sha1:{C}"));
    }

    #[test]
    fn semver_without_a_match_names_the_field() {
        let err = resolve(&GitRef::Semver(">=3.0.0".into()), &refs()).expect_err("no match");
        assert!(err.to_string().contains("spec.ref.semver"), "{err}");
    }

    #[test]
    fn name_keeps_the_full_ref_in_the_revision() {
        let r = resolve(&GitRef::Name("refs/pull/1/head".into()), &refs()).expect("resolves");
        assert_eq!(r.revision, format!("refs/pull/1/head@sha1:{B}"));
    }

    #[test]
    fn bare_commit_revision_has_no_name() {
        let git_ref = GitRef::Commit {
            commit: B.into(),
            branch: None,
        };
        let r = resolve(&git_ref, &refs()).expect("resolves");
        assert_eq!(r.revision, format!("sha1:{B}"));
        let with_branch = GitRef::Commit {
            commit: B.into(),
            branch: Some("main".into()),
        };
        let r = resolve(&with_branch, &refs()).expect("resolves");
        assert_eq!(r.revision, format!("main@sha1:{B}"));
    }

    #[test]
    fn missing_branch_names_the_field_and_branch() {
        let err = resolve(&GitRef::Branch("nope".into()), &refs()).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "spec.ref.branch: branch 'nope' not found on the remote"
        );
    }
}
