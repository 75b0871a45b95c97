//! The Kubernetes API a test talks to: the cluster in `KUBECONFIG` when it is set, otherwise
//! an in-process [`kube_emulator::Emulator`] on a random loopback port.

use crate::error::{HarnessError, Result};
use kube_emulator::{Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};

/// A Kubernetes API for one test, with a kubeconfig file that points at it.
pub struct KubeTarget {
    emulator: Option<Emulator>,
    kubeconfig: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl KubeTarget {
    /// `KUBECONFIG` when set (a real cluster), otherwise a fresh emulator.
    pub async fn start() -> Result<Self> {
        match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(path) => Ok(Self::cluster(PathBuf::from(path))),
            None => Self::emulator(EmulatorConfig::default()).await,
        }
    }

    /// Always an emulator (for tests of emulator-only behaviour, like fault injection).
    pub async fn emulator(config: EmulatorConfig) -> Result<Self> {
        let emulator = Emulator::start(config).await.map_err(|e| {
            HarnessError::Invalid(format!("starting the Kubernetes API emulator: {e}"))
        })?;
        let dir =
            tempfile::tempdir().map_err(|e| HarnessError::io("creating a kubeconfig dir", e))?;
        let kubeconfig = dir.path().join("kubeconfig");
        emulator
            .write_kubeconfig(&kubeconfig)
            .map_err(|e| HarnessError::Invalid(format!("writing the emulator kubeconfig: {e}")))?;
        Ok(KubeTarget {
            emulator: Some(emulator),
            kubeconfig,
            _dir: Some(dir),
        })
    }

    /// An API server that is already running (a real cluster, or a `kube-emulator` process the
    /// caller started), reached through `kubeconfig`.
    pub fn external(kubeconfig: PathBuf) -> Self {
        Self::cluster(kubeconfig)
    }

    fn cluster(kubeconfig: PathBuf) -> Self {
        KubeTarget {
            emulator: None,
            kubeconfig,
            _dir: None,
        }
    }

    /// The kubeconfig file to hand to `kubectl` and to service processes.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The emulator, when this target is one.
    pub fn as_emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// A kube-rs client for the target.
    pub async fn client(&self) -> Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(|e| {
            HarnessError::Invalid(format!("reading {}: {e}", self.kubeconfig.display()))
        })?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| {
                HarnessError::Invalid(format!("kubeconfig {}: {e}", self.kubeconfig.display()))
            })?;
        kube::Client::try_from(config)
            .map_err(|e| HarnessError::Invalid(format!("building a Kubernetes client: {e}")))
    }

    /// Runs `kubectl --kubeconfig <this> ARGS...` and returns stdout; fails with stderr.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        let kubectl = crate::error::require_binary("kubectl", "kubectl")?;
        let out = tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .await
            .map_err(|e| HarnessError::io("running kubectl", e))?;
        if !out.status.success() {
            return Err(HarnessError::CommandFailed {
                command: format!("kubectl {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Installs Ferry's CRDs (`kubectl apply --server-side -k deploy/crds`) and waits until
    /// every one is Established.
    pub async fn install_crds(&self) -> Result<()> {
        let crds = workspace_root().join("deploy/crds");
        let path = crds.display().to_string();
        self.kubectl(&["apply", "--server-side", "-k", &path])
            .await?;
        let mut wait = vec!["wait", "--for=condition=Established", "--timeout=30s"];
        wait.extend(FERRY_CRDS);
        self.kubectl(&wait).await?;
        Ok(())
    }
}

/// Every CRD in `deploy/crds`, as `kubectl wait` names them.
pub const FERRY_CRDS: [&str; 7] = [
    "crd/gitrepositories.source.toolkit.fluxcd.io",
    "crd/ocirepositories.source.toolkit.fluxcd.io",
    "crd/kustomizations.kustomize.toolkit.fluxcd.io",
    "crd/receivers.notification.toolkit.fluxcd.io",
    "crd/imagerepositories.image.toolkit.fluxcd.io",
    "crd/imagepolicies.image.toolkit.fluxcd.io",
    "crd/imageupdateautomations.image.toolkit.fluxcd.io",
];

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
