//! The renderer's command-line settings and the wiring from them to a ready [`Renderer`].

use std::path::PathBuf;
use std::sync::Arc;

use async_nats::jetstream;
use ferry_artifact::UnpackLimits;
use ferry_bus::HandlerConfig;
use ferry_bus::topology::{ARTIFACT_INDEX_BUCKET, ARTIFACTS_STORE, JOURNEYS_BUCKET, RENDERS_STORE};

use crate::cache::{ArtifactCache, ArtifactError, ArtifactSource, RenderStore};
use crate::grpc::RenderGrpc;
use crate::render::{KustomizeBuilder, Renderer, RendererConfig};
use crate::worker::WorkerContext;

/// Flux's feature gate that makes undefined post-build variables an error.
pub const STRICT_SUBSTITUTIONS_GATE: &str = "StrictPostBuildSubstitutions";

/// The renderer's settings (flatten into the binary's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Local directory for unpacked artifacts (`<dir>/artifacts/<hex>/`).
    #[arg(
        long = "cache-dir",
        env = "FERRY_CACHE_DIR",
        default_value = "/tmp/ferry-renderer-cache"
    )]
    pub cache_dir: PathBuf,
    /// Most bytes of unpacked artifacts kept on disk; least recently used go first.
    #[arg(long, env = "FERRY_CACHE_MAX_BYTES", default_value_t = 2 << 30)]
    pub cache_max_bytes: u64,
    /// Render requests handled at once.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Flux-style feature gates, e.g. `StrictPostBuildSubstitutions=true`.
    #[arg(long, env = "FERRY_FEATURE_GATES", default_value = "")]
    pub feature_gates: String,
    /// Most files in one artifact.
    #[arg(long, env = "FERRY_MAX_FILES", default_value_t = 100_000)]
    pub max_files: usize,
    /// Most bytes of file content in one artifact.
    #[arg(long, env = "FERRY_MAX_BYTES", default_value_t = 512 << 20)]
    pub max_bytes: u64,
}

impl RenderArgs {
    /// Whether `StrictPostBuildSubstitutions` is switched on in `--feature-gates`.
    pub fn strict_substitutions(&self) -> bool {
        feature_enabled(&self.feature_gates, STRICT_SUBSTITUTIONS_GATE)
    }

    /// The unpack limits these settings give.
    pub fn unpack_limits(&self) -> UnpackLimits {
        UnpackLimits {
            max_entries: self.max_files,
            max_total_bytes: self.max_bytes,
            ..UnpackLimits::default()
        }
    }
}

/// Whether `gate` is on in a `Name=true,Other=false` list (a bare `Name` means true).
pub fn feature_enabled(gates: &str, gate: &str) -> bool {
    gates
        .split(',')
        .filter_map(|g| {
            let g = g.trim();
            match g.split_once('=') {
                Some((name, value)) => Some((name.trim(), value.trim())),
                None if !g.is_empty() => Some((g, "true")),
                None => None,
            }
        })
        .rfind(|(name, _)| *name == gate)
        .is_some_and(|(_, value)| value.eq_ignore_ascii_case("true"))
}

/// Why the renderer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// An object store or KV bucket of the topology is missing.
    #[error("opening {bucket}: {message}")]
    Bucket {
        /// The bucket.
        bucket: &'static str,
        /// The underlying error.
        message: String,
    },
    /// The local cache directory is unusable.
    #[error(transparent)]
    Cache(#[from] ArtifactError),
}

/// What a service needs to run: the NATS worker's context and the gRPC service.
#[derive(Debug)]
pub struct Service {
    /// For [`crate::worker::run`].
    pub worker: Arc<WorkerContext>,
    /// For the gRPC server.
    pub grpc: RenderGrpc,
}

/// Opens the object stores and the artifact index (declared by the bus topology), the
/// local artifact cache, and builds the renderer, its worker context and its gRPC service.
pub async fn setup(js: &jetstream::Context, args: &RenderArgs) -> Result<Service, SetupError> {
    let bucket_err = |bucket: &'static str| {
        move |e: &dyn std::fmt::Display| SetupError::Bucket {
            bucket,
            message: e.to_string(),
        }
    };
    let artifacts = js
        .get_object_store(ARTIFACTS_STORE)
        .await
        .map_err(|e| bucket_err(ARTIFACTS_STORE)(&e))?;
    let renders = js
        .get_object_store(RENDERS_STORE)
        .await
        .map_err(|e| bucket_err(RENDERS_STORE)(&e))?;
    let index = js
        .get_key_value(ARTIFACT_INDEX_BUCKET)
        .await
        .map_err(|e| bucket_err(ARTIFACT_INDEX_BUCKET)(&e))?;
    let journeys = js
        .get_key_value(JOURNEYS_BUCKET)
        .await
        .map_err(|e| bucket_err(JOURNEYS_BUCKET)(&e))?;
    // Adopting an earlier process's unpacked artifacts walks their trees: off the runtime.
    let (dir, max, limits) = (
        args.cache_dir.clone(),
        args.cache_max_bytes,
        args.unpack_limits(),
    );
    let cache = tokio::task::spawn_blocking(move || ArtifactCache::open(&dir, max, limits))
        .await
        .map_err(|e| ArtifactError::Io(format!("opening the artifact cache: {e}")))??;
    let concurrency = usize::try_from(args.concurrency).unwrap_or(4);
    let renderer = Arc::new(Renderer::new(
        Arc::new(KustomizeBuilder::default()),
        Arc::new(cache),
        ArtifactSource::Nats(Box::new(artifacts)),
        RenderStore::Nats(Box::new(renders)),
        RendererConfig {
            strict_substitutions: args.strict_substitutions(),
            ..RendererConfig::default()
        },
    ));
    Ok(Service {
        worker: Arc::new(WorkerContext {
            renderer: renderer.clone(),
            handler: HandlerConfig {
                concurrency,
                ..HandlerConfig::default()
            },
            journeys,
        }),
        grpc: RenderGrpc::new(renderer).with_artifact_index(index),
    })
}
