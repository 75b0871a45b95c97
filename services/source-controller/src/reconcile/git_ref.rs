//! `spec.ref` to a [`GitRef`], with Flux's precedence and default branch.

use crate::git::GitRef;
use flux_api::source::{DEFAULT_BRANCH, GitRepositoryRef};

/// commit > name > semver > tag > branch; no ref at all means branch `master`.
pub fn from_spec(reference: Option<&GitRepositoryRef>) -> GitRef {
    let Some(r) = reference else {
        return GitRef::Branch(DEFAULT_BRANCH.to_string());
    };
    let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    if let Some(commit) = set(&r.commit) {
        return GitRef::Commit {
            commit,
            branch: set(&r.branch),
        };
    }
    if let Some(name) = set(&r.name) {
        return GitRef::Name(name);
    }
    if let Some(range) = set(&r.semver) {
        return GitRef::Semver(range);
    }
    if let Some(tag) = set(&r.tag) {
        return GitRef::Tag(tag);
    }
    GitRef::Branch(set(&r.branch).unwrap_or_else(|| DEFAULT_BRANCH.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_beats_everything_and_keeps_its_branch() {
        let r = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            semver: Some("*".into()),
            name: Some("refs/heads/x".into()),
            commit: Some("abc".into()),
        };
        assert_eq!(
            from_spec(Some(&r)),
            GitRef::Commit {
                commit: "abc".into(),
                branch: Some("main".into())
            }
        );
    }

    #[test]
    fn semver_beats_tag_and_branch() {
        let r = GitRepositoryRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            semver: Some(">=1".into()),
            ..Default::default()
        };
        assert_eq!(from_spec(Some(&r)), GitRef::Semver(">=1".into()));
    }

    #[test]
    fn no_ref_means_master() {
        assert_eq!(from_spec(None), GitRef::Branch("master".into()));
        assert_eq!(
            from_spec(Some(&GitRepositoryRef::default())),
            GitRef::Branch("master".into())
        );
    }
}
