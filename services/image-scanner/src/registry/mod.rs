//! Registry access with oci-client: tag scans, digests, and the credentials each provider needs.

mod acr;
mod credentials;
mod error;
mod image;
mod proxy;
mod scan;

pub use acr::{
    AcrTokenProvider, AzureCredential, AzureError, AzureSettings, DEFAULT_AUTHORITY_HOST,
    RequestCounts,
};
pub use credentials::{
    CredentialsError, TlsSettings, auth_from_docker_config, tls_from_secret_data,
};
pub use error::RegistryError;
pub use image::ImageName;
pub use proxy::{Proxy, ProxyError};
pub use scan::{
    ClientOptions, DEFAULT_PAGE_SIZE, RegistryAuthSource, RegistryClient, ScanRequest, TagScan,
    compile_exclusions, scan_tags,
};
