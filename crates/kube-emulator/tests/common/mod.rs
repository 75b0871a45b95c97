//! Shared helpers for the emulator's integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kube_emulator::{Emulator, EmulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An emulator plus a temp dir with a kubeconfig and a kubectl cache dir.
pub struct Cluster {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// The kubectl binary the helpers run (`/usr/bin/kubectl` unless [`Cluster::start_old`]).
    pub kubectl_bin: PathBuf,
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(EmulatorConfig::default()).await
    }

    pub async fn start_with(config: EmulatorConfig) -> Self {
        let emu = Emulator::start(config).await.expect("emulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        emu.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Self {
            emu,
            dir,
            kubeconfig,
            kubectl_bin: PathBuf::from("/usr/bin/kubectl"),
        }
    }

    /// An emulator driven by kubectl 1.20 (see [`old_kubectl`]).
    pub async fn start_old() -> Self {
        let mut c = Self::start().await;
        c.kubectl_bin = old_kubectl();
        c
    }

    /// Runs kubectl (blocking, on a blocking thread) with optional stdin.
    pub async fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.kubectl_bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("kubectl spawns");
            if let Some(input) = input {
                let mut s = child.stdin.take().expect("stdin");
                s.write_all(input.as_bytes()).expect("write stdin");
            }
            child.wait_with_output().expect("kubectl runs")
        })
        .await
        .expect("join")
    }

    pub async fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_in(args, None).await
    }

    /// Runs kubectl and asserts success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_ok(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply --server-side -f -` with a manifest.
    pub async fn apply(&self, manifest: &str, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "--server-side", "-f", "-"];
        args.extend_from_slice(extra);
        self.kubectl_in(&args, Some(manifest)).await
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.emu.kubeconfig_yaml())
            .expect("kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(config).expect("client")
    }

    /// Sends a raw HTTP/1.1 request; returns (status, body).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        raw_http(self.emu.addr(), method, path, content_type, body).await
    }
}

/// kubectl 1.20 (Debian's kubernetes-client, which reads `/openapi/v2`): `$KUBECTL_1_20`, else
/// `target/tools/kubectl-1.20/usr/bin/kubectl`, fetched by `scripts/ensure-old-kubectl.sh` when
/// missing. Panics with the command to run when it cannot be had: the test must not pass
/// without the old client.
pub fn old_kubectl() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL_1_20") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("tools/kubectl-1.20/usr/bin/kubectl");
    if bin.exists() {
        return bin;
    }
    let script = root.join("scripts/ensure-old-kubectl.sh");
    let fetched = Command::new(&script)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        fetched && bin.exists(),
        "kubectl 1.20 is missing: run `{}` (as root, needs apt-get) or set KUBECTL_1_20",
        script.display()
    );
    bin
}

pub fn assert_ok(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "kubectl {:?} failed: stdout={} stderr={}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn raw_http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer before reading an oversized body; ignore write errors.
    let _ = s.write_all(body).await;
    let mut buf = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Polls `f` until it returns true or the timeout passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: default
data:
  greeting: hello
";

pub const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

pub const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.ferry.dev
spec:
  group: example.ferry.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
              color: {type: string}
              tags:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  properties:
                    name: {type: string}
                    value: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
";

/// GET with an Accept header; returns (status, content type, body bytes).
pub async fn raw_get_accept(
    addr: std::net::SocketAddr,
    path: &str,
    accept: &str,
) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    let mut buf = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let ct = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, ct, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}
