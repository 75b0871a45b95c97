//! A Git smart-HTTP server: `git http-backend` (CGI) behind an in-process hyper server.

use crate::error::{HarnessError, Result};
use crate::git_repo::require_git;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::{JoinHandle, JoinSet};

/// How long one `git http-backend` run may take before the request fails with 504.
const CGI_TIMEOUT: Duration = Duration::from_secs(60);
/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "ferry-test";

/// Who may use a [`GitHttpServer`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// Anyone may fetch and push.
    #[default]
    None,
    /// HTTP basic authentication with this user name and password.
    Basic {
        /// User name.
        user: String,
        /// Password.
        pass: String,
    },
    /// `Authorization: Bearer <token>` with this token.
    Bearer(String),
}

/// What a request to the Git server was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitRequestKind {
    /// `GET …/info/refs?service=…`: the ref advertisement (capabilities in protocol v2).
    InfoRefs,
    /// A protocol v2 `ls-refs` command: listing refs without fetching objects.
    LsRefs,
    /// An upload-pack request that negotiates or transfers objects (a fetch or clone).
    ///
    /// Gzip-compressed upload-pack bodies are counted here, since git only compresses large
    /// negotiation requests.
    Fetch,
    /// A receive-pack request (a push).
    Push,
    /// Anything else (dumb-protocol files, unknown paths).
    Other,
}

/// One request the Git server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// URL query, empty when there was none.
    pub query: String,
    /// What the request was for.
    pub kind: GitRequestKind,
    /// The HTTP status of the response.
    pub status: u16,
}

/// A Git smart-HTTP server on a random loopback port serving the bare repositories under a
/// temporary root, for fetch and push, optionally behind authentication.
///
/// Dropping it stops the server and removes the root.
#[derive(Debug)]
pub struct GitHttpServer {
    root: TempDir,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    backend: PathBuf,
    root: PathBuf,
    auth: Auth,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
}

impl GitHttpServer {
    /// Starts the server with an empty root. Must be called inside a Tokio runtime.
    pub async fn start(auth: Auth) -> Result<Self> {
        let backend = http_backend_path().await?;
        let root = tempfile::Builder::new()
            .prefix("ferry-git-http-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the git server root", e))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| HarnessError::io("binding the git HTTP server", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the git HTTP server address", e))?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            backend,
            root: root.path().to_owned(),
            auth,
            requests: Arc::clone(&requests),
        });
        let task = tokio::spawn(accept_loop(listener, state));
        Ok(Self {
            root,
            addr,
            requests,
            task,
        })
    }

    /// The directory whose bare repositories are served; `<root>/<name>` is served at
    /// [`url_for(name)`](Self::url_for).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The clone URL of the repository `<root>/<repo>`.
    pub fn url_for(&self, repo: &str) -> String {
        format!("http://{}/{}", self.addr, repo.trim_start_matches('/'))
    }

    /// The clone URL of `<root>/<repo>` with `user:pass@` in it (for basic auth with plain git).
    pub fn url_with_credentials(&self, repo: &str, user: &str, pass: &str) -> String {
        format!(
            "http://{user}:{pass}@{}/{}",
            self.addr,
            repo.trim_start_matches('/')
        )
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests.lock().clone()
    }

    /// How many requests were answered so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().len()
    }

    /// How many answered requests were of `kind`.
    pub fn count_of(&self, kind: GitRequestKind) -> usize {
        self.requests
            .lock()
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.requests.lock().clear();
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

async fn http_backend_path() -> Result<PathBuf> {
    require_git()?;
    let output = Command::new("git")
        .arg("--exec-path")
        .output()
        .await
        .map_err(|e| HarnessError::io("running git --exec-path", e))?;
    let exec_path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let backend = Path::new(&exec_path).join("git-http-backend");
    if output.status.success() && crate::error::is_executable(&backend) {
        Ok(backend)
    } else {
        Err(HarnessError::MissingBinary {
            binary: "git-http-backend".into(),
            package: "git".into(),
        })
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(handle(&state, peer, request).await) }
                        });
                        if let Err(error) = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%error, "git HTTP connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "git HTTP server failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(
    state: &State,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (kind, response) = match authorize(&state.auth, request.headers()) {
        Err(scheme) => (classify(&path, &query, None, false), unauthorized(scheme)),
        Ok(remote_user) => {
            let (parts, body) = request.into_parts();
            match body.collect().await {
                Ok(body) => {
                    let body = body.to_bytes();
                    let gzip = parts
                        .headers
                        .get(header::CONTENT_ENCODING)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                    let kind = classify(&path, &query, Some(&body), gzip);
                    let response = run_backend(state, peer, &parts, remote_user, body).await;
                    (kind, response)
                }
                Err(error) => (
                    classify(&path, &query, None, false),
                    plain(
                        StatusCode::BAD_REQUEST,
                        format!("reading the body: {error}"),
                    ),
                ),
            }
        }
    };
    state.requests.lock().push(RequestRecord {
        method,
        path,
        query,
        kind,
        status: response.status().as_u16(),
    });
    response
}

/// Checks credentials: `Ok(Some(user))` names the `REMOTE_USER`; `Err(scheme)` means the
/// request must be refused with a challenge for `scheme`.
fn authorize(auth: &Auth, headers: &http::HeaderMap) -> Result<Option<String>, &'static str> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match auth {
        Auth::None => Ok(None),
        Auth::Basic { user, pass } => {
            let accepted = presented
                .and_then(|v| strip_scheme(v, "Basic"))
                .and_then(|encoded| {
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .ok()
                })
                .is_some_and(|decoded| decoded == format!("{user}:{pass}").as_bytes());
            if accepted {
                Ok(Some(user.clone()))
            } else {
                Err("Basic")
            }
        }
        Auth::Bearer(token) => {
            let accepted = presented
                .and_then(|v| strip_scheme(v, "Bearer"))
                .is_some_and(|given| given.trim() == token);
            if accepted {
                Ok(Some("bearer".to_owned()))
            } else {
                Err("Bearer")
            }
        }
    }
}

/// A 401 with a `WWW-Authenticate` challenge for `scheme`.
fn unauthorized(scheme: &str) -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::UNAUTHORIZED, "authentication required\n");
    if let Ok(value) = HeaderValue::from_str(&format!("{scheme} realm=\"{REALM}\"")) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn classify(path: &str, query: &str, body: Option<&Bytes>, gzip: bool) -> GitRequestKind {
    if path.ends_with("/info/refs") && query.contains("service=") {
        GitRequestKind::InfoRefs
    } else if path.ends_with("/git-receive-pack") {
        GitRequestKind::Push
    } else if path.ends_with("/git-upload-pack") {
        let ls_refs = !gzip && body.is_some_and(|b| b.windows(15).any(|w| w == b"command=ls-refs"));
        if ls_refs {
            GitRequestKind::LsRefs
        } else {
            GitRequestKind::Fetch
        }
    } else {
        GitRequestKind::Other
    }
}

async fn run_backend(
    state: &State,
    peer: SocketAddr,
    parts: &http::request::Parts,
    remote_user: Option<String>,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let path = parts.uri.path();
    if path.split('/').any(|segment| segment == "..") {
        return plain(StatusCode::FORBIDDEN, "no `..` in paths\n");
    }
    let mut command = Command::new(&state.backend);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &state.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "ferry-integration-tests")
        // http-backend answers GET and POST; a HEAD is run as a GET (hyper drops the body).
        .env(
            "REQUEST_METHOD",
            if parts.method == Method::HEAD {
                "GET"
            } else {
                parts.method.as_str()
            },
        )
        .env("PATH_INFO", path)
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("REMOTE_ADDR", peer.ip().to_string())
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        command.env(
            "CONTENT_TYPE",
            String::from_utf8_lossy(content_type.as_bytes()).as_ref(),
        );
    }
    if let Some(user) = &remote_user {
        command.env("REMOTE_USER", user).env("AUTH_TYPE", "Basic");
    }
    // Every other request header goes in as HTTP_<NAME>, as CGI prescribes; this carries
    // Content-Encoding (gzip bodies are decoded by http-backend) and Git-Protocol (v2).
    for (name, value) in &parts.headers {
        if name == header::AUTHORIZATION
            || name == header::CONTENT_TYPE
            || name == header::CONTENT_LENGTH
        {
            continue;
        }
        let var = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        command.env(var, String::from_utf8_lossy(value.as_bytes()).as_ref());
    }
    match tokio::time::timeout(CGI_TIMEOUT, run_cgi(command, body)).await {
        Ok(Ok((stdout, stderr))) => {
            if !stderr.is_empty() {
                tracing::debug!(stderr = %String::from_utf8_lossy(&stderr), "git http-backend");
            }
            parse_cgi(&stdout).unwrap_or_else(|reason| {
                plain(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "{reason}; stderr: {}\n",
                        String::from_utf8_lossy(&stderr).trim()
                    ),
                )
            })
        }
        Ok(Err(error)) => plain(StatusCode::BAD_GATEWAY, format!("{error}\n")),
        Err(_) => plain(
            StatusCode::GATEWAY_TIMEOUT,
            format!("git http-backend took longer than {CGI_TIMEOUT:?}\n"),
        ),
    }
}

/// Runs the CGI program, feeding `body` to its stdin while reading stdout and stderr.
async fn run_cgi(mut command: Command, body: Bytes) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut child = command
        .spawn()
        .map_err(|e| HarnessError::io("starting git http-backend", e))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(HarnessError::Invalid(
            "git http-backend was spawned without pipes".into(),
        ));
    };
    let write = async move {
        // The backend may stop reading early (e.g. on an error); that is not our failure.
        let _ = stdin.write_all(&body).await;
        drop(stdin);
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (_, read_out, read_err) = tokio::join!(
        write,
        stdout.read_to_end(&mut out),
        stderr.read_to_end(&mut err)
    );
    read_out.map_err(|e| HarnessError::io("reading git http-backend output", e))?;
    read_err.map_err(|e| HarnessError::io("reading git http-backend errors", e))?;
    let status = child
        .wait()
        .await
        .map_err(|e| HarnessError::io("waiting for git http-backend", e))?;
    if out.is_empty() && !status.success() {
        return Err(HarnessError::CommandFailed {
            command: "git http-backend".into(),
            status: status.to_string(),
            stderr: String::from_utf8_lossy(&err).trim().to_owned(),
        });
    }
    Ok((out, err))
}

/// Turns CGI output (headers, blank line, body) into an HTTP response.
fn parse_cgi(output: &[u8]) -> std::result::Result<Response<Full<Bytes>>, String> {
    let (head_len, body_start) = find_header_end(output)
        .ok_or_else(|| "git http-backend wrote no header block".to_owned())?;
    let head = std::str::from_utf8(&output[..head_len])
        .map_err(|_| "git http-backend wrote non-UTF-8 headers".to_owned())?;
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad CGI header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| format!("bad CGI status {value:?}"))?;
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(&output[body_start..])))
        .map_err(|e| format!("bad CGI response: {e}"))
}

/// Finds the blank line ending the CGI headers: returns (header length, body start).
fn find_header_end(output: &[u8]) -> Option<(usize, usize)> {
    let crlf = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = output
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgi_status_and_headers() {
        let response =
            parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope").unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn cgi_without_status_is_ok() {
        let response = parse_cgi(b"Content-Type: x\n\nbody").unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn classifies_protocol_v2_ls_refs() {
        let body = Bytes::from_static(b"0014command=ls-refs\n0000");
        assert_eq!(
            classify("/r/git-upload-pack", "", Some(&body), false),
            GitRequestKind::LsRefs
        );
        let body = Bytes::from_static(b"0011command=fetch\n0000");
        assert_eq!(
            classify("/r/git-upload-pack", "", Some(&body), false),
            GitRequestKind::Fetch
        );
    }
}
