//! Flux's storage layout: `<kind>/<namespace>/<name>/<file>`, served under the same URL path.

/// Where an artifact lives, in Flux's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLocation {
    /// Relative storage path, e.g. `gitrepository/flux-system/app/<sha>.tar.gz`.
    pub path: String,
    /// The URL a consumer downloads it from.
    pub url: String,
}

/// The storage path of an artifact file of a source, as Flux lays it out.
pub fn artifact_path(kind: &str, namespace: &str, name: &str, file: &str) -> String {
    format!("{}/{namespace}/{name}/{file}", kind.to_ascii_lowercase())
}

/// The index key of a source: dots separate the parts so it is a valid NATS KV key.
pub fn source_key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{}.{namespace}.{name}", kind.to_ascii_lowercase())
}

impl ArtifactLocation {
    /// The location of `file` for a source, served from `base_url` (no trailing slash).
    pub fn new(base_url: &str, kind: &str, namespace: &str, name: &str, file: &str) -> Self {
        let path = artifact_path(kind, namespace, name, file);
        let url = format!("{}/{path}", base_url.trim_end_matches('/'));
        ArtifactLocation { path, url }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_follows_flux_layout() {
        let loc = ArtifactLocation::new(
            "http://source-controller.ferry-system.svc.cluster.local./",
            "GitRepository",
            "flux-system",
            "app",
            "abc.tar.gz",
        );
        assert_eq!(loc.path, "gitrepository/flux-system/app/abc.tar.gz");
        assert_eq!(
            loc.url,
            "http://source-controller.ferry-system.svc.cluster.local./gitrepository/flux-system/app/abc.tar.gz"
        );
    }
}
