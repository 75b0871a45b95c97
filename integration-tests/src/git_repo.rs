//! Git repositories for tests: a bare repository under a server root plus a working clone.

use crate::error::{HarnessError, Result, require_binary};
use std::path::{Path, PathBuf};
use std::process::Output;
use tempfile::TempDir;
use tokio::process::Command;

/// Author and committer name of every commit the harness makes.
pub const AUTHOR_NAME: &str = "Ferry Test";
/// Author and committer e-mail of every commit the harness makes.
pub const AUTHOR_EMAIL: &str = "test@ferry.invalid";
/// Unix time of the first commit; each further commit or tag is one second later.
pub const BASE_TIMESTAMP: i64 = 1_700_000_000;

/// Checks that `git` is installed.
pub fn require_git() -> Result<PathBuf> {
    require_binary("git", "git")
}

/// A `git` command isolated from the user's and system's configuration, that never prompts.
///
/// Author and committer identity come from the environment, so commits work without any config.
pub fn git_command() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_PROTOCOL")
        .kill_on_drop(true);
    command
}

/// Runs `git args…` in `dir` (see [`git_command`]) and returns its output, successful or not.
pub async fn git_output(dir: &Path, args: &[&str]) -> Result<Output> {
    require_git()?;
    git_command()
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .map_err(|e| HarnessError::io(format!("running git {}", args.join(" ")), e))
}

/// Runs `git args…` in `dir` and returns its trimmed standard output, or fails with its stderr.
pub async fn run_git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = git_output(dir, args).await?;
    check(&format!("git {}", args.join(" ")), output)
}

fn check(command: &str, output: Output) -> Result<String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(HarnessError::CommandFailed {
            command: command.to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// A bare repository `<root>/<name>` (what a Git server serves) and a working clone of it in a
/// temporary directory, with helpers to commit, tag, branch and push.
///
/// Commits and annotated tags get fixed identities and dates (one second apart, starting at
/// [`BASE_TIMESTAMP`]), so the same sequence of calls always yields the same shas.
#[derive(Debug)]
pub struct GitRepoBuilder {
    name: String,
    bare: PathBuf,
    work: TempDir,
    tick: i64,
}

impl GitRepoBuilder {
    /// Creates the bare repository `<root>/<name>` with default branch `main`, and an empty
    /// working clone whose `origin` is that repository.
    pub async fn create(root: impl AsRef<Path>, name: &str) -> Result<Self> {
        Self::create_with_branch(root, name, "main").await
    }

    /// Like [`create`](Self::create) with another default branch.
    pub async fn create_with_branch(
        root: impl AsRef<Path>,
        name: &str,
        default_branch: &str,
    ) -> Result<Self> {
        let root = root.as_ref();
        if name.is_empty() || name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(HarnessError::Invalid(format!(
                "bad repository name {name:?}"
            )));
        }
        let bare = root.join(name);
        std::fs::create_dir_all(&bare)
            .map_err(|e| HarnessError::io(format!("creating {}", bare.display()), e))?;
        let branch_arg = format!("--initial-branch={default_branch}");
        run_git(&bare, &["init", "--quiet", "--bare", &branch_arg]).await?;
        let work = tempfile::Builder::new()
            .prefix("ferry-work-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating a working directory", e))?;
        run_git(work.path(), &["init", "--quiet", &branch_arg]).await?;
        let bare_str = bare.to_string_lossy().into_owned();
        run_git(work.path(), &["remote", "add", "origin", &bare_str]).await?;
        Ok(Self {
            name: name.to_owned(),
            bare,
            work,
            tick: 0,
        })
    }

    /// The repository name under the server root, as given to `create`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bare repository.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// The working clone.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// Runs `git args…` in the working clone with the next fixed date and returns its stdout.
    pub async fn git(&mut self, args: &[&str]) -> Result<String> {
        let date = format!("@{} +0000", BASE_TIMESTAMP + self.tick);
        self.tick += 1;
        let output = git_command()
            .current_dir(self.work.path())
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(args)
            .output()
            .await
            .map_err(|e| HarnessError::io(format!("running git {}", args.join(" ")), e))?;
        check(&format!("git {}", args.join(" ")), output)
    }

    /// Writes `files` (path relative to the work tree, contents), commits them all with
    /// `message` and returns the new commit's sha.
    pub async fn commit_files(&mut self, files: &[(&str, &str)], message: &str) -> Result<String> {
        for (path, contents) in files {
            let full = self.checked_path(path)?;
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| HarnessError::io(format!("creating {}", parent.display()), e))?;
            }
            std::fs::write(&full, contents)
                .map_err(|e| HarnessError::io(format!("writing {}", full.display()), e))?;
        }
        self.git(&["add", "--all"]).await?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])
            .await?;
        self.head_sha().await
    }

    /// Removes `path` from the work tree, commits with `message` and returns the commit's sha.
    pub async fn delete_file(&mut self, path: &str, message: &str) -> Result<String> {
        self.checked_path(path)?;
        self.git(&["rm", "--quiet", "-r", "--", path]).await?;
        self.git(&["commit", "--quiet", "-m", message]).await?;
        self.head_sha().await
    }

    /// Creates the lightweight tag `name` at `HEAD`.
    pub async fn tag(&mut self, name: &str) -> Result<()> {
        self.git(&["tag", name]).await.map(drop)
    }

    /// Creates the annotated tag `name` with `message` at `HEAD` and returns the tag object's sha.
    pub async fn annotated_tag(&mut self, name: &str, message: &str) -> Result<String> {
        self.git(&["tag", "-a", name, "-m", message]).await?;
        let tag_ref = format!("refs/tags/{name}");
        self.git(&["rev-parse", &tag_ref]).await
    }

    /// Creates the branch `name` at `HEAD` and switches to it, so later commits go there.
    pub async fn branch(&mut self, name: &str) -> Result<()> {
        self.git(&["switch", "--quiet", "-c", name]).await.map(drop)
    }

    /// Switches to the existing branch `name`.
    pub async fn checkout(&mut self, name: &str) -> Result<()> {
        self.git(&["switch", "--quiet", name]).await.map(drop)
    }

    /// Moves the current branch to `rev` (discarding work-tree changes), e.g. to rewrite history
    /// before a [`force_push`](Self::force_push).
    pub async fn reset_hard(&mut self, rev: &str) -> Result<()> {
        self.git(&["reset", "--quiet", "--hard", rev])
            .await
            .map(drop)
    }

    /// Pushes every branch and tag to the bare repository.
    pub async fn push(&mut self) -> Result<()> {
        self.git(&[
            "push",
            "--quiet",
            "origin",
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ])
        .await
        .map(drop)
    }

    /// Pushes every branch and tag to the bare repository, overwriting what is there.
    pub async fn force_push(&mut self) -> Result<()> {
        self.git(&[
            "push",
            "--quiet",
            "origin",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ])
        .await
        .map(drop)
    }

    /// The sha `HEAD` of the working clone points at.
    pub async fn head_sha(&self) -> Result<String> {
        run_git(self.work.path(), &["rev-parse", "HEAD"]).await
    }

    /// The sha `rev` resolves to in the bare repository (what a client fetching it would see).
    pub async fn remote_sha(&self, rev: &str) -> Result<String> {
        run_git(
            &self.bare,
            &["rev-parse", "--verify", "--end-of-options", rev],
        )
        .await
    }

    fn checked_path(&self, path: &str) -> Result<PathBuf> {
        let relative = Path::new(path);
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        if path.is_empty() || escapes {
            return Err(HarnessError::Invalid(format!(
                "{path:?} is not a path inside the work tree"
            )));
        }
        Ok(self.work.path().join(relative))
    }
}
