//! Talking to the remote: one handshake lists refs (the cheap check), a fetch brings objects.

use super::auth::Credentials;
use super::error::GitError;
use gix::error::ErrorExt;
use gix::protocol::transport::client::blocking_io::http;
use gix::remote::Direction;
use std::sync::atomic::AtomicBool;

/// A ref as the remote advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Full name, e.g. `refs/heads/main`.
    pub name: String,
    /// The commit it points to (annotated tags are peeled).
    pub commit: gix::ObjectId,
}

/// Lists the remote refs matching `refspecs` (sources like `refs/heads/main`, `refs/tags/*`),
/// without downloading objects: one handshake and an ls-refs.
pub fn list_remote_refs(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
    refspecs: &[String],
    interrupt: &AtomicBool,
) -> Result<Vec<RemoteRef>, GitError> {
    let _ = interrupt;
    with_prepared_fetch(repo, url, creds, refspecs, "listing refs of", |prepare| {
        Ok(remote_refs(prepare.ref_map()))
    })
}

/// Fetches `refspecs` (`+src:dst`) from `url` into the cache repository, incrementally.
/// Returns the refs the remote advertised.
pub fn fetch(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
    refspecs: &[String],
    interrupt: &AtomicBool,
) -> Result<Vec<RemoteRef>, GitError> {
    with_prepared_fetch(repo, url, creds, refspecs, "fetching from", |prepare| {
        let refs = remote_refs(prepare.ref_map());
        prepare
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| GitError::remote("fetching from", url, e))?;
        Ok(refs)
    })
}

/// Lists the refs matching `refspecs` and, on the same connection, fetches them when `want`
/// (given the advertised refs) says so: one handshake and ls-refs instead of two when the refs
/// to fetch are the refs listed. Returns the refs and whether objects were fetched.
pub fn list_and_fetch_if(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
    refspecs: &[String],
    interrupt: &AtomicBool,
    want: impl FnOnce(&[RemoteRef]) -> bool,
) -> Result<(Vec<RemoteRef>, bool), GitError> {
    with_prepared_fetch(repo, url, creds, refspecs, "fetching from", |prepare| {
        let refs = remote_refs(prepare.ref_map());
        if !want(&refs) {
            return Ok((refs, false));
        }
        prepare
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| GitError::remote("fetching from", url, e))?;
        Ok((refs, true))
    })
}

type Prepare<'a> = gix::remote::fetch::Prepare<
    'a,
    'a,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

fn with_prepared_fetch<T>(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
    refspecs: &[String],
    operation: &'static str,
    then: impl FnOnce(Prepare<'_>) -> Result<T, GitError>,
) -> Result<T, GitError> {
    // Kept alive until the transport is done: it holds the SSH key and known hosts.
    let ssh_dir = creds
        .ssh
        .is_some()
        .then(tempfile::tempdir)
        .transpose()
        .map_err(|e| GitError::Cache {
            path: std::env::temp_dir().display().to_string(),
            message: e.to_string(),
        })?;
    let repo = configured_repo(repo, creds, ssh_dir.as_ref().map(|d| d.path()))?;
    let remote = repo
        .remote_at(url)
        .map_err(|e| GitError::InvalidUrl {
            url: url.to_string(),
            reason: format!("{e:#}"),
        })?
        .with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
        .map_err(|e| GitError::RefNotFound(format!("invalid refspec: {e:#}")))?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let mut connection = remote
        .connect(Direction::Fetch)
        .map_err(|e| GitError::remote(operation, url, e))?;
    let basic = creds.basic.clone();
    connection.set_credentials(move |action| match action {
        gix::credentials::helper::Action::Get(ctx) => match &basic {
            Some((username, password)) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            None => Err(gix::error::message(
                "authentication required but the GitRepository has no secretRef with username and password",
            )
            .raise()),
        },
        _ => Ok(None),
    });
    if let Some(options) = http_options(&repo, url, creds)? {
        connection.set_transport_options(options);
    }
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| GitError::remote(operation, url, e))?;
    then(prepare)
}

/// An in-memory copy of the cache repo's config with our transport settings; nothing is written
/// to disk and no system credential helper or prompt is ever consulted.
fn configured_repo(
    repo: &gix::Repository,
    creds: &Credentials,
    ssh_dir: Option<&std::path::Path>,
) -> Result<gix::Repository, GitError> {
    let Some(ssh_dir) = ssh_dir else {
        return Ok(repo.clone());
    };
    let ssh_command = creds.ssh_command(ssh_dir).map_err(|e| GitError::Cache {
        path: ssh_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut repo = repo.clone();
    let path = repo.path().display().to_string();
    let config_err = |e: gix::Error| GitError::Cache {
        path: path.clone(),
        message: format!("{e:#}"),
    };
    let mut config = repo.config_snapshot_mut();
    if let Some(command) = ssh_command {
        config
            .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
            .map_err(config_err)?;
    }
    config.commit().map_err(config_err)?;
    Ok(repo)
}

/// HTTP transport options: a bearer token header, an extra CA, and bounded connect/read time.
fn http_options(
    repo: &gix::Repository,
    url: &str,
    creds: &Credentials,
) -> Result<Option<Box<dyn std::any::Any>>, GitError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Ok(None);
    }
    let base = repo
        .transport_options(url, None)
        .map_err(|e| GitError::remote("configuring transport for", url, e))?;
    let mut options = base
        .and_then(|any| any.downcast::<http::Options>().ok())
        .map(|boxed| *boxed)
        .unwrap_or_default();
    if let Some(token) = &creds.bearer_token {
        options
            .extra_headers
            .push(format!("Authorization: Bearer {token}"));
    }
    let ca = match &creds.ca_pem {
        Some(pem) => {
            Some(
                reqwest::Certificate::from_pem(pem).map_err(|e| GitError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("secretRef ca.crt is not a PEM certificate: {e}"),
                })?,
            )
        }
        None => None,
    };
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |mut builder| {
            if let Some(ca) = ca.clone() {
                builder = builder.add_root_certificate(ca);
            }
            Ok(builder.connect_timeout(std::time::Duration::from_secs(20)))
        })),
        configure_request: None,
    };
    options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
    Ok(Some(Box::new(options)))
}

fn remote_refs(map: &gix::remote::fetch::RefMap) -> Vec<RemoteRef> {
    map.remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            let commit = peeled.or(target)?.to_owned();
            Some(RemoteRef {
                name: name.to_string(),
                commit,
            })
        })
        .collect()
}
