//! The render pipeline: artifact → unpack (cached) → generate and wrap with the CR's fields →
//! kustomize build (no load restriction, bounded by the artifact root) → post-build
//! substitution → common metadata → store, with the render cache in front.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_artifact::Digest;
use ferry_kustomize::fs::{EntryKind, Fs, join};
use ferry_kustomize::{DiskFs, LoadRestrictor, Options};
use flux_api::conditions::reasons;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::cache::{
    ArtifactCache, ArtifactError, ArtifactSource, Reach, RenderInputs, RenderStore, ReuseRecord,
    StoreError, StoredRender, content_digest, reach, render_key, reuse_key,
};
use crate::flux::generate::{self, GenerateError};
use crate::flux::spec::RenderSpec;
use crate::flux::substitute::{self, SourceStyles, SubstituteError, SubstituteOptions};
use crate::fs::OverlayFs;

/// One built object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltObject {
    /// The object.
    pub object: Value,
    /// The root-relative file it was read from, when it came from a file (not a generator).
    pub origin: Option<String>,
}

/// Runs `kustomize build`; a seam so tests can count or fake builds.
pub trait Builder: Send + Sync {
    /// Builds the kustomization in `dir` (root-relative) of `fs` into its objects.
    fn build(&self, fs: &dyn Fs, dir: &str) -> Result<Vec<BuiltObject>, ferry_kustomize::Error>;
}

/// The real builder: `ferry-kustomize` with `LoadRestrictionsNone`, as Flux builds (the
/// file system itself stops reads outside the artifact root).
#[derive(Debug, Clone)]
pub struct KustomizeBuilder {
    /// Build options (load restrictor and safety limits).
    pub options: Options,
}

impl Default for KustomizeBuilder {
    fn default() -> Self {
        Self {
            options: Options {
                load_restrictor: LoadRestrictor::None,
                limits: ferry_kustomize::Limits::default(),
            },
        }
    }
}

impl Builder for KustomizeBuilder {
    fn build(&self, fs: &dyn Fs, dir: &str) -> Result<Vec<BuiltObject>, ferry_kustomize::Error> {
        let resmap = ferry_kustomize::build_resmap(fs, dir, &self.options)?;
        Ok(resmap
            .resources
            .into_iter()
            .map(|r| BuiltObject {
                origin: r
                    .origin
                    .as_deref()
                    .and_then(|o| o.lines().find_map(|l| l.strip_prefix("path: ")))
                    .and_then(|p| join(dir, p.trim()).ok()),
                object: r.obj,
            })
            .collect())
    }
}

/// Why a render failed. [`RenderError::reason`] gives the Flux reason it is reported under.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The artifact could not be fetched or unpacked.
    #[error("{0}")]
    Artifact(#[from] ArtifactError),
    /// `spec.path` does not exist in the artifact or leaves it.
    #[error("kustomization path not found: {0}")]
    PathNotFound(String),
    /// The Kustomization's spec could not be read.
    #[error("invalid Kustomization spec: {0}")]
    InvalidSpec(String),
    /// Generating or wrapping the kustomization file failed.
    #[error("{0}")]
    Generate(#[from] GenerateError),
    /// `kustomize build` failed (the message names the file and field).
    #[error("kustomize build failed: {0}")]
    Build(#[from] ferry_kustomize::Error),
    /// The spec asks for something this renderer does not do (named in the message).
    #[error("{0}")]
    Unsupported(String),
    /// A built object lacks apiVersion, kind or name.
    #[error("failed to decode Kubernetes apiVersion, kind and name from: {0}")]
    InvalidObject(String),
    /// Post-build substitution failed.
    #[error("{0}")]
    Substitute(#[from] SubstituteError),
    /// The render store failed (worth retrying).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A render task failed unexpectedly (worth retrying).
    #[error("render task: {0}")]
    Internal(String),
}

impl RenderError {
    /// The Flux reason: `ArtifactFailed` for artifact and path problems, `BuildFailed` for
    /// build, generation and substitution problems, `ReconciliationFailed` otherwise.
    pub fn reason(&self) -> &'static str {
        match self {
            RenderError::Artifact(_) | RenderError::PathNotFound(_) => reasons::ARTIFACT_FAILED,
            RenderError::InvalidSpec(_)
            | RenderError::Generate(_)
            | RenderError::Build(_)
            | RenderError::InvalidObject(_)
            | RenderError::Unsupported(_)
            | RenderError::Substitute(_) => reasons::BUILD_FAILED,
            RenderError::Store(_) | RenderError::Internal(_) => reasons::RECONCILIATION_FAILED,
        }
    }

    /// Whether trying again later may succeed without any change to the inputs.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RenderError::Store(_)
                | RenderError::Internal(_)
                | RenderError::Artifact(ArtifactError::Store { .. } | ArtifactError::Io(_))
        )
    }
}

/// What changed since the previous artifact (from `ArtifactReady`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// The revision the new artifact replaces.
    pub previous_revision: String,
    /// Paths that differ between the two revisions.
    pub changed_paths: Vec<String>,
    /// The diff is unknown: treat everything as changed.
    pub all_paths_changed: bool,
}

/// One render to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRequest {
    /// The Kustomization's identity (`<namespace>/<name>`), for path-aware reuse.
    pub kustomization: String,
    /// `sha256:<hex>` of the artifact.
    pub artifact_digest: String,
    /// The artifact's revision.
    pub source_revision: String,
    /// The render-relevant spec.
    pub spec: RenderSpec,
    /// Resolved post-build variables (`substituteFrom` and `substitute` merged).
    pub substitutions: BTreeMap<String, String>,
    /// What changed since the previous artifact, when known.
    pub change: Option<ChangeSet>,
}

/// How the render was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Built now.
    Miss,
    /// The same inputs were rendered before.
    Hit,
    /// No file the Kustomization reads changed since its previous render, which is reused.
    Reused,
}

/// A finished render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Object-store key of the render.
    pub render_key: String,
    /// `sha256:<hex>` of the manifests.
    pub render_digest: String,
    /// Number of objects.
    pub object_count: i64,
    /// The revision rendered (the request's).
    pub source_revision: String,
    /// The artifact rendered (the request's).
    pub artifact_digest: String,
    /// Built, hit or reused.
    pub cache: CacheOutcome,
    /// The multi-document YAML.
    pub manifests: Vec<u8>,
}

/// Tuning of a [`Renderer`].
#[derive(Debug, Clone)]
pub struct RendererConfig {
    /// Flux's `StrictPostBuildSubstitutions` feature gate.
    pub strict_substitutions: bool,
    /// Safety limits for files read while generating and substituting.
    pub limits: ferry_kustomize::Limits,
    /// Builds running at once (each takes a core).
    pub max_concurrent_builds: usize,
}

impl Default for RendererConfig {
    fn default() -> Self {
        Self {
            strict_substitutions: false,
            limits: ferry_kustomize::Limits::default(),
            max_concurrent_builds: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
        }
    }
}

/// Renders Kustomizations, with the render cache in front.
pub struct Renderer {
    builder: Arc<dyn Builder>,
    artifacts: Arc<ArtifactCache>,
    source: ArtifactSource,
    store: RenderStore,
    config: RendererConfig,
    builds: Semaphore,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("artifacts", &self.artifacts)
            .field("source", &self.source)
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer reading artifacts from `source` through `artifacts`, storing into `store`.
    pub fn new(
        builder: Arc<dyn Builder>,
        artifacts: Arc<ArtifactCache>,
        source: ArtifactSource,
        store: RenderStore,
        config: RendererConfig,
    ) -> Self {
        let builds = Semaphore::new(config.max_concurrent_builds.max(1));
        Self {
            builder,
            artifacts,
            source,
            store,
            config,
            builds,
        }
    }

    /// The render store.
    pub fn store(&self) -> &RenderStore {
        &self.store
    }

    /// The unpacked-artifact cache.
    pub fn artifacts(&self) -> &ArtifactCache {
        &self.artifacts
    }

    fn inputs<'a>(&'a self, req: &'a RenderRequest) -> RenderInputs<'a> {
        RenderInputs {
            spec: &req.spec,
            substitutions: &req.substitutions,
            strict: self.config.strict_substitutions,
        }
    }

    /// The key `req`'s render is (or would be) stored under.
    pub fn key_for(&self, req: &RenderRequest) -> String {
        render_key(&req.artifact_digest, &self.inputs(req))
    }

    /// Renders `req`: from the cache when the same inputs were rendered, reusing the
    /// previous render when no reachable file changed, otherwise by building.
    pub async fn render(&self, req: &RenderRequest) -> Result<Rendered, RenderError> {
        self.render_with(req, true).await
    }

    /// Like [`Renderer::render`] for callers that only need the render stored: on a cache
    /// hit or reuse the content is not read back (`manifests` is empty then).
    pub async fn render_stored(&self, req: &RenderRequest) -> Result<Rendered, RenderError> {
        self.render_with(req, false).await
    }

    async fn lookup(&self, key: &str, content: bool) -> Result<Option<StoredRender>, StoreError> {
        if content {
            self.store.get(key).await
        } else {
            self.store.info(key).await
        }
    }

    async fn render_with(
        &self,
        req: &RenderRequest,
        content: bool,
    ) -> Result<Rendered, RenderError> {
        let digest: Digest = req
            .artifact_digest
            .parse()
            .map_err(|_| ArtifactError::InvalidDigest(req.artifact_digest.clone()))?;
        let key = self.key_for(req);
        let reuse = reuse_key(&req.kustomization, &self.inputs(req));
        if let Some(stored) = self.lookup(&key, content).await? {
            let record = self.store.reuse_record(&reuse).await.ok().flatten();
            self.remember(&reuse, req, &key, record.as_ref()).await;
            return Ok(self.finish(key, stored, req, CacheOutcome::Hit));
        }
        let record = self.store.reuse_record(&reuse).await?;
        if let Some(record) = &record
            && let Some(found) = self
                .try_reuse(&reuse, record, &digest, req, content)
                .await?
        {
            return Ok(found);
        }
        let unpacked = self.artifacts.get(&digest, &self.source).await?;
        let root = unpacked.root().to_path_buf();
        let (manifests, count) = {
            let _permit = self
                .builds
                .acquire()
                .await
                .map_err(|e| RenderError::Internal(e.to_string()))?;
            let builder = self.builder.clone();
            let spec = req.spec.clone();
            let vars = req.substitutions.clone();
            let options = SubstituteOptions {
                strict: self.config.strict_substitutions,
                always: spec.substitute_always(),
            };
            let limits = self.config.limits.clone();
            tokio::task::spawn_blocking(move || {
                let result = build_tree(&*builder, root, &spec, &vars, options, &limits);
                drop(unpacked);
                result
            })
            .await
            .map_err(|e| RenderError::Internal(e.to_string()))??
        };
        let stored = StoredRender {
            render_digest: content_digest(&manifests),
            object_count: count,
            source_revision: req.source_revision.clone(),
            artifact_digest: req.artifact_digest.clone(),
            manifests,
        };
        self.store.put(&key, &stored).await?;
        self.remember(&reuse, req, &key, record.as_ref()).await;
        Ok(self.finish(key, stored, req, CacheOutcome::Miss))
    }

    fn finish(
        &self,
        key: String,
        stored: StoredRender,
        req: &RenderRequest,
        cache: CacheOutcome,
    ) -> Rendered {
        Rendered {
            render_key: key,
            render_digest: stored.render_digest,
            object_count: stored.object_count,
            source_revision: req.source_revision.clone(),
            artifact_digest: req.artifact_digest.clone(),
            cache,
            manifests: stored.manifests,
        }
    }

    /// Records the render of these inputs for later path-aware reuse; failures only cost
    /// a future reuse, so they are logged. Requests without a revision (on-demand builds of
    /// a bare digest) leave the record alone; `existing` (the record read earlier) spares a
    /// write that would change nothing.
    async fn remember(
        &self,
        reuse: &str,
        req: &RenderRequest,
        key: &str,
        existing: Option<&ReuseRecord>,
    ) {
        if req.source_revision.is_empty() {
            return;
        }
        let record = ReuseRecord {
            source_revision: req.source_revision.clone(),
            artifact_digest: req.artifact_digest.clone(),
            render_key: key.to_string(),
        };
        if existing == Some(&record) {
            return;
        }
        if let Err(e) = self.store.put_reuse_record(reuse, &record).await {
            tracing::warn!(error = %e, "Could not record the render for path-aware reuse.");
        }
    }

    async fn try_reuse(
        &self,
        reuse: &str,
        record: &ReuseRecord,
        digest: &Digest,
        req: &RenderRequest,
        content: bool,
    ) -> Result<Option<Rendered>, RenderError> {
        let same_artifact = record.artifact_digest == req.artifact_digest;
        if !same_artifact {
            let Some(change) = &req.change else {
                return Ok(None);
            };
            if change.all_paths_changed
                || change.previous_revision.is_empty()
                || change.previous_revision != record.source_revision
                || record.source_revision == req.source_revision
            {
                return Ok(None);
            }
            let unpacked = self.artifacts.get(digest, &self.source).await?;
            let root = unpacked.root().to_path_buf();
            let spec = req.spec.clone();
            let changed = change.changed_paths.clone();
            let verdict = tokio::task::spawn_blocking(move || {
                let verdict = reach::check(&root, &spec, &changed);
                drop(unpacked);
                verdict
            })
            .await
            .map_err(|e| RenderError::Internal(e.to_string()))?;
            if let Reach::Affected(why) = verdict {
                tracing::debug!(reason = %why, "Path-aware reuse not possible.");
                return Ok(None);
            }
        }
        let Some(stored) = self.lookup(&record.render_key, content).await? else {
            return Ok(None);
        };
        self.remember(reuse, req, &record.render_key, Some(record))
            .await;
        let outcome = if same_artifact {
            CacheOutcome::Hit
        } else {
            CacheOutcome::Reused
        };
        Ok(Some(self.finish(
            record.render_key.clone(),
            stored,
            req,
            outcome,
        )))
    }
}

/// The synchronous part of a render, over the unpacked tree at `root`: returns the
/// multi-document YAML and its object count.
pub fn build_tree(
    builder: &dyn Builder,
    root: PathBuf,
    spec: &RenderSpec,
    vars: &BTreeMap<String, String>,
    options: SubstituteOptions,
    limits: &ferry_kustomize::Limits,
) -> Result<(Vec<u8>, i64), RenderError> {
    let base: Arc<dyn Fs> = Arc::new(DiskFs::new(&root)?);
    let path = spec.normalized_path();
    let dir = join("", &path).map_err(|_| RenderError::PathNotFound(path.clone()))?;
    if base.kind(&dir) != Some(EntryKind::Dir) {
        return Err(RenderError::PathNotFound(format!(
            "'{}' is not a directory in the artifact",
            if path.is_empty() { "." } else { &path }
        )));
    }
    let generated = generate::generate(&*base, &dir, spec, limits)?;
    let mut overlay = OverlayFs::new(base.clone());
    overlay.insert(generated.path.clone(), generated.content.into_bytes());
    let built = builder.build(&overlay, &dir)?;
    let (mut objects, origins): (Vec<Value>, Vec<Option<String>>) =
        built.into_iter().map(|b| (b.object, b.origin)).unzip();
    for obj in &objects {
        let has = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !(has("/apiVersion") && has("/kind") && has("/metadata/name")) {
            return Err(RenderError::InvalidObject(
                ferry_kustomize::output::to_yaml(obj).trim_end().to_string(),
            ));
        }
    }
    if spec.has_post_build() {
        let mut all_vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.replace('\n', "")))
            .collect();
        all_vars.extend(substitute::load_variables(
            &[],
            spec.inline_substitutions(),
        )?);
        if !all_vars.is_empty() || options.always {
            let styles = source_styles(&overlay, spec, limits);
            for (obj, origin) in objects.iter_mut().zip(&origins) {
                let quoted = styles.quoted_for(origin.as_deref());
                if let Some(new) = substitute::substitute_object(obj, &all_vars, options, &quoted)?
                {
                    *obj = new;
                }
            }
        }
    }
    generate::apply_common_metadata(&mut objects, spec);
    let yaml = ferry_kustomize::output::to_yaml_stream(objects.iter());
    Ok((yaml.into_bytes(), objects.len() as i64))
}

/// The scalar styles of every file the build read, and of the CR's inline patches.
fn source_styles(
    overlay: &OverlayFs,
    spec: &RenderSpec,
    limits: &ferry_kustomize::Limits,
) -> SourceStyles {
    let mut styles = SourceStyles::new();
    let mut reads = overlay.reads();
    reads.sort();
    reads.dedup();
    for path in reads {
        if let Ok(bytes) = overlay.read(&path, limits.max_file_bytes)
            && let Ok(text) = std::str::from_utf8(&bytes)
        {
            styles.scan_file(&path, text);
        }
    }
    for patch in spec.patches.iter().flatten() {
        styles.scan_text(&patch.patch);
    }
    styles
}
