//! The generic bearer-token challenge against the real registry (`docker-registry` configured
//! for token auth): the registry answers 401 with `WWW-Authenticate: Bearer realm=…`, the
//! scanner fetches a token from the realm with its basic credentials, and the registry verifies
//! the token's signature against its root certificate. The token server here is the test's own:
//! it signs RS256 JWTs with a key made by `openssl`, with the certificate in `x5c`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use ferry_integration_tests::ports::{free_port, loopback};
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::wait::{STARTUP_TIMEOUT, wait_for_tcp};
use image_scanner::registry::{ClientOptions, ImageName, RegistryAuthSource, scan_tags};
use oci_client::secrets::RegistryAuth;
use parking_lot::Mutex;

const SERVICE: &str = "ferry-registry";
const ISSUER: &str = "ferry-test-issuer";
const USER: &str = "scanner";
const PASS: &str = "token-s3cret";

struct TokenServer {
    key: PathBuf,
    cert_der_b64: String,
    scopes: Mutex<Vec<String>>,
}

fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs (Debian package openssl)");
    assert!(status.success(), "openssl {args:?}");
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

async fn sign(key: &Path, signing_input: &str) -> Vec<u8> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(signing_input.as_bytes())
        .await
        .expect("write");
    drop(stdin);
    let output = child.wait_with_output().await.expect("signature");
    assert!(output.status.success());
    output.stdout
}

/// `GET /token?service=…&scope=…` with basic auth → `{"token": <RS256 JWT>}`.
async fn token(
    State(server): State<Arc<TokenServer>>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    );
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if presented != Some(expected.as_str())
        || query.get("service").map(String::as_str) != Some(SERVICE)
    {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    let scope = query.get("scope").cloned().unwrap_or_default();
    server.scopes.lock().push(scope.clone());
    // `repository:<name>:<actions>`; grant pull only.
    let mut parts = scope.splitn(3, ':');
    let (kind, name) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let now = chrono::Utc::now().timestamp();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [server.cert_der_b64]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("jti-{now}"),
        "access": [{"type": kind, "name": name, "actions": ["pull"]}],
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = sign(&server.key, &signing_input).await;
    let jwt = format!("{signing_input}.{}", b64url(&signature));
    axum::Json(serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300}))
        .into_response()
}

#[tokio::test]
async fn bearer_challenge_gets_a_token_from_the_realm_and_the_real_registry_accepts_it() {
    // Images go in through an open registry; a second registry process with token auth serves
    // the same storage.
    let open = Registry::start().await.expect("docker-registry starts");
    push_image(&open, "secure/app", "1.0.0")
        .await
        .expect("push");
    push_image(&open, "secure/app", "1.1.0")
        .await
        .expect("push");

    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let der = dir.path().join("cert.der");
    let (key_s, cert_s, der_s) = (
        key.to_string_lossy().into_owned(),
        cert.to_string_lossy().into_owned(),
        der.to_string_lossy().into_owned(),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key_s,
        "-out",
        &cert_s,
        "-days",
        "1",
        "-subj",
        "/CN=ferry-token-issuer",
    ]);
    openssl(&["x509", "-in", &cert_s, "-outform", "DER", "-out", &der_s]);
    let server = Arc::new(TokenServer {
        key,
        cert_der_b64: base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(&der).expect("der")),
        scopes: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let realm = format!("http://{}/token", listener.local_addr().expect("addr"));
    let app = Router::new()
        .route("/token", get(token))
        .with_state(Arc::clone(&server));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let port = free_port().expect("port");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: \"{}\"\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: ferry-token-test\n\
             auth:\n  token:\n    realm: \"{realm}\"\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: \"{cert_s}\"\n",
            open.storage_root().display()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
    let mut secured = tokio::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("docker-registry");
    wait_for_tcp(loopback(port), STARTUP_TIMEOUT)
        .await
        .expect("token-auth registry listens");

    let image = ImageName::parse(&format!("127.0.0.1:{port}/secure/app")).expect("image");
    let options = ClientOptions {
        insecure: true,
        timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    let auth = RegistryAuthSource::Static(RegistryAuth::Basic(USER.into(), PASS.into()));
    let scan = scan_tags(&image, &auth, &[], options.clone()).await;
    let log_text = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
    let scan = scan.unwrap_or_else(|e| panic!("scan: {e}\nregistry log:\n{log_text}"));
    assert_eq!(scan.tags, ["1.0.0", "1.1.0"]);
    assert_eq!(
        server.scopes.lock().first().map(String::as_str),
        Some("repository:secure/app:pull")
    );

    let anonymous = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options.clone())
        .await
        .expect_err("the realm refuses anonymous token requests");
    assert_eq!(anonymous.reason(), "AuthenticationFailed", "{anonymous}");
    let wrong = RegistryAuthSource::Static(RegistryAuth::Basic(USER.into(), "nope".into()));
    let err = scan_tags(&image, &wrong, &[], options)
        .await
        .expect_err("wrong password");
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
    let _ = secured.kill().await;
}
