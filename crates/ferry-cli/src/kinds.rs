//! The Flux kinds the CLI knows, with their API coordinates and flux-style names.

use kube::core::{ApiResource, GroupVersionKind};

/// One Flux kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `Kind`, e.g. `GitRepository`.
    pub kind: &'static str,
    /// API group.
    pub group: &'static str,
    /// Served version the CLI uses.
    pub version: &'static str,
    /// Resource (plural) name.
    pub plural: &'static str,
    /// How flux's CLI names it in messages, e.g. `source git`.
    pub noun: &'static str,
    /// Which Ferry service reconciles it (for hints).
    pub controller: &'static str,
}

impl Kind {
    /// The kube `ApiResource` for dynamic clients.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// The CRD name, `plural.group`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// `GitRepository`.
pub const GIT_REPOSITORY: Kind = Kind {
    kind: "GitRepository",
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    plural: "gitrepositories",
    noun: "source git",
    controller: "source-controller",
};
/// `OCIRepository`.
pub const OCI_REPOSITORY: Kind = Kind {
    kind: "OCIRepository",
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    plural: "ocirepositories",
    noun: "source oci",
    controller: "source-controller",
};
/// `Kustomization`.
pub const KUSTOMIZATION: Kind = Kind {
    kind: "Kustomization",
    group: "kustomize.toolkit.fluxcd.io",
    version: "v1",
    plural: "kustomizations",
    noun: "kustomization",
    controller: "applier",
};
/// `ImageRepository`.
pub const IMAGE_REPOSITORY: Kind = Kind {
    kind: "ImageRepository",
    group: "image.toolkit.fluxcd.io",
    version: "v1",
    plural: "imagerepositories",
    noun: "image repository",
    controller: "image-scanner",
};
/// `ImagePolicy`.
pub const IMAGE_POLICY: Kind = Kind {
    kind: "ImagePolicy",
    group: "image.toolkit.fluxcd.io",
    version: "v1",
    plural: "imagepolicies",
    noun: "image policy",
    controller: "image-scanner",
};
/// `ImageUpdateAutomation`.
pub const IMAGE_UPDATE: Kind = Kind {
    kind: "ImageUpdateAutomation",
    group: "image.toolkit.fluxcd.io",
    version: "v1",
    plural: "imageupdateautomations",
    noun: "image update",
    controller: "image-scanner",
};
/// `Receiver`.
pub const RECEIVER: Kind = Kind {
    kind: "Receiver",
    group: "notification.toolkit.fluxcd.io",
    version: "v1",
    plural: "receivers",
    noun: "receiver",
    controller: "source-controller",
};

/// Every kind, in `ferry check` order.
pub const ALL: [Kind; 7] = [
    GIT_REPOSITORY,
    OCI_REPOSITORY,
    KUSTOMIZATION,
    IMAGE_REPOSITORY,
    IMAGE_POLICY,
    IMAGE_UPDATE,
    RECEIVER,
];

/// Finds a kind by `Kind`, plural, singular or flux short name (case-insensitive).
pub fn lookup(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    let alias = match n.as_str() {
        "ks" | "kustomization" | "kustomizations" => Some(KUSTOMIZATION),
        "git" | "gitrepo" | "gitrepository" | "gitrepositories" | "source-git" => {
            Some(GIT_REPOSITORY)
        }
        "oci" | "ocirepository" | "ocirepositories" | "source-oci" => Some(OCI_REPOSITORY),
        "imagerepository" | "imagerepositories" | "image-repository" => Some(IMAGE_REPOSITORY),
        "imagepolicy" | "imagepolicies" | "image-policy" => Some(IMAGE_POLICY),
        "imageupdateautomation" | "imageupdateautomations" | "image-update" => Some(IMAGE_UPDATE),
        "receiver" | "receivers" => Some(RECEIVER),
        _ => None,
    };
    alias.or_else(|| ALL.into_iter().find(|k| k.kind.eq_ignore_ascii_case(&n)))
}

/// The names `lookup` accepts, for error messages.
pub const KNOWN: &str = "kustomization, gitrepository, ocirepository, imagerepository, \
                         imagepolicy, imageupdateautomation, receiver";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_flux_names() {
        assert_eq!(lookup("ks"), Some(KUSTOMIZATION));
        assert_eq!(lookup("GitRepository"), Some(GIT_REPOSITORY));
        assert_eq!(lookup("imagepolicies"), Some(IMAGE_POLICY));
        assert_eq!(lookup("helmrelease"), None);
        assert_eq!(
            KUSTOMIZATION.crd_name(),
            "kustomizations.kustomize.toolkit.fluxcd.io"
        );
    }
}
