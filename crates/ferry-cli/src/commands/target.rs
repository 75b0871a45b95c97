//! The `KIND NAME` part shared by `reconcile`, `suspend` and `resume`, spelled like flux's CLI.

use clap::{Args, Subcommand};

use crate::kinds::{self, Kind};

/// Which object.
#[derive(Debug, Clone, Subcommand)]
pub enum Target {
    /// A source (`source git NAME`, `source oci NAME`).
    #[command(subcommand)]
    Source(SourceTarget),
    /// A Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization(KsArgs),
    /// An image automation object (`image repository NAME`, `image update NAME`).
    #[command(subcommand)]
    Image(ImageTarget),
    /// A Receiver.
    Receiver(NameArg),
}

/// Source kinds.
#[derive(Debug, Clone, Subcommand)]
pub enum SourceTarget {
    /// A GitRepository.
    Git(NameArg),
    /// An OCIRepository.
    Oci(NameArg),
}

/// Image kinds.
#[derive(Debug, Clone, Subcommand)]
pub enum ImageTarget {
    /// An ImageRepository.
    Repository(NameArg),
    /// An ImagePolicy.
    Policy(NameArg),
    /// An ImageUpdateAutomation.
    Update(NameArg),
}

/// The object's name.
#[derive(Debug, Clone, Args)]
pub struct NameArg {
    /// The object's name.
    pub name: String,
}

/// A Kustomization's name and whether to reconcile its source first.
#[derive(Debug, Clone, Args)]
pub struct KsArgs {
    /// The Kustomization's name.
    pub name: String,
    /// Reconcile the Kustomization's source first (reconcile and resume only).
    #[arg(long)]
    pub with_source: bool,
}

impl Target {
    /// The kind, the name and `--with-source`.
    pub fn resolve(&self) -> (Kind, &str, bool) {
        match self {
            Target::Source(SourceTarget::Git(n)) => (kinds::GIT_REPOSITORY, &n.name, false),
            Target::Source(SourceTarget::Oci(n)) => (kinds::OCI_REPOSITORY, &n.name, false),
            Target::Kustomization(k) => (kinds::KUSTOMIZATION, &k.name, k.with_source),
            Target::Image(ImageTarget::Repository(n)) => (kinds::IMAGE_REPOSITORY, &n.name, false),
            Target::Image(ImageTarget::Policy(n)) => (kinds::IMAGE_POLICY, &n.name, false),
            Target::Image(ImageTarget::Update(n)) => (kinds::IMAGE_UPDATE, &n.name, false),
            Target::Receiver(n) => (kinds::RECEIVER, &n.name, false),
        }
    }
}
