//! Image repository names as `spec.image` holds them, and their canonical form.

use oci_client::Reference;

use super::error::RegistryError;

/// A repository on a registry, e.g. `myacr.azurecr.io/team/app` (no tag, no digest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    registry: String,
    repository: String,
}

impl ImageName {
    /// Parses `spec.image`. Docker Hub short names are expanded (`alpine` is
    /// `docker.io/library/alpine`); a scheme, tag or digest is rejected.
    pub fn parse(image: &str) -> Result<Self, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidImage {
            image: image.to_owned(),
            reason: reason.to_owned(),
        };
        let image = image.trim();
        if image.is_empty() {
            return Err(invalid("empty image name"));
        }
        if image.contains("://") {
            return Err(invalid("image must be a repository name without a scheme"));
        }
        if image.contains('@') {
            return Err(invalid("image must not contain a digest"));
        }
        let last = image.rsplit('/').next().unwrap_or(image);
        if last.contains(':') {
            return Err(invalid("image must not contain a tag"));
        }
        let reference = Reference::try_from(image).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
        })
    }

    /// The registry host (with port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, Flux's `status.canonicalImageName`.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// An oci-client reference to `tag` in this repository.
    pub fn reference(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_owned(),
        )
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_short_names_are_canonicalised() {
        let name = ImageName::parse("alpine").expect("parses");
        assert_eq!(name.canonical(), "docker.io/library/alpine");
        let name = ImageName::parse("myacr.azurecr.io/team/app").expect("parses");
        assert_eq!(name.registry(), "myacr.azurecr.io");
        assert_eq!(name.repository(), "team/app");
        let name = ImageName::parse("127.0.0.1:5000/app").expect("a port is not a tag");
        assert_eq!(name.canonical(), "127.0.0.1:5000/app");
    }

    #[test]
    fn tags_digests_and_schemes_are_rejected_as_invalid_urls() {
        for bad in [
            "alpine:3",
            "https://ghcr.io/app",
            "ghcr.io/app@sha256:00",
            "",
            "UPPER/Case",
        ] {
            let err = ImageName::parse(bad).expect_err(bad);
            assert_eq!(err.reason(), "ImageURLInvalid", "{bad}");
        }
    }
}
