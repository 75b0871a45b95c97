//! Tag scans and digest lookups through oci-client, with pagination, exclusions and timeouts.

use std::sync::Arc;
use std::time::Duration;

use oci_client::Client;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use regex::Regex;
use sha2::{Digest as _, Sha256};

use super::acr::AcrTokenProvider;
use super::error::RegistryError;
use super::image::ImageName;

/// Tags asked for per page (`n`). Registries may return fewer.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// A safety stop: more pages than this means the registry ignores `last`.
const MAX_PAGES: usize = 10_000;
/// How many tags `status.lastScanResult.latestTags` holds.
const LATEST_TAGS: usize = 10;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Plain HTTP instead of HTTPS (`spec.insecure`).
    pub insecure: bool,
    /// Bound on each whole operation (a scan with all its pages, a digest lookup).
    pub timeout: Duration,
    /// Extra CA certificates (PEM) to trust, from `certSecretRef`.
    pub ca_pem: Option<Vec<u8>>,
    /// Tags asked for per page.
    pub page_size: usize,
    /// The HTTP proxy (`proxySecretRef`) for every request.
    pub proxy: Option<super::Proxy>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            timeout: Duration::from_secs(60),
            ca_pem: None,
            page_size: DEFAULT_PAGE_SIZE,
            proxy: None,
        }
    }
}

/// Where the credentials for a registry come from.
#[derive(Clone, Debug, Default)]
pub enum RegistryAuthSource {
    /// No credentials (oci-client still answers anonymous bearer challenges).
    #[default]
    Anonymous,
    /// Fixed credentials, e.g. from a docker-config Secret. Basic credentials are also used
    /// for the bearer-token challenge when the registry asks for one.
    Static(RegistryAuth),
    /// `provider: azure`: an ACR access token from the AAD → ACR exchange, cached.
    Azure(Arc<AcrTokenProvider>),
}

impl RegistryAuthSource {
    /// The credentials to present for `image` now (for Azure, a cached or fresh token).
    pub async fn resolve(&self, image: &ImageName) -> Result<RegistryAuth, RegistryError> {
        Ok(match self {
            RegistryAuthSource::Anonymous => RegistryAuth::Anonymous,
            RegistryAuthSource::Static(auth) => auth.clone(),
            RegistryAuthSource::Azure(provider) => RegistryAuth::Bearer(
                provider
                    .access_token(image.registry(), image.repository())
                    .await?,
            ),
        })
    }
}

/// The outcome of scanning one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagScan {
    /// `registry/repository` (`status.canonicalImageName`).
    pub canonical_image_name: String,
    /// Tags left after exclusions, sorted ascending, without duplicates.
    pub tags: Vec<String>,
    /// Stable hash of the tag set (`status.lastScanResult.revision`): hex SHA-256 of the sorted
    /// tags, one per line.
    pub revision: String,
    /// The first 10 tags in descending alphabetical order (`latestTags`).
    pub latest_tags: Vec<String>,
    /// How many pages the registry returned.
    pub pages: usize,
}

/// An oci-client for one registry configuration. Cheap to build; make one per scan so cached
/// bearer tokens never outlive their credentials.
pub struct RegistryClient {
    client: Client,
    options: ClientOptions,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure", &self.options.insecure)
            .field("timeout", &self.options.timeout)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds a client. Installs rustls' ring provider if none is installed yet.
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol: if options.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: options
                .ca_pem
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            connect_timeout: Some(options.timeout),
            read_timeout: Some(options.timeout),
            user_agent: concat!("ferry-image-scanner/", env!("CARGO_PKG_VERSION")),
            http_proxy: options.proxy.as_ref().map(|p| p.url().to_owned()),
            https_proxy: options.proxy.as_ref().map(|p| p.url().to_owned()),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config)
            .map_err(|e| RegistryError::Client(format!("building the HTTP client: {e}")))?;
        Ok(Self { client, options })
    }

    /// Every tag of `image`, paging with `n`/`last` until the registry returns an empty or
    /// repeated page (oci-client 0.18 does not expose the `Link` header, so an end is detected
    /// by asking once more), in the registry's order.
    pub async fn list_tags(
        &self,
        image: &ImageName,
        auth: &RegistryAuth,
    ) -> Result<(Vec<String>, usize), RegistryError> {
        let operation = "listing tags of";
        let fut = async {
            let reference = image.reference("latest");
            let page_size = self.options.page_size.max(1);
            let mut tags: Vec<String> = Vec::new();
            let mut last: Option<String> = None;
            let mut pages = 0;
            loop {
                let page = self
                    .client
                    .list_tags(&reference, auth, Some(page_size), last.as_deref())
                    .await
                    .map_err(|e| {
                        RegistryError::from_oci(operation, image.registry(), image.repository(), e)
                    })?;
                pages += 1;
                let Some(page_last) = page.tags.last().cloned() else {
                    break;
                };
                if last.as_deref() == Some(page_last.as_str()) || pages >= MAX_PAGES {
                    break;
                }
                // A short page is usually the end, but registries (ACR, Docker Hub) may cap
                // `n` below what we asked for: only an empty page ends the listing.
                tags.extend(page.tags);
                last = Some(page_last);
            }
            Ok((tags, pages))
        };
        self.bounded(operation, image, fut).await
    }

    /// The manifest digest (`sha256:…`) `tag` points at (HEAD, else GET and hash).
    pub async fn manifest_digest(
        &self,
        image: &ImageName,
        tag: &str,
        auth: &RegistryAuth,
    ) -> Result<String, RegistryError> {
        let operation = "resolving the digest of";
        let fut = async {
            self.client
                .fetch_manifest_digest(&image.reference(tag), auth)
                .await
                .map_err(|e| {
                    RegistryError::from_oci(operation, image.registry(), image.repository(), e)
                })
        };
        self.bounded(operation, image, fut).await
    }

    async fn bounded<T>(
        &self,
        operation: &'static str,
        image: &ImageName,
        fut: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        tokio::time::timeout(self.options.timeout, fut)
            .await
            .map_err(|_| RegistryError::Timeout {
                operation,
                registry: image.registry().to_owned(),
                repository: image.repository().to_owned(),
                timeout: self.options.timeout,
            })?
    }
}

/// Compiles `exclusionList` regexes (Go RE2 syntax is a subset of the `regex` crate's).
pub fn compile_exclusions(patterns: &[String]) -> Result<Vec<Regex>, RegistryError> {
    patterns
        .iter()
        .map(|pattern| {
            Regex::new(pattern).map_err(|e| RegistryError::InvalidExclusion {
                pattern: pattern.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Scans `image`: resolves credentials, lists every tag, drops tags matching any of
/// `exclusion_list` (Flux's default is `^.*\.sig$`), and summarises the result.
pub async fn scan_tags(
    image: &ImageName,
    auth: &RegistryAuthSource,
    exclusion_list: &[String],
    options: ClientOptions,
) -> Result<TagScan, RegistryError> {
    let exclusions = compile_exclusions(exclusion_list)?;
    let auth = auth.resolve(image).await?;
    let client = RegistryClient::new(options)?;
    let (tags, pages) = client.list_tags(image, &auth).await?;
    Ok(summarise(image, tags, &exclusions, pages))
}

fn summarise(image: &ImageName, tags: Vec<String>, exclusions: &[Regex], pages: usize) -> TagScan {
    let mut tags: Vec<String> = tags
        .into_iter()
        .filter(|tag| !exclusions.iter().any(|re| re.is_match(tag)))
        .collect();
    tags.sort();
    tags.dedup();
    let mut hasher = Sha256::new();
    for tag in &tags {
        hasher.update(tag.as_bytes());
        hasher.update(b"\n");
    }
    let latest_tags = tags.iter().rev().take(LATEST_TAGS).cloned().collect();
    TagScan {
        canonical_image_name: image.canonical(),
        revision: hex::encode(hasher.finalize()),
        latest_tags,
        tags,
        pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exclusion_drops_cosign_signature_tags_and_summary_is_sorted() {
        let image = ImageName::parse("ghcr.io/org/app").expect("valid");
        let exclusions = compile_exclusions(&["^.*\\.sig$".to_owned()]).expect("valid");
        let tags = ["v2", "sha256-abc.sig", "v1", "v10", "v1"]
            .map(str::to_owned)
            .to_vec();
        let scan = summarise(&image, tags, &exclusions, 1);
        assert_eq!(scan.tags, ["v1", "v10", "v2"]);
        assert_eq!(scan.latest_tags, ["v2", "v10", "v1"]);
        assert_eq!(scan.canonical_image_name, "ghcr.io/org/app");
        let again = summarise(&image, vec!["v10".into(), "v2".into(), "v1".into()], &[], 1);
        assert_eq!(scan.revision, again.revision, "revision ignores order");
    }

    #[test]
    fn invalid_exclusion_regex_is_named() {
        let err = compile_exclusions(&["(".to_owned()]).expect_err("invalid");
        assert!(err.to_string().contains("\"(\""), "{err}");
    }
}

/// Everything [`scan_tags`] needs for one ImageRepository.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The repository.
    pub image: ImageName,
    /// Where credentials come from.
    pub auth: RegistryAuthSource,
    /// Effective `exclusionList`.
    pub exclusion_list: Vec<String>,
    /// Client settings.
    pub options: ClientOptions,
}

impl ScanRequest {
    /// Maps an ImageRepository spec and the decoded `data` of its Secrets: `secretRef`
    /// (docker config) and `certSecretRef` (CA). `provider: azure` needs `azure`; `aws` and
    /// `gcp` are refused with a clear error.
    pub fn from_spec(
        spec: &flux_api::image::ImageRepositorySpec,
        docker_config: Option<&std::collections::BTreeMap<String, Vec<u8>>>,
        cert_secret: Option<&std::collections::BTreeMap<String, Vec<u8>>>,
        azure: Option<Arc<AcrTokenProvider>>,
    ) -> Result<Self, RegistryError> {
        use flux_api::source::OCIProvider;
        let image = ImageName::parse(&spec.image)?;
        let auth = match spec.provider() {
            OCIProvider::Azure => RegistryAuthSource::Azure(azure.ok_or_else(|| {
                RegistryError::Client(
                    "provider azure: no Azure identity is configured (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET)"
                        .into(),
                )
            })?),
            OCIProvider::Aws | OCIProvider::Gcp => {
                return Err(RegistryError::Client(format!(
                    "provider {:?} is not supported yet; use generic with a secretRef",
                    spec.provider()
                )));
            }
            OCIProvider::Generic => match docker_config {
                Some(data) => RegistryAuthSource::Static(super::auth_from_docker_config(
                    data,
                    image.registry(),
                )?),
                None => RegistryAuthSource::Anonymous,
            },
        };
        let ca_pem = cert_secret
            .map(super::tls_from_secret_data)
            .transpose()?
            .and_then(|tls| tls.ca_pem);
        Ok(Self {
            image,
            auth,
            exclusion_list: spec.exclusion_list(),
            options: ClientOptions {
                insecure: spec.insecure.unwrap_or(false),
                timeout: spec.timeout(),
                ca_pem,
                page_size: DEFAULT_PAGE_SIZE,
                proxy: None,
            },
        })
    }

    /// Adds the proxy from the decoded `data` of `proxySecretRef`, when there is one.
    pub fn with_proxy(
        mut self,
        proxy_secret: Option<&std::collections::BTreeMap<String, Vec<u8>>>,
    ) -> Result<Self, RegistryError> {
        if let Some(data) = proxy_secret {
            let proxy = super::Proxy::from_secret_data(data)
                .map_err(|e| RegistryError::Client(format!("proxySecretRef: {e}")))?;
            self.options.proxy = Some(proxy);
        }
        Ok(self)
    }

    /// Runs the scan.
    pub async fn scan(&self) -> Result<TagScan, RegistryError> {
        scan_tags(
            &self.image,
            &self.auth,
            &self.exclusion_list,
            self.options.clone(),
        )
        .await
    }
}

impl TagScan {
    /// `status.lastScanResult` for this scan, taken at `scan_time`.
    pub fn to_status(
        &self,
        scan_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    ) -> flux_api::image::ScanResult {
        flux_api::image::ScanResult {
            revision: Some(self.revision.clone()),
            tag_count: i64::try_from(self.tags.len()).unwrap_or(i64::MAX),
            scan_time: Some(scan_time),
            latest_tags: Some(self.latest_tags.clone()),
        }
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    fn spec(json: serde_json::Value) -> flux_api::image::ImageRepositorySpec {
        serde_json::from_value(json).expect("spec")
    }

    #[test]
    fn scan_request_maps_the_image_repository_spec() {
        let spec = spec(serde_json::json!({
            "image": "127.0.0.1:5000/app", "interval": "5m", "timeout": "30s", "insecure": true
        }));
        let docker = std::collections::BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            br#"{"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}}}"#.to_vec(),
        )]);
        let request = ScanRequest::from_spec(&spec, Some(&docker), None, None).expect("request");
        assert!(request.options.insecure);
        assert_eq!(request.options.timeout, Duration::from_secs(30));
        assert_eq!(request.exclusion_list, ["^.*\\.sig$"]);
        assert!(matches!(
            request.auth,
            RegistryAuthSource::Static(RegistryAuth::Basic(ref u, _)) if u == "u"
        ));
    }

    #[test]
    fn scan_request_refuses_unsupported_providers_and_azure_without_identity() {
        for provider in ["aws", "gcp", "azure"] {
            let spec = spec(serde_json::json!({
                "image": "x.azurecr.io/app", "interval": "5m", "provider": provider
            }));
            let err = ScanRequest::from_spec(&spec, None, None, None).expect_err(provider);
            assert!(err.to_string().contains("provider"), "{err}");
        }
    }
}
