//! Test cluster helper: the in-process API emulator, or the cluster named by `KUBECONFIG`.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use applier::apply::{Applier, ApplyOptions, Owner};
use applier::manifests::{self, Manifest};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_emulator::{Emulator, EmulatorConfig};

/// A cluster to test against; keeps the emulator alive while it is used.
pub struct Cluster {
    /// Client of the cluster.
    pub client: Client,
    /// Its configuration (for impersonation).
    pub config: kube::Config,
    _emulator: Option<Emulator>,
}

/// `KUBECONFIG` when set (a real cluster), else a fresh emulator.
pub async fn cluster() -> Cluster {
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        let config = kube::Config::infer()
            .await
            .expect("KUBECONFIG names a usable cluster");
        let client = Client::try_from(config.clone()).expect("client from KUBECONFIG");
        return Cluster {
            client,
            config,
            _emulator: None,
        };
    }
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let kubeconfig = Kubeconfig::from_yaml(&emulator.kubeconfig_yaml()).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config from the emulator's kubeconfig");
    let client = Client::try_from(config.clone()).expect("client for the emulator");
    Cluster {
        client,
        config,
        _emulator: Some(emulator),
    }
}

/// A name unique to this test run (tests share a real cluster).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{:x}{}",
        nanos % 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Parses YAML into manifests.
pub fn parse(yaml: &str) -> Vec<Manifest> {
    manifests::parse(yaml).expect("test manifests parse")
}

/// Apply options for a test owner with a 30 s deadline.
pub fn options(owner: &str, namespace: &str) -> ApplyOptions {
    ApplyOptions {
        owner: Owner {
            name: owner.into(),
            namespace: namespace.into(),
        },
        force: false,
        target_namespace: None,
        concurrency: 4,
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(30),
    }
}

/// Installs Flux's CRDs (Kustomization, GitRepository, ...) with the applier itself.
pub async fn install_flux_crds(client: &Client) {
    let objects: Vec<Manifest> = flux_api::crd::all_crds()
        .into_iter()
        .enumerate()
        .map(|(i, crd)| {
            let mut value = serde_json::to_value(&crd).expect("CRD serializes");
            if let Some(m) = value.as_object_mut() {
                m.insert("apiVersion".into(), "apiextensions.k8s.io/v1".into());
                m.insert("kind".into(), "CustomResourceDefinition".into());
            }
            Manifest::from_value(i, value).expect("CRD is a valid object")
        })
        .collect();
    Applier::new(client.clone())
        .apply_all(objects, &options("flux-crds", "flux-system"))
        .await
        .expect("Flux CRDs apply and become established");
}

/// A namespace manifest.
pub fn namespace_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// A ConfigMap manifest with one data key, and optional annotations (YAML map body lines).
pub fn configmap_yaml(ns: &str, name: &str, value: &str, annotations: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("\n  annotations:\n    {annotations}")
    };
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}{annotations}\ndata:\n  key: \"{value}\"\n"
    )
}

/// A Deployment manifest with a selector label value and optional annotations line.
pub fn deployment_yaml(ns: &str, name: &str, app: &str, annotations: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("\n  annotations:\n    {annotations}")
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}{annotations}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    )
}
