//! `provider: azure` against a local fake of Entra ID and ACR's documented OAuth endpoints
//! (`/oauth2/exchange`, `/oauth2/token`) plus a tags endpoint that demands the issued token,
//! and `n`/`last` paging against a fake that honours it (the test registry, distribution 2.8,
//! does not). No real ACR is reachable here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use image_scanner::registry::{
    AcrTokenProvider, AzureSettings, ClientOptions, ImageName, RegistryAuthSource, scan_tags,
};
use parking_lot::Mutex;

const TENANT: &str = "tenant-1";
const CLIENT_ID: &str = "client-1";
const CLIENT_SECRET: &str = "client-s3cret";
const FEDERATED_TOKEN: &str = "federated-sa-token";
const ENTRA_TOKEN: &str = "entra-access-token";
const ACR_TAGS: &[&str] = &["1.0.0", "1.1.0", "2.0.0-rc.1", "sha256-abc.sig"];
const PAGED_TAGS: &[&str] = &["t1", "t2", "t3", "t4", "t5"];

#[derive(Default)]
struct Fake {
    /// The registry host the fake answers for (`127.0.0.1:<port>`), the `service` it expects.
    host: String,
    refresh_token: String,
    access_token: String,
    forms: Vec<(&'static str, HashMap<String, String>)>,
    /// Answer the next `/oauth2/token` with 401, as ACR does for a revoked refresh token.
    reject_next_token: bool,
    paging: Vec<HashMap<String, String>>,
}

type Shared = Arc<Mutex<Fake>>;

fn jwt(claims: serde_json::Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.fake-signature",
        engine.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        engine.encode(claims.to_string())
    )
}

fn oauth_error(error: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"error": error, "error_description": "rejected by the fake"})),
    )
        .into_response()
}

async fn entra_token(
    State(fake): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.lock().forms.push(("entra", form.clone()));
    let field = |k: &str| form.get(k).map(String::as_str);
    let credential_ok = field("client_secret") == Some(CLIENT_SECRET)
        || (field("client_assertion_type")
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && field("client_assertion") == Some(FEDERATED_TOKEN));
    if tenant != TENANT
        || field("client_id") != Some(CLIENT_ID)
        || field("grant_type") != Some("client_credentials")
        || field("scope") != Some("https://containerregistry.azure.net/.default")
        || !credential_ok
    {
        return oauth_error("invalid_client");
    }
    Json(serde_json::json!({"access_token": ENTRA_TOKEN, "expires_in": 3600, "token_type": "Bearer"}))
        .into_response()
}

async fn exchange(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock();
    fake.forms.push(("exchange", form.clone()));
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") != Some("access_token")
        || field("service") != Some(fake.host.as_str())
        || field("tenant") != Some(TENANT)
        || field("access_token") != Some(ENTRA_TOKEN)
    {
        return oauth_error("invalid_request");
    }
    let exp = chrono::Utc::now().timestamp() + 3 * 3600;
    fake.refresh_token = jwt(serde_json::json!({"exp": exp, "grant_type": "refresh_token"}));
    Json(serde_json::json!({"refresh_token": fake.refresh_token})).into_response()
}

async fn token(State(fake): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut fake = fake.lock();
    fake.forms.push(("token", form.clone()));
    if std::mem::take(&mut fake.reject_next_token) {
        return oauth_error("invalid_grant");
    }
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") != Some("refresh_token")
        || field("service") != Some(fake.host.as_str())
        || field("scope") != Some("repository:team/app:pull")
        || field("refresh_token") != Some(fake.refresh_token.as_str())
    {
        return oauth_error("invalid_grant");
    }
    let exp = chrono::Utc::now().timestamp() + 3600;
    fake.access_token = jwt(serde_json::json!({"exp": exp, "access": [{"name": "team/app"}]}));
    Json(serde_json::json!({"access_token": fake.access_token})).into_response()
}

async fn acr_tags(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    let fake = fake.lock();
    let expected = format!("Bearer {}", fake.access_token);
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if fake.access_token.is_empty() || presented != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                axum::http::header::WWW_AUTHENTICATE,
                format!(
                    "Bearer realm=\"http://{}/oauth2/token\",service=\"{}\",scope=\"repository:team/app:pull\"",
                    fake.host, fake.host
                ),
            )],
            Json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})),
        )
            .into_response();
    }
    Json(serde_json::json!({"name": "team/app", "tags": ACR_TAGS})).into_response()
}

/// Honours `n` and `last` like distribution 3 and ACR.
async fn paged_tags(
    State(fake): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    fake.lock().paging.push(query.clone());
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(100);
    let tags: Vec<&str> = PAGED_TAGS
        .iter()
        .copied()
        .filter(|t| query.get("last").is_none_or(|last| *t > last.as_str()))
        .take(n)
        .collect();
    Json(serde_json::json!({"name": "paged", "tags": tags})).into_response()
}

async fn start_fake() -> (String, Shared) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    let fake: Shared = Arc::new(Mutex::new(Fake {
        host: host.clone(),
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(entra_token))
        .route("/oauth2/exchange", post(exchange))
        .route("/oauth2/token", post(token))
        .route("/v2/team/app/tags/list", get(acr_tags))
        .route("/v2/paged/tags/list", get(paged_tags))
        .with_state(Arc::clone(&fake));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (host, fake)
}

fn settings(host: &str, vars: &[(&str, String)]) -> AzureSettings {
    let vars: HashMap<&str, String> = vars.iter().cloned().collect();
    let mut settings = AzureSettings::from_lookup(|k| vars.get(k).cloned()).expect("settings");
    settings.registry_base_url = Some(format!("http://{host}"));
    settings.allow_any_registry_host = true;
    settings
}

fn options() -> ClientOptions {
    ClientOptions {
        insecure: true,
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn acr_client_credentials_are_exchanged_for_a_scoped_token_and_cached_until_expiry() {
    let (host, fake) = start_fake().await;
    let settings = settings(
        &host,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("AZURE_AUTHORITY_HOST", format!("http://{host}/")),
        ],
    );
    let provider = Arc::new(AcrTokenProvider::new(settings).expect("provider"));
    let image = ImageName::parse(&format!("{host}/team/app")).expect("image");
    let auth = RegistryAuthSource::Azure(Arc::clone(&provider));
    let exclusions = vec![r"^.*\.sig$".to_owned()];
    let first = scan_tags(&image, &auth, &exclusions, options())
        .await
        .expect("scan");
    assert_eq!(first.tags, ["1.0.0", "1.1.0", "2.0.0-rc.1"]);
    let second = scan_tags(&image, &auth, &exclusions, options())
        .await
        .expect("rescan");
    assert_eq!(second.tags, first.tags);

    let counts = provider.request_counts();
    assert_eq!(
        (counts.entra, counts.exchange, counts.token),
        (1, 1, 1),
        "tokens are cached"
    );
    let forms = fake.lock().forms.clone();
    let steps: Vec<_> = forms.iter().map(|(step, _)| *step).collect();
    assert_eq!(steps, ["entra", "exchange", "token"]);
    assert_eq!(forms[1].1["service"], host);
    assert_eq!(forms[1].1["tenant"], TENANT);
    assert_eq!(forms[2].1["scope"], "repository:team/app:pull");
    assert!(!format!("{provider:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn acr_refresh_token_rejected_at_the_token_endpoint_is_exchanged_again_once() {
    let (host, fake) = start_fake().await;
    fake.lock().reject_next_token = true;
    let settings = settings(
        &host,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("AZURE_AUTHORITY_HOST", format!("http://{host}/")),
        ],
    );
    let provider = Arc::new(AcrTokenProvider::new(settings).expect("provider"));
    let image = ImageName::parse(&format!("{host}/team/app")).expect("image");
    let auth = RegistryAuthSource::Azure(Arc::clone(&provider));
    let scan = scan_tags(&image, &auth, &[], options())
        .await
        .expect("scan");
    assert_eq!(scan.tags.len(), ACR_TAGS.len());
    let counts = provider.request_counts();
    assert_eq!((counts.entra, counts.exchange, counts.token), (2, 2, 2));
}

#[tokio::test]
async fn acr_workload_identity_sends_the_federated_token_file_as_client_assertion() {
    let (host, fake) = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, format!("{FEDERATED_TOKEN}\n")).expect("write token");
    let settings = settings(
        &host,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("AZURE_AUTHORITY_HOST", format!("http://{host}")),
        ],
    );
    let provider = Arc::new(AcrTokenProvider::new(settings).expect("provider"));
    let image = ImageName::parse(&format!("{host}/team/app")).expect("image");
    let scan = scan_tags(&image, &RegistryAuthSource::Azure(provider), &[], options())
        .await
        .expect("scan");
    assert_eq!(scan.tags.len(), ACR_TAGS.len());
    let forms = fake.lock().forms.clone();
    assert_eq!(forms[0].1.get("client_secret"), None);
    assert_eq!(forms[0].1["client_assertion"], FEDERATED_TOKEN);
}

#[tokio::test]
async fn acr_rejected_client_secret_fails_authentication_without_echoing_it() {
    let (host, _fake) = start_fake().await;
    let settings = settings(
        &host,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", "wrong-s3cret".into()),
            ("AZURE_AUTHORITY_HOST", format!("http://{host}/")),
        ],
    );
    let provider = Arc::new(AcrTokenProvider::new(settings).expect("provider"));
    let image = ImageName::parse(&format!("{host}/team/app")).expect("image");
    let err = scan_tags(&image, &RegistryAuthSource::Azure(provider), &[], options())
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("wrong-s3cret"), "{text}");
}

#[tokio::test]
async fn tag_listing_follows_n_and_last_across_pages() {
    let (host, fake) = start_fake().await;
    let image = ImageName::parse(&format!("{host}/paged")).expect("image");
    let options = ClientOptions {
        page_size: 2,
        ..options()
    };
    let scan = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options)
        .await
        .expect("scan");
    assert_eq!(scan.tags, PAGED_TAGS);
    assert_eq!(scan.pages, 4, "three pages of tags and an empty one");
    let lasts: Vec<Option<String>> = fake
        .lock()
        .paging
        .iter()
        .map(|q| q.get("last").cloned())
        .collect();
    assert_eq!(
        lasts,
        [
            None,
            Some("t2".into()),
            Some("t4".into()),
            Some("t5".into())
        ]
    );
}
