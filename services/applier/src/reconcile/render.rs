//! Where the rendered manifests of a Kustomization come from: the [`RenderSource`] trait, the
//! NATS object store `ferry-renders` indexed by `RenderReady` events, and an in-memory source.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::object_store::ObjectStore;
use ferry_proto::events::v1::{RenderFailed, RenderReady};
use flux_api::kustomize::Kustomization;
use kube::ResourceExt;
use tokio::io::AsyncReadExt;
use tokio::sync::RwLock;

/// A render of one Kustomization at one source revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The source revision it was built from (Flux format, e.g. `main@sha1:<hex>`).
    pub revision: String,
    /// Multi-document YAML.
    pub manifests: String,
}

/// Why no render could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// No render exists yet (the source has no artifact, or the renderer has not finished).
    #[error("{0}")]
    NotReady(String),
    /// Reading the render failed.
    #[error("{0}")]
    Artifact(String),
    /// The renderer could not build the Kustomization.
    #[error("{0}")]
    Build(String),
}

/// Gives the current render of a Kustomization.
pub trait RenderSource: Send + Sync {
    /// The render for the Kustomization's source at its current revision.
    fn render(
        &self,
        ks: &Kustomization,
    ) -> impl Future<Output = Result<Rendered, RenderError>> + Send;

    /// The source revision a failed render was attempted at, when known (status
    /// `lastAttemptedRevision` after a build failure, as Flux writes it).
    fn failed_revision(&self, _ks: &Kustomization) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }
}

type Key = (String, String);

fn key_of(ks: &Kustomization) -> Key {
    (ks.namespace().unwrap_or_default(), ks.name_any())
}

/// Renders given directly (tools, tests, a CLI `apply` of local files).
#[derive(Clone, Default)]
pub struct MemoryRenders {
    renders: Arc<RwLock<HashMap<Key, Result<Rendered, RenderError>>>>,
}

impl MemoryRenders {
    /// Sets the render (or the failure) of the Kustomization `namespace/name`.
    pub async fn set(&self, namespace: &str, name: &str, render: Result<Rendered, RenderError>) {
        self.renders
            .write()
            .await
            .insert((namespace.to_owned(), name.to_owned()), render);
    }
}

impl RenderSource for MemoryRenders {
    async fn render(&self, ks: &Kustomization) -> Result<Rendered, RenderError> {
        let key = key_of(ks);
        match self.renders.read().await.get(&key) {
            Some(r) => r.clone(),
            None => Err(RenderError::NotReady(format!(
                "no render for Kustomization {}/{} yet",
                key.0, key.1
            ))),
        }
    }
}

/// Where the latest render of each Kustomization is, as announced by the renderer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Latest {
    Ready {
        revision: String,
        key: String,
    },
    Failed {
        revision: String,
        reason: String,
        message: String,
    },
}

/// Renders in the NATS object store `ferry-renders`, found through the `RenderReady` (and
/// `RenderFailed`) events the service feeds to [`ObjectStoreRenders::record_ready`].
#[derive(Clone)]
pub struct ObjectStoreRenders {
    store: ObjectStore,
    latest: Arc<RwLock<HashMap<Key, Latest>>>,
    /// The last render read per Kustomization, by object-store key: interval and drift
    /// reconciles of an unchanged render read no object again.
    fetched: Arc<RwLock<HashMap<Key, (String, String)>>>,
}

impl ObjectStoreRenders {
    /// A source reading from `store` (the bus topology's `ferry-renders`).
    pub fn new(store: ObjectStore) -> Self {
        Self {
            store,
            latest: Arc::default(),
            fetched: Arc::default(),
        }
    }

    /// Records a render announced by the renderer.
    pub async fn record_ready(&self, event: &RenderReady) {
        if let Some(ks) = &event.kustomization {
            self.latest.write().await.insert(
                (ks.namespace.clone(), ks.name.clone()),
                Latest::Ready {
                    revision: event.source_revision.clone(),
                    key: event.render_key.clone(),
                },
            );
        }
    }

    /// Records a build failure announced by the renderer.
    pub async fn record_failed(&self, event: &RenderFailed) {
        if let Some(ks) = &event.kustomization {
            self.latest.write().await.insert(
                (ks.namespace.clone(), ks.name.clone()),
                Latest::Failed {
                    revision: event.source_revision.clone(),
                    reason: event.reason.clone(),
                    message: event.message.clone(),
                },
            );
        }
    }
}

impl ObjectStoreRenders {
    /// The source revision of the render recorded for `namespace/name`, when one is ready.
    pub async fn ready_revision(&self, namespace: &str, name: &str) -> Option<String> {
        match self
            .latest
            .read()
            .await
            .get(&(namespace.to_owned(), name.to_owned()))
        {
            Some(Latest::Ready { revision, .. }) => Some(revision.clone()),
            _ => None,
        }
    }

    /// Moves the ready render of `namespace/name` from revision `from` to `to` without a new
    /// render: the change between them touched nothing the Kustomization reads. Returns false
    /// (and changes nothing) when the recorded render is not a ready one at `from`.
    pub async fn advance(&self, namespace: &str, name: &str, from: &str, to: &str) -> bool {
        let mut latest = self.latest.write().await;
        match latest.get_mut(&(namespace.to_owned(), name.to_owned())) {
            Some(Latest::Ready { revision, .. }) if revision == from => {
                *revision = to.to_owned();
                true
            }
            _ => false,
        }
    }
}

impl RenderSource for ObjectStoreRenders {
    async fn failed_revision(&self, ks: &Kustomization) -> Option<String> {
        match self.latest.read().await.get(&key_of(ks)) {
            Some(Latest::Failed { revision, .. }) if !revision.is_empty() => Some(revision.clone()),
            _ => None,
        }
    }

    async fn render(&self, ks: &Kustomization) -> Result<Rendered, RenderError> {
        let key = key_of(ks);
        let latest = self.latest.read().await.get(&key).cloned();
        let (revision, object) = match latest {
            None => {
                return Err(RenderError::NotReady(format!(
                    "no render for Kustomization {}/{} yet: waiting for the renderer",
                    key.0, key.1
                )));
            }
            Some(Latest::Failed {
                reason, message, ..
            }) => {
                return Err(if reason == flux_api::conditions::reasons::BUILD_FAILED {
                    RenderError::Build(message)
                } else {
                    RenderError::Artifact(message)
                });
            }
            Some(Latest::Ready { revision, key }) => (revision, key),
        };
        if let Some((fetched, manifests)) = self.fetched.read().await.get(&key)
            && *fetched == object
        {
            return Ok(Rendered {
                revision,
                manifests: manifests.clone(),
            });
        }
        let mut reader = self.store.get(object.as_str()).await.map_err(|e| {
            RenderError::Artifact(format!(
                "reading render {object} from the object store: {e}"
            ))
        })?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.map_err(|e| {
            RenderError::Artifact(format!(
                "reading render {object} from the object store: {e}"
            ))
        })?;
        let manifests = String::from_utf8(bytes)
            .map_err(|e| RenderError::Build(format!("render {object} is not UTF-8: {e}")))?;
        self.fetched
            .write()
            .await
            .insert(key, (object, manifests.clone()));
        Ok(Rendered {
            revision,
            manifests,
        })
    }
}
