//! Debian's `docker-registry` (OCI distribution) on a random loopback port, and image helpers.

use crate::error::{HarnessError, Result, require_binary};
use crate::ports::{free_port, loopback};
use crate::process::ServerProcess;
use crate::wait::{STARTUP_TIMEOUT, wait_for_tcp_while};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// How many fresh ports to try when another process takes the chosen one first.
const ATTEMPTS: usize = 3;
/// Media type of the manifests [`push_image`] writes.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the image configs [`push_image`] writes.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of the (uncompressed tar) layers [`push_image`] writes.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// A `docker-registry` serving plain HTTP on 127.0.0.1 with storage (deletes enabled) in a
/// temporary directory, optionally behind htpasswd basic auth. Dropping it kills the registry
/// and removes the storage.
#[derive(Debug)]
pub struct Registry {
    // Field order matters: the process is killed before its directory is removed.
    process: ServerProcess,
    port: u16,
    credentials: Option<(String, String)>,
    dir: TempDir,
}

impl Registry {
    /// Starts a registry that anyone may push to and pull from.
    pub async fn start() -> Result<Self> {
        Self::start_inner(None).await
    }

    /// Starts a registry that requires HTTP basic auth as `user` with `pass` (htpasswd, bcrypt).
    pub async fn start_with_htpasswd(user: &str, pass: &str) -> Result<Self> {
        Self::start_inner(Some((user.to_owned(), pass.to_owned()))).await
    }

    async fn start_inner(credentials: Option<(String, String)>) -> Result<Self> {
        let binary = require_binary("docker-registry", "docker-registry")?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-registry-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the registry directory", e))?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)
            .map_err(|e| HarnessError::io(format!("creating {}", storage.display()), e))?;
        let auth_section = match &credentials {
            None => String::new(),
            Some((user, pass)) => {
                let htpasswd = dir.path().join("htpasswd");
                let line = htpasswd_line(user, pass).await?;
                std::fs::write(&htpasswd, format!("{line}\n"))
                    .map_err(|e| HarnessError::io(format!("writing {}", htpasswd.display()), e))?;
                format!(
                    "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                    yaml_string(&htpasswd.to_string_lossy())
                )
            }
        };
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let port = free_port()?;
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: ferry-integration-tests-{port}\n\
                 {auth_section}",
                yaml_string(&storage.to_string_lossy()),
            );
            let config_path = dir.path().join(format!("config-{attempt}.yml"));
            std::fs::write(&config_path, config)
                .map_err(|e| HarnessError::io(format!("writing {}", config_path.display()), e))?;
            let mut command = std::process::Command::new(&binary);
            command.arg("serve").arg(&config_path);
            let log = dir.path().join(format!("registry-{attempt}.log"));
            let mut process = ServerProcess::spawn("docker-registry", command, &log)?;
            match wait_for_tcp_while(loopback(port), STARTUP_TIMEOUT, || process.check_alive())
                .await
            {
                Ok(()) => {
                    return Ok(Self {
                        process,
                        port,
                        credentials,
                        dir,
                    });
                }
                Err(error @ HarnessError::ServerExited { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error
            .unwrap_or_else(|| HarnessError::Invalid("docker-registry never started".into())))
    }

    /// `127.0.0.1:<port>`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name and password the registry requires, if it requires any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, pass)| (user.as_str(), pass.as_str()))
    }

    /// oci-client credentials for this registry: basic auth if it has htpasswd, else anonymous.
    pub fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some((user, pass)) => RegistryAuth::Basic(user.clone(), pass.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// The directory the registry stores blobs and manifests in.
    pub fn storage_root(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// The tail of the registry's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The reference `127.0.0.1:<port>/<repo>:<tag>`.
    pub fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host(), repo.to_owned(), tag.to_owned())
    }
}

/// Installs rustls' ring crypto provider for the process, once; later calls do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An oci-client [`Client`] speaking plain HTTP, as a test registry needs.
pub fn oci_client() -> Client {
    install_crypto_provider();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
}

/// Pushes a small valid OCI image (config blob plus one tar layer holding one file whose
/// contents are derived from `repo:tag`, so each tag gets its own digest) to
/// `<registry>/<repo>:<tag>`, using the registry's credentials. Returns the manifest digest
/// (`sha256:…`).
pub async fn push_image(registry: &Registry, repo: &str, tag: &str) -> Result<String> {
    let contents = format!("ferry test image {repo}:{tag}\n");
    push_image_with_contents(registry, repo, tag, contents.as_bytes()).await
}

/// Like [`push_image`] with the given contents for the layer's one file, so equal contents give
/// equal digests across tags and repositories.
pub async fn push_image_with_contents(
    registry: &Registry,
    repo: &str,
    tag: &str,
    contents: &[u8],
) -> Result<String> {
    let reference = registry.reference(repo, tag);
    let client = oci_client();
    let auth = registry.auth();
    client
        .store_auth_if_needed(reference.resolve_registry(), &auth)
        .await;

    let layer = tar_with_one_file("ferry/contents.txt", contents)?;
    let layer_digest = sha256_digest(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "ferry-integration-tests" }],
    }))
    .map_err(|e| HarnessError::Invalid(format!("serialising an image config: {e}")))?;
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .map_err(|e| HarnessError::Invalid(format!("serialising an image manifest: {e}")))?;
    let manifest_digest = sha256_digest(&manifest);

    client.push_blob(&reference, layer, &layer_digest).await?;
    client.push_blob(&reference, config, &config_digest).await?;
    client
        .push_manifest_raw(
            &reference,
            manifest,
            http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
        )
        .await?;
    Ok(manifest_digest)
}

/// The tags of `<registry>/<repo>`, using the registry's credentials.
pub async fn list_tags(registry: &Registry, repo: &str) -> Result<Vec<String>> {
    list_tags_as(registry, repo, &registry.auth()).await
}

/// The tags of `<registry>/<repo>`, authenticating with `auth` (e.g. anonymously on a registry
/// that requires credentials, to see it refuse).
pub async fn list_tags_as(
    registry: &Registry,
    repo: &str,
    auth: &RegistryAuth,
) -> Result<Vec<String>> {
    let reference = registry.reference(repo, "latest");
    let client = oci_client();
    let response = client.list_tags(&reference, auth, None, None).await?;
    Ok(response.tags)
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// One bcrypt htpasswd line for `user`/`pass`, made by `htpasswd -Bbn`.
async fn htpasswd_line(user: &str, pass: &str) -> Result<String> {
    let htpasswd = require_binary("htpasswd", "apache2-utils")?;
    let output = tokio::process::Command::new(htpasswd)
        .args(["-Bbn", user, pass])
        .output()
        .await
        .map_err(|e| HarnessError::io("running htpasswd", e))?;
    if !output.status.success() {
        return Err(HarnessError::CommandFailed {
            command: "htpasswd -Bbn".into(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A double-quoted YAML scalar.
fn yaml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A POSIX ustar archive holding one regular file.
fn tar_with_one_file(name: &str, contents: &[u8]) -> Result<Vec<u8>> {
    const BLOCK: usize = 512;
    if name.len() > 99 {
        return Err(HarnessError::Invalid(format!(
            "tar entry name {name:?} is too long"
        )));
    }
    let mut header = [0u8; BLOCK];
    let mut put = |offset: usize, field: &[u8]| {
        header[offset..offset + field.len()].copy_from_slice(field);
    };
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", contents.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let padded = contents.len().div_ceil(BLOCK) * BLOCK;
    let mut archive = Vec::with_capacity(BLOCK + padded + 2 * BLOCK);
    archive.extend_from_slice(&header);
    archive.extend_from_slice(contents);
    archive.resize(BLOCK + padded + 2 * BLOCK, 0);
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_has_valid_checksum_and_size() {
        let tar = tar_with_one_file("a.txt", b"hello").unwrap();
        assert_eq!(tar.len(), 512 * 4);
        let mut header = tar[..512].to_vec();
        let stored = std::str::from_utf8(&header[148..154]).unwrap().to_owned();
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(&stored, 8).unwrap(), sum);
        assert_eq!(&tar[512..517], b"hello");
    }
}
