//! The Git layer against real repositories served over file:// by the git CLI.

use source_controller::git::{
    Credentials, GitError, GitRef, RepoCache, TreeLimits, changed_paths, fetch, list_remote_refs,
    load_blob, read_tree, resolve, tree_items,
};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .expect("git runs (apt-get install -y git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, content: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, content).expect("write");
}

struct Fixture {
    _tmp: tempfile::TempDir,
    work: std::path::PathBuf,
    url: String,
    cache: RepoCache,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    write(&work, "apps/app.yaml", "kind: ConfigMap\n");
    write(&work, "README.md", "hello\n");
    write(&work, "logo.png", "png");
    write(&work, ".github/workflows/ci.yaml", "on: push\n");
    std::os::unix::fs::symlink("app.yaml", work.join("apps/link.yaml")).expect("symlink");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "first"]);
    git(&work, &["tag", "v1.0.0"]);
    git(&work, &["tag", "-a", "v1.1.0", "-m", "annotated"]);
    let url = format!("file://{}", work.display());
    let cache = RepoCache::new(tmp.path().join("cache"));
    Fixture {
        _tmp: tmp,
        work,
        url,
        cache,
    }
}

fn fetch_ref(f: &Fixture, git_ref: &GitRef) -> source_controller::git::Resolved {
    let repo = f.cache.open(&f.url).expect("cache");
    let none = AtomicBool::new(false);
    let refs = list_remote_refs(
        &repo,
        &f.url,
        &Credentials::default(),
        &git_ref.listing_refspecs(),
        &none,
    )
    .expect("list");
    let resolved = resolve(git_ref, &refs).expect("resolve");
    fetch(
        &repo,
        &f.url,
        &Credentials::default(),
        &resolved.refspecs,
        &none,
    )
    .expect("fetch");
    resolved
}

#[test]
fn branch_fetch_reads_files_without_default_exclusions_and_keeps_links() {
    let f = fixture();
    let resolved = fetch_ref(&f, &GitRef::Branch("main".into()));
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    assert_eq!(resolved.revision, format!("main@sha1:{head}"));
    let repo = f.cache.open(&f.url).expect("cache");
    let entries = read_tree(&repo, resolved.commit, None, TreeLimits::default()).expect("tree");
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "apps/app.yaml", "apps/link.yaml"]);
    assert!(matches!(
        &entries[2].kind,
        ferry_artifact::EntryKind::Symlink { target } if target == "app.yaml"
    ));
}

#[test]
fn annotated_tag_resolves_to_its_commit() {
    let f = fixture();
    let resolved = fetch_ref(&f, &GitRef::Tag("v1.1.0".into()));
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    assert_eq!(resolved.revision, format!("v1.1.0@sha1:{head}"));
}

#[test]
fn semver_picks_highest_tag() {
    let f = fixture();
    let resolved = fetch_ref(&f, &GitRef::Semver(">=1.0.0".into()));
    assert!(
        resolved.revision.starts_with("v1.1.0@sha1:"),
        "{}",
        resolved.revision
    );
}

#[test]
fn changed_paths_lists_only_the_files_a_commit_touched() {
    let f = fixture();
    let first = fetch_ref(&f, &GitRef::Branch("main".into()));
    write(&f.work, "apps/app.yaml", "kind: Secret\n");
    write(&f.work, "apps/new.yaml", "kind: Service\n");
    git(&f.work, &["rm", "-q", "README.md"]);
    git(&f.work, &["add", "-A"]);
    git(&f.work, &["commit", "-qm", "second"]);
    let second = fetch_ref(&f, &GitRef::Branch("main".into()));
    assert_ne!(first.commit, second.commit);
    let repo = f.cache.open(&f.url).expect("cache");
    let changed = changed_paths(&repo, first.commit, second.commit).expect("diff");
    assert_eq!(changed, vec!["README.md", "apps/app.yaml", "apps/new.yaml"]);
}

#[test]
fn sourceignore_and_spec_ignore_filter_the_tree() {
    let f = fixture();
    write(&f.work, "apps/.sourceignore", "*.md\n");
    write(&f.work, "apps/notes.md", "x\n");
    git(&f.work, &["add", "-A"]);
    git(&f.work, &["commit", "-qm", "ignore"]);
    let resolved = fetch_ref(&f, &GitRef::Branch("main".into()));
    let repo = f.cache.open(&f.url).expect("cache");
    let entries = read_tree(&repo, resolved.commit, None, TreeLimits::default()).expect("tree");
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert!(!paths.contains(&"apps/notes.md"), "{paths:?}");
    assert!(
        paths.contains(&"README.md"),
        "root .md is outside apps/.sourceignore"
    );
    let only_apps = read_tree(
        &repo,
        resolved.commit,
        Some("/*\n!/apps/\n"),
        TreeLimits::default(),
    )
    .expect("tree");
    let paths: Vec<&str> = only_apps.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.iter().all(|p| p.starts_with("apps/")), "{paths:?}");
}

#[test]
fn tree_over_the_file_limit_is_refused() {
    let f = fixture();
    let resolved = fetch_ref(&f, &GitRef::Branch("main".into()));
    let repo = f.cache.open(&f.url).expect("cache");
    let limits = TreeLimits {
        max_files: 1,
        max_bytes: u64::MAX,
    };
    let err = read_tree(&repo, resolved.commit, None, limits).expect_err("too many");
    assert!(
        matches!(err, GitError::TooLarge { what: "files", .. }),
        "{err}"
    );
}

#[test]
fn missing_branch_and_non_repository_are_clear_errors() {
    let f = fixture();
    let repo = f.cache.open(&f.url).expect("cache");
    let none = AtomicBool::new(false);
    let git_ref = GitRef::Branch("nope".into());
    let refs = list_remote_refs(
        &repo,
        &f.url,
        &Credentials::default(),
        &git_ref.listing_refspecs(),
        &none,
    )
    .expect("list");
    let err = resolve(&git_ref, &refs).expect_err("missing");
    assert!(matches!(err, GitError::RefNotFound(_)), "{err}");

    let not_repo = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", not_repo.path().display());
    let repo = f.cache.open(&url).expect("cache");
    let err = list_remote_refs(
        &repo,
        &url,
        &Credentials::default(),
        &git_ref.listing_refspecs(),
        &none,
    )
    .expect_err("not a repo");
    assert!(matches!(err, GitError::Remote { .. }), "{err}");
}

/// Packs `commit` the way the service does: list the tree, pack against `cache`.
fn pack_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    cache: &mut ferry_artifact::PackCache,
) -> (ferry_artifact::Packed, ferry_artifact::PackStats) {
    let items = tree_items(repo, commit, None, TreeLimits::default()).expect("items");
    ferry_artifact::pack_tree(items, cache, u64::MAX, |id, path| load_blob(repo, id, path))
        .expect("pack")
}

#[test]
fn warm_and_cold_replicas_pack_a_new_commit_to_the_same_bytes() {
    let f = fixture();
    for i in 0..300 {
        write(
            &f.work,
            &format!("apps/team-{}/svc-{i:03}.yaml", i % 6),
            &format!("name: svc-{i}\n"),
        );
    }
    git(&f.work, &["add", "-A"]);
    git(&f.work, &["commit", "-qm", "many"]);
    let first = fetch_ref(&f, &GitRef::Branch("main".into()));
    let repo = f.cache.open(&f.url).expect("cache");
    let mut warm = ferry_artifact::PackCache::default();
    let (before, _) = pack_commit(&repo, first.commit, &mut warm);

    write(&f.work, "apps/team-1/svc-001.yaml", "name: changed\n");
    git(&f.work, &["rm", "-rq", "apps/team-5"]);
    git(&f.work, &["add", "-A"]);
    git(&f.work, &["commit", "-qm", "change one, drop a directory"]);
    let second = fetch_ref(&f, &GitRef::Branch("main".into()));
    let repo = f.cache.open(&f.url).expect("cache");
    let (incremental, stats) = pack_commit(&repo, second.commit, &mut warm);
    assert_ne!(before.digest, incremental.digest);
    assert!(
        stats.compressed < stats.chunks,
        "unchanged chunks are reused: {stats:?}"
    );

    // Another replica: its own Git cache and no pack cache.
    let other = tempfile::tempdir().expect("tempdir");
    let cold_cache = RepoCache::new(other.path());
    let cold_repo = cold_cache.open(&f.url).expect("cache");
    let none = AtomicBool::new(false);
    let git_ref = GitRef::Branch("main".into());
    let creds = Credentials::default();
    let refs = list_remote_refs(
        &cold_repo,
        &f.url,
        &creds,
        &git_ref.listing_refspecs(),
        &none,
    )
    .expect("list");
    let resolved = resolve(&git_ref, &refs).expect("resolve");
    fetch(&cold_repo, &f.url, &creds, &resolved.refspecs, &none).expect("fetch");
    let cold_repo = cold_cache.open(&f.url).expect("reopen");
    let (cold, _) = pack_commit(&cold_repo, resolved.commit, &mut Default::default());
    assert_eq!(cold.bytes, incremental.bytes);
    assert_eq!(cold.digest, incremental.digest);
    let in_memory =
        read_tree(&cold_repo, resolved.commit, None, TreeLimits::default()).expect("tree");
    assert_eq!(
        ferry_artifact::pack(in_memory).expect("pack").digest,
        cold.digest
    );

    let changed = changed_paths(&repo, first.commit, second.commit).expect("diff");
    let mut expected: Vec<String> = (0..300)
        .filter(|i| i % 6 == 5)
        .map(|i| format!("apps/team-5/svc-{i:03}.yaml"))
        .collect();
    expected.push("apps/team-1/svc-001.yaml".into());
    expected.sort();
    assert_eq!(changed, expected);
}
