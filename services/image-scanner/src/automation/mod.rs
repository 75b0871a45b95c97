//! ImageUpdateAutomation runs: fetch the branch, apply setters, commit (signed when a key is
//! given) with Flux's message template, push; when another replica pushed first
//! (non-fast-forward), fetch the new tip, apply again and retry, a bounded number of times. Git
//! work uses the `git` CLI over http(s) or SSH (see [`git`]), signing uses gpg (see [`signing`]).

pub mod git;
pub mod signing;
pub mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use flux_api::image::{DEFAULT_COMMIT_MESSAGE, ImageUpdateAutomation, SigningKeyType};
use flux_api::source::GitRepositorySpec;
use sha2::{Digest as _, Sha256};

use crate::setters::{self, Policies, SetterError, UpdateOptions, UpdateResult};
use git::{Git, GitCommandError};
pub use git::{GitCredentials, GitCredentialsError};
use signing::Signer;
pub use signing::{SigningError, SigningKey};
use template::{Template, TemplateError, Value};

/// Attempts of a run when pushes keep losing races.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Why an automation run failed. [`AutomationError::reason`] gives Flux's condition reason.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// The source or automation settings cannot work (URL with credentials, no branch, …).
    #[error("invalid source configuration: {0}")]
    InvalidSource(String),
    /// The signing key cannot be used; nothing was committed or pushed.
    #[error("commit signing (spec.git.commit.signingKey): {0}")]
    Signing(#[from] SigningError),
    /// `signingKey.type: ssh`: only OpenPGP keys sign here.
    #[error(
        "spec.git.commit.signingKey.type 'ssh' is not supported by Ferry's image automation; use type 'gpg' with an armored OpenPGP key in 'git.asc'"
    )]
    SshSigningUnsupported,
    /// The message or branch template is invalid or failed.
    #[error("{what}: {source}")]
    Template {
        /// `commit message template` or `branch name template`.
        what: &'static str,
        /// The template error.
        source: TemplateError,
    },
    /// The branch name template rendered an invalid Git branch name.
    #[error("branch name template produced an invalid branch name {0:?}")]
    InvalidBranchName(String),
    /// The checkout branch does not exist on the remote.
    #[error("branch {0:?} not found on the remote")]
    BranchNotFound(String),
    /// Applying setters failed; nothing was committed.
    #[error("updating files: {0}")]
    Update(#[from] SetterError),
    /// A Git operation failed.
    #[error(transparent)]
    Git(#[from] GitCommandError),
    /// The remote kept moving: every attempt lost the push race.
    #[error("push to {branch:?} rejected as non-fast-forward {attempts} times; giving up")]
    RetriesExhausted {
        /// The branch pushed to.
        branch: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A per-update branch already exists with different content.
    #[error("branch {0:?} already exists with different content")]
    BranchExists(String),
    /// The remote refused the push (a hook, protection rule, …).
    #[error("push to {branch:?} refused by the remote: {message}")]
    PushRefused {
        /// The branch or refspec.
        branch: String,
        /// What the remote said.
        message: String,
    },
    /// Local temporary directory or task failure.
    #[error("local error: {0}")]
    Local(String),
}

impl AutomationError {
    /// The Ready condition reason Flux's image-automation-controller uses.
    pub fn reason(&self) -> &'static str {
        match self {
            AutomationError::InvalidSource(_)
            | AutomationError::BranchNotFound(_)
            | AutomationError::SshSigningUnsupported => "InvalidSourceConfiguration",
            AutomationError::Git(e) if e.is_auth() => "AccessDenied",
            AutomationError::Template {
                source: TemplateError::RemovedField,
                ..
            } => "RemovedTemplateField",
            AutomationError::Update(_) => "UpdateFailed",
            _ => "GitOperationFailed",
        }
    }
}

/// The commit author (and committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Name; the e-mail is used when empty.
    pub name: String,
    /// E-mail.
    pub email: String,
}

/// Where the commit goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSettings {
    /// `push.branch`; defaults to the checkout branch. When it exists, its tip is the base.
    pub branch: Option<String>,
    /// `push.refspec`, pushed in addition to the branch (or alone when `branch` is unset).
    pub refspec: Option<String>,
    /// `push.options` (`git push -o key=value`).
    pub options: BTreeMap<String, String>,
    /// Beyond Flux: push every update to a new branch named by this template (same data as
    /// the message, plus `.Hash`, 10 hex digits identifying the change set), based on the
    /// checkout branch. Takes precedence over `branch`.
    pub new_branch_template: Option<String>,
}

/// Everything one run needs; build it with [`AutomationRequest::from_specs`] or by hand.
#[derive(Debug, Clone)]
pub struct AutomationRequest {
    /// Remote URL: `http`/`https` without credentials, or SSH (`ssh://[user@]host[:port]/path`
    /// or `[user@]host:path`) with an `identity` and `known_hosts` in the credentials.
    pub url: String,
    /// Credentials from the GitRepository's Secret.
    pub credentials: GitCredentials,
    /// The branch to check out (`git.checkout.ref.branch`, else the GitRepository's).
    pub checkout_branch: String,
    /// Push settings.
    pub push: PushSettings,
    /// `update.path`.
    pub update_path: Option<String>,
    /// Commit author.
    pub author: Author,
    /// The OpenPGP key to sign commits with (`signingKey`'s Secret).
    pub signing_key: Option<SigningKey>,
    /// `messageTemplate`; [`DEFAULT_COMMIT_MESSAGE`] when unset.
    pub message_template: Option<String>,
    /// `messageTemplateValues` (`.Values`).
    pub message_values: BTreeMap<String, String>,
    /// The automation's namespace and name (`.AutomationObject`).
    pub automation: (String, String),
    /// Latest image per selected ImagePolicy.
    pub policies: Policies,
    /// Setter limits.
    pub setter_options: UpdateOptions,
    /// Timeout of each Git command (the GitRepository's `timeout`).
    pub timeout: Duration,
    /// Attempts when pushes are rejected as non-fast-forward.
    pub max_attempts: u32,
}

impl AutomationRequest {
    /// Maps an ImageUpdateAutomation and its GitRepository to a request. `signing_key` is the
    /// key from `signingKey.secretRef`, required when the spec sets one.
    pub fn from_specs(
        automation: &ImageUpdateAutomation,
        source: &GitRepositorySpec,
        credentials: GitCredentials,
        signing_key: Option<SigningKey>,
        policies: Policies,
    ) -> Result<Self, AutomationError> {
        let spec = &automation.spec;
        let git = spec.git.as_ref().ok_or_else(|| {
            AutomationError::InvalidSource("spec.git is required to commit".into())
        })?;
        if let Some(proxy) = &source.proxy_secret_ref {
            return Err(AutomationError::InvalidSource(format!(
                "the GitRepository's spec.proxySecretRef ('{}') is not supported by image automation yet; remove it or reach the Git server directly",
                proxy.name
            )));
        }
        if let Some(requested) = &git.commit.signing_key {
            if requested.type_ == Some(SigningKeyType::Ssh) {
                return Err(AutomationError::SshSigningUnsupported);
            }
            if signing_key.is_none() {
                return Err(AutomationError::InvalidSource(format!(
                    "spec.git.commit.signingKey is set but no key was read from secret '{}'",
                    requested.secret_ref.name
                )));
            }
        }
        let reference = git
            .checkout
            .as_ref()
            .map(|c| c.reference.clone())
            .unwrap_or_else(|| source.reference());
        let checkout_branch = reference.branch.clone().ok_or_else(|| {
            AutomationError::InvalidSource(
                "the checkout ref must name a branch (tags, semver and commits are not supported)"
                    .into(),
            )
        })?;
        let push = git.push.as_ref();
        Ok(Self {
            url: source.url.clone(),
            credentials,
            checkout_branch,
            push: PushSettings {
                branch: push.and_then(|p| p.branch.clone()),
                refspec: push.and_then(|p| p.refspec.clone()),
                options: push.and_then(|p| p.options.clone()).unwrap_or_default(),
                new_branch_template: None,
            },
            update_path: spec.update().path,
            author: Author {
                name: git.commit.author.name.clone().unwrap_or_default(),
                email: git.commit.author.email.clone(),
            },
            signing_key: git.commit.signing_key.as_ref().and(signing_key),
            message_template: git.commit.message_template.clone(),
            message_values: git
                .commit
                .message_template_values
                .clone()
                .unwrap_or_default(),
            automation: (
                automation.metadata.namespace.clone().unwrap_or_default(),
                automation.metadata.name.clone().unwrap_or_default(),
            ),
            policies,
            setter_options: UpdateOptions::default(),
            timeout: source.timeout(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationOutcome {
    /// Nothing to change at `revision` (Flux: `repository up-to-date`).
    UpToDate {
        /// The commit the files were checked at.
        revision: String,
        /// The setters result (unresolved markers, skipped files).
        result: UpdateResult,
    },
    /// A commit was pushed.
    Pushed {
        /// The pushed commit.
        commit: String,
        /// The branch it was pushed to.
        branch: String,
        /// Its message.
        message: String,
        /// What changed.
        result: UpdateResult,
        /// Attempts it took (1 when no race was lost).
        attempts: u32,
    },
}

/// Runs the automation once: see the module docs.
pub async fn run(request: &AutomationRequest) -> Result<AutomationOutcome, AutomationError> {
    check_url(&request.url, &request.credentials)?;
    let message_template = Template::parse(
        request
            .message_template
            .as_deref()
            .unwrap_or(DEFAULT_COMMIT_MESSAGE),
    )
    .map_err(|source| AutomationError::Template {
        what: "commit message template",
        source,
    })?;
    let branch_template = request
        .push
        .new_branch_template
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|source| AutomationError::Template {
            what: "branch name template",
            source,
        })?;
    // A bad key fails here, before any Git work.
    let signer = match &request.signing_key {
        Some(key) => Some(Signer::prepare(key, request.timeout).await?),
        None => None,
    };
    let dir = tempfile::Builder::new()
        .prefix("ferry-automation-")
        .tempdir()
        .map_err(|e| AutomationError::Local(format!("creating a work directory: {e}")))?;
    let git = Git::new(dir.path(), request.credentials.clone(), request.timeout)
        .map_err(|e| AutomationError::Local(format!("writing the Git credentials: {e}")))?;
    git.run(&["init", "--quiet"]).await?;
    git.run(&["remote", "add", "origin", &request.url]).await?;

    let push_branch = request
        .push
        .branch
        .clone()
        .unwrap_or_else(|| request.checkout_branch.clone());
    let attempts = request.max_attempts.max(1);
    for attempt in 1..=attempts {
        // The base: the push branch when it exists (not in new-branch mode), else checkout.
        let heads = remote_heads(&git, &[&request.checkout_branch, &push_branch]).await?;
        if !heads.contains_key(&request.checkout_branch) {
            return Err(AutomationError::BranchNotFound(
                request.checkout_branch.clone(),
            ));
        }
        let base_branch = if branch_template.is_none() && heads.contains_key(&push_branch) {
            &push_branch
        } else {
            &request.checkout_branch
        };
        let base = checkout(&git, base_branch, &push_branch).await?;
        let result = apply(dir.path(), request).await?;
        if result.is_empty() {
            return Ok(AutomationOutcome::UpToDate {
                revision: base,
                result,
            });
        }
        let data = template_data(request, &result);
        let message =
            message_template
                .render(&data)
                .map_err(|source| AutomationError::Template {
                    what: "commit message template",
                    source,
                })?;
        let target = match &branch_template {
            Some(template) => branch_name(&git, template, &data, &result).await?,
            None => push_branch.clone(),
        };
        let commit = commit(&git, &request.author, &message, signer.as_ref()).await?;
        let pushes_branch = request.push.branch.is_some()
            || request.push.refspec.is_none()
            || branch_template.is_some();
        if pushes_branch {
            let refspec = format!("HEAD:refs/heads/{target}");
            match push(&git, &refspec, &request.push.options).await? {
                PushResult::Ok => {}
                PushResult::NonFastForward if branch_template.is_some() => {
                    if same_tree_as_remote(&git, &target).await? {
                        return Ok(AutomationOutcome::Pushed {
                            commit: git.run(&["rev-parse", "FETCH_HEAD"]).await?,
                            branch: target,
                            message,
                            result,
                            attempts: attempt,
                        });
                    }
                    return Err(AutomationError::BranchExists(target));
                }
                PushResult::NonFastForward => {
                    tracing::info!(branch = %target, attempt, "push lost a race; retrying on the new tip");
                    continue;
                }
            }
        }
        if let Some(refspec) = &request.push.refspec
            && let PushResult::NonFastForward = push(&git, refspec, &request.push.options).await?
        {
            if !pushes_branch {
                continue;
            }
            return Err(AutomationError::PushRefused {
                branch: refspec.clone(),
                message: "non-fast-forward".into(),
            });
        }
        return Ok(AutomationOutcome::Pushed {
            commit,
            branch: target,
            message,
            result,
            attempts: attempt,
        });
    }
    Err(AutomationError::RetriesExhausted {
        branch: push_branch,
        attempts,
    })
}

fn check_url(url: &str, credentials: &GitCredentials) -> Result<(), AutomationError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        if is_scp_like(url) {
            return require_ssh_key(url, credentials);
        }
        return Err(AutomationError::InvalidSource(format!(
            "URL {url:?} has no scheme"
        )));
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match scheme {
        "http" | "https" if authority.contains('@') => Err(AutomationError::InvalidSource(
            "credentials in the URL are not accepted; use the GitRepository's secretRef".into(),
        )),
        "http" | "https" => Ok(()),
        "ssh" => {
            if let Some((user_info, _)) = authority.rsplit_once('@')
                && user_info.contains(':')
            {
                return Err(AutomationError::InvalidSource(
                    "a password in an ssh:// URL is not accepted; use 'identity' in the GitRepository's secretRef".into(),
                ));
            }
            require_ssh_key(url, credentials)
        }
        _ => Err(AutomationError::InvalidSource(format!(
            "{scheme}:// remotes are not supported by image automation; use http(s) or ssh"
        ))),
    }
}

/// Git's scp-like syntax, `[user@]host:path`: a colon before any slash.
fn is_scp_like(url: &str) -> bool {
    match url.find(':') {
        Some(colon) => colon > 0 && !url[..colon].contains('/'),
        None => false,
    }
}

/// SSH remotes need a key and the host keys to check the server against (as Flux requires).
fn require_ssh_key(url: &str, credentials: &GitCredentials) -> Result<(), AutomationError> {
    if credentials.ssh.is_none() {
        return Err(AutomationError::InvalidSource(format!(
            "SSH remote {url:?} needs the GitRepository's secretRef to hold 'identity' and 'known_hosts' (host keys are always verified)"
        )));
    }
    Ok(())
}

/// `branch → sha` for those of `branches` that exist on the remote.
async fn remote_heads(
    git: &Git,
    branches: &[&str],
) -> Result<BTreeMap<String, String>, AutomationError> {
    let refs: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let mut args = vec!["ls-remote", "--heads", "origin"];
    args.extend(refs.iter().map(String::as_str));
    let listing = git.run(&args).await?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let (sha, name) = line.split_once('\t')?;
            Some((name.strip_prefix("refs/heads/")?.to_owned(), sha.to_owned()))
        })
        .collect())
}

/// Fetches `branch` shallowly and makes the local branch `local` point at it, with a clean
/// work tree. Returns the commit.
async fn checkout(git: &Git, branch: &str, local: &str) -> Result<String, AutomationError> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    git.run(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth=1",
        "origin",
        &refspec,
    ])
    .await?;
    let remote = format!("refs/remotes/origin/{branch}");
    git.run(&["checkout", "--quiet", "--force", "-B", local, &remote])
        .await?;
    git.run(&["clean", "--quiet", "-fdx"]).await?;
    Ok(git.run(&["rev-parse", "HEAD"]).await?)
}

async fn apply(
    dir: &std::path::Path,
    request: &AutomationRequest,
) -> Result<UpdateResult, AutomationError> {
    let dir = dir.to_owned();
    let path = request.update_path.clone();
    let policies = request.policies.clone();
    let options = request.setter_options;
    tokio::task::spawn_blocking(move || {
        setters::update_dir(&dir, path.as_deref(), &policies, options)
    })
    .await
    .map_err(|e| AutomationError::Local(format!("setters task: {e}")))?
    .map_err(AutomationError::from)
}

async fn commit(
    git: &Git,
    author: &Author,
    message: &str,
    signer: Option<&Signer>,
) -> Result<String, AutomationError> {
    let name = if author.name.is_empty() {
        &author.email
    } else {
        &author.name
    };
    git.run(&["add", "--all"]).await?;
    let home = signer.map(|s| s.home().display().to_string());
    let mut env = vec![
        ("GIT_AUTHOR_NAME", name.as_str()),
        ("GIT_AUTHOR_EMAIL", author.email.as_str()),
        ("GIT_COMMITTER_NAME", name.as_str()),
        ("GIT_COMMITTER_EMAIL", author.email.as_str()),
    ];
    let sign_arg = signer.map(|s| format!("--gpg-sign={}", s.fingerprint()));
    let mut args = vec!["commit", "--quiet", "--no-verify", "--cleanup=verbatim"];
    if let (Some(home), Some(sign_arg)) = (&home, &sign_arg) {
        env.push(("GNUPGHOME", home.as_str()));
        args.push(sign_arg.as_str());
    }
    args.extend(["-m", message]);
    match git.run_env(&args, &env).await {
        Ok(_) => {}
        Err(GitCommandError::Failed { stderr, .. }) if signer.is_some() => {
            return Err(SigningError::Sign(stderr).into());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(git.run(&["rev-parse", "HEAD"]).await?)
}

enum PushResult {
    Ok,
    NonFastForward,
}

async fn push(
    git: &Git,
    refspec: &str,
    options: &BTreeMap<String, String>,
) -> Result<PushResult, AutomationError> {
    let option_args: Vec<String> = options
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                format!("--push-option={k}")
            } else {
                format!("--push-option={k}={v}")
            }
        })
        .collect();
    let mut args = vec!["push", "--porcelain", "origin"];
    args.extend(option_args.iter().map(String::as_str));
    args.push(refspec);
    let output = git.output(&args, &[]).await?;
    if output.success {
        return Ok(PushResult::Ok);
    }
    let text = format!("{}\n{}", output.stdout, output.stderr);
    if is_lost_race(&text) {
        return Ok(PushResult::NonFastForward);
    }
    if text.contains("[remote rejected]") {
        return Err(AutomationError::PushRefused {
            branch: refspec.to_owned(),
            message: text
                .lines()
                .find(|l| l.contains("[remote rejected]"))
                .unwrap_or_default()
                .trim()
                .to_owned(),
        });
    }
    Err(AutomationError::Git(GitCommandError::Failed {
        command: "push".into(),
        stderr: output.stderr,
    }))
}

/// Whether a failed push lost a race with another writer: the client saw a newer tip
/// (`[rejected] … (fetch first|non-fast-forward)`), or the server's compare-and-swap of the ref
/// failed because it moved while the push was in flight (`[remote rejected] … (failed to update
/// ref|failed to lock|…)`).
fn is_lost_race(text: &str) -> bool {
    let client_side = text.contains("[rejected]")
        && (text.contains("non-fast-forward") || text.contains("fetch first"));
    let server_side = text.contains("[remote rejected]")
        && [
            "failed to update ref",
            "failed to lock",
            "cannot lock ref",
            "incorrect old value",
        ]
        .iter()
        .any(|needle| text.contains(needle));
    client_side || server_side || text.contains("stale info")
}

/// Whether the remote `branch` holds the same tree as `HEAD` (a per-update branch pushed by
/// another replica for the same change set). Leaves the remote commit in `FETCH_HEAD`.
async fn same_tree_as_remote(git: &Git, branch: &str) -> Result<bool, AutomationError> {
    let refspec = format!("refs/heads/{branch}");
    git.run(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth=1",
        "origin",
        &refspec,
    ])
    .await?;
    let remote = git.run(&["rev-parse", "FETCH_HEAD^{tree}"]).await?;
    let local = git.run(&["rev-parse", "HEAD^{tree}"]).await?;
    Ok(remote == local)
}

async fn branch_name(
    git: &Git,
    template: &Template,
    data: &Value,
    result: &UpdateResult,
) -> Result<String, AutomationError> {
    let mut data = data.clone();
    if let Value::Struct(s) = &mut data {
        s.fields.push(("Hash", Value::Str(change_hash(result))));
    }
    let name = template
        .render(&data)
        .map_err(|source| AutomationError::Template {
            what: "branch name template",
            source,
        })?
        .trim()
        .to_owned();
    let valid = !name.is_empty()
        && git
            .output(&["check-ref-format", "--branch", &name], &[])
            .await?
            .success;
    if valid {
        Ok(name)
    } else {
        Err(AutomationError::InvalidBranchName(name))
    }
}

/// 10 hex digits of SHA-256 over every (file, setter, new value): the same change set gives the
/// same branch name on every replica.
fn change_hash(result: &UpdateResult) -> String {
    let mut hasher = Sha256::new();
    for (file, objects) in &result.files {
        for (_, changes) in objects {
            for change in changes {
                for part in [file.as_str(), &change.setter, &change.new_value] {
                    hasher.update(part.as_bytes());
                    hasher.update([0]);
                }
            }
        }
    }
    hex::encode(hasher.finalize())[..10].to_owned()
}

/// The template data Flux provides: `.AutomationObject`, `.Changed` (`FileChanges`, `Changes`,
/// `Objects`, `ImageResult{Files, Images, Objects}`) and `.Values`.
pub fn template_data(request: &AutomationRequest, result: &UpdateResult) -> Value {
    let (namespace, name) = &request.automation;
    let change_value = |c: &setters::Change| {
        Value::object(
            format!("{{{} {} {}}}", c.old_value, c.new_value, c.setter),
            vec![
                ("OldValue", Value::str(&c.old_value)),
                ("NewValue", Value::str(&c.new_value)),
                ("Setter", Value::str(&c.setter)),
            ],
        )
    };
    let object_value = |o: &setters::ObjectId| {
        Value::object(
            o.to_string(),
            vec![
                ("Name", Value::str(&o.name)),
                ("Namespace", Value::str(&o.namespace)),
                ("APIVersion", Value::str(&o.api_version)),
                ("Kind", Value::str(&o.kind)),
            ],
        )
    };
    let image_value = |setter: &str| -> Option<Value> {
        let marker = setters::Marker::parse(setter)?;
        let image = request.policies.get(&marker.policy())?;
        let (registry, repository) = match image.name.split_once('/') {
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
                (host.to_owned(), rest.to_owned())
            }
            _ => (String::new(), image.name.clone()),
        };
        Some(Value::object(
            image.to_string(),
            vec![
                ("Name", Value::str(&image.name)),
                ("Registry", Value::str(registry)),
                ("Repository", Value::str(repository)),
                ("Tag", Value::str(&image.tag)),
                (
                    "Digest",
                    Value::str(image.digest.clone().unwrap_or_default()),
                ),
                (
                    "Identifier",
                    Value::str(image.digest.clone().unwrap_or_else(|| image.tag.clone())),
                ),
                (
                    "Policy",
                    Value::object(
                        format!("{}/{}", marker.namespace, marker.name),
                        vec![
                            ("Name", Value::str(&marker.name)),
                            ("Namespace", Value::str(&marker.namespace)),
                        ],
                    ),
                ),
            ],
        ))
    };
    let images_of = |changes: &[&setters::Change]| -> Value {
        let mut images: Vec<Value> = Vec::new();
        for change in changes {
            if let Some(image) = image_value(&change.setter)
                && !images.contains(&image)
            {
                images.push(image);
            }
        }
        Value::List(images)
    };
    let file_changes = Value::Map(
        result
            .files
            .iter()
            .map(|(file, objects)| {
                (
                    Value::str(file),
                    Value::Map(
                        objects
                            .iter()
                            .map(|(o, cs)| {
                                (
                                    object_value(o),
                                    Value::List(cs.iter().map(change_value).collect()),
                                )
                            })
                            .collect(),
                    ),
                )
            })
            .collect(),
    );
    let all_changes = result.changes();
    let objects = result.objects();
    let image_files = Value::Map(
        result
            .files
            .iter()
            .map(|(file, objs)| {
                let per_object = objs
                    .iter()
                    .map(|(o, cs)| (object_value(o), images_of(&cs.iter().collect::<Vec<_>>())))
                    .collect();
                (
                    Value::str(file),
                    Value::object(file.clone(), vec![("Objects", Value::Map(per_object))]),
                )
            })
            .collect(),
    );
    let image_result = Value::object(
        "",
        vec![
            ("Files", image_files),
            ("Images", images_of(&all_changes)),
            (
                "Objects",
                Value::Map(
                    objects
                        .iter()
                        .map(|(o, cs)| (object_value(o), images_of(cs)))
                        .collect(),
                ),
            ),
        ],
    );
    let changed = Value::object(
        "",
        vec![
            ("FileChanges", file_changes),
            (
                "Changes",
                Value::List(all_changes.iter().map(|c| change_value(c)).collect()),
            ),
            (
                "Objects",
                Value::Map(
                    objects
                        .iter()
                        .map(|(o, cs)| {
                            (
                                object_value(o),
                                Value::List(cs.iter().map(|c| change_value(c)).collect()),
                            )
                        })
                        .collect(),
                ),
            ),
            ("ImageResult", image_result),
        ],
    );
    Value::object(
        "",
        vec![
            (
                "AutomationObject",
                Value::object(
                    format!("{namespace}/{name}"),
                    vec![
                        ("Name", Value::str(name)),
                        ("Namespace", Value::str(namespace)),
                    ],
                ),
            ),
            ("Changed", changed),
            (
                "Values",
                Value::Map(
                    request
                        .message_values
                        .iter()
                        .map(|(k, v)| (Value::str(k), Value::str(v)))
                        .collect(),
                ),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh_credentials() -> GitCredentials {
        GitCredentials::from_secret_data(&BTreeMap::from([
            ("identity".to_owned(), b"KEY".to_vec()),
            ("known_hosts".to_owned(), b"host ssh-ed25519 AAAA".to_vec()),
        ]))
        .expect("ssh credentials")
    }

    fn automation(signing: serde_json::Value) -> ImageUpdateAutomation {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "fleet", "namespace": "apps"},
            "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                "git": {"commit": {"author": {"email": "bot@example.com"}, "signingKey": signing}}}
        }))
        .expect("automation")
    }

    fn source(extra: serde_json::Value) -> GitRepositorySpec {
        let mut spec = serde_json::json!({"url": "https://git.example/fleet", "interval": "1m",
            "ref": {"branch": "main"}});
        spec.as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        serde_json::from_value(spec).expect("source")
    }

    #[test]
    fn from_specs_refuses_a_source_proxy_ssh_signing_and_a_missing_key() {
        let gpg = serde_json::json!({"secretRef": {"name": "signing"}});
        let key = || Some(SigningKey::new("KEY", None));
        let build = |a: &ImageUpdateAutomation, s: &GitRepositorySpec, k| {
            AutomationRequest::from_specs(a, s, GitCredentials::default(), k, Policies::new())
        };
        let plain = source(serde_json::json!({}));
        let request = build(&automation(gpg.clone()), &plain, key()).expect("valid");
        assert_eq!(request.signing_key, key());
        let err = build(&automation(gpg.clone()), &plain, None).expect_err("no key loaded");
        assert_eq!(err.reason(), "InvalidSourceConfiguration");
        let ssh = serde_json::json!({"secretRef": {"name": "signing"}, "type": "ssh"});
        assert!(matches!(
            build(&automation(ssh), &plain, key()),
            Err(AutomationError::SshSigningUnsupported)
        ));
        let proxied = source(serde_json::json!({"proxySecretRef": {"name": "proxy"}}));
        let err = build(&automation(gpg), &proxied, key()).expect_err("proxy");
        assert!(err.to_string().contains("proxySecretRef"), "{err}");
    }

    #[test]
    fn ssh_and_scp_like_urls_need_an_ssh_key_and_refuse_passwords() {
        let ssh = ssh_credentials();
        let none = GitCredentials::default();
        for url in [
            "ssh://git@github.com/org/fleet.git",
            "ssh://git@[::1]:2222/srv/fleet.git",
            "git@github.com:org/fleet.git",
            "github.com:org/fleet.git",
        ] {
            assert!(check_url(url, &ssh).is_ok(), "{url}");
            let err = check_url(url, &none).expect_err("no key");
            assert!(err.to_string().contains("'known_hosts'"), "{url}: {err}");
        }
        assert!(check_url("ssh://git:pw@host/fleet", &ssh).is_err());
        assert!(check_url("https://user:pw@host/fleet", &none).is_err());
        assert!(check_url("https://host/fleet", &none).is_ok());
        assert!(check_url("/srv/fleet.git", &ssh).is_err(), "a local path");
        assert!(check_url("ftp://host/fleet", &ssh).is_err());
    }
}
