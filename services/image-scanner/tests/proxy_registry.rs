//! `proxySecretRef`: scans of the harness's real docker-registry go through a tiny forward
//! proxy (plain HTTP, absolute-form requests, Basic `Proxy-Authorization`) started by the test;
//! the proxy sees the requests and the credentials from the Secret, and wrong credentials fail,
//! in the library and through the service binary (ImageRepository `spec.proxySecretRef`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::service::RunningService;
use image_scanner::registry::{ClientOptions, ImageName, Proxy, RegistryAuthSource, scan_tags};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A forward proxy on a random loopback port; counts the requests it forwarded.
struct TestProxy {
    address: String,
    forwarded: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_proxy(user: &str, pass: &str) -> TestProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    );
    let forwarded = Arc::new(AtomicUsize::new(0));
    let counter = forwarded.clone();
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(forward(conn, expected.clone(), counter.clone()));
        }
    });
    TestProxy {
        address,
        forwarded,
        task,
    }
}

/// One request per connection: check the credentials, send it on with `Connection: close`,
/// copy the answer back.
async fn forward(conn: TcpStream, expected: String, forwarded: Arc<AtomicUsize>) {
    let mut client = BufReader::new(conn);
    let mut request_line = String::new();
    if client.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    let mut authorized = false;
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("proxy-authorization:") {
            authorized = value.trim() == expected.to_ascii_lowercase();
        } else if !lower.starts_with("connection:") {
            headers.push(line);
        }
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    if !authorized {
        let refusal = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = client.get_mut().write_all(refusal.as_bytes()).await;
        return;
    }
    let Some(rest) = target.strip_prefix("http://") else {
        return;
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut upstream) = TcpStream::connect(host).await else {
        return;
    };
    forwarded.fetch_add(1, Ordering::SeqCst);
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    head.extend(headers);
    head.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(head.as_bytes()).await.is_ok() {
        let _ = tokio::io::copy(&mut upstream, client.get_mut()).await;
    }
    let _ = client.get_mut().shutdown().await;
}

fn proxy_secret(address: &str, user: &str, pass: &str) -> Proxy {
    let data = BTreeMap::from([
        ("address".to_owned(), address.as_bytes().to_vec()),
        ("username".to_owned(), user.as_bytes().to_vec()),
        ("password".to_owned(), pass.as_bytes().to_vec()),
    ]);
    Proxy::from_secret_data(&data).expect("proxy secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_go_through_the_secret_proxy_with_its_credentials_and_wrong_ones_fail() {
    let registry = Registry::start().await.expect("registry");
    for tag in ["1.0.0", "1.1.0"] {
        push_image(&registry, "team/app", tag).await.expect("push");
    }
    let proxy = start_proxy("bot", "p@ss:word").await;
    let image = ImageName::parse(&format!("{}/team/app", registry.host())).expect("image");
    let options = |proxy: Proxy| ClientOptions {
        insecure: true,
        proxy: Some(proxy),
        ..ClientOptions::default()
    };

    let scan = scan_tags(
        &image,
        &RegistryAuthSource::Anonymous,
        &[],
        options(proxy_secret(&proxy.address, "bot", "p@ss:word")),
    )
    .await
    .expect("scan through the proxy");
    assert_eq!(scan.tags, ["1.0.0", "1.1.0"]);
    let through = proxy.forwarded.load(Ordering::SeqCst);
    assert!(through > 0, "the registry was reached through the proxy");

    let err = scan_tags(
        &image,
        &RegistryAuthSource::Anonymous,
        &[],
        options(proxy_secret(&proxy.address, "bot", "nope-77")),
    )
    .await
    .expect_err("the proxy refuses wrong credentials");
    assert!(!format!("{err} {err:?}").contains("nope-77"), "{err}");
    assert_eq!(
        proxy.forwarded.load(Ordering::SeqCst),
        through,
        "nothing forwarded"
    );
}

/// Polls ImageRepository `name` until its Ready condition has `status`; returns the object.
async fn wait_ready(
    kube: &KubeTarget,
    scanner: &RunningService,
    name: &str,
    status: &str,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let out = kube
            .kubectl(&["get", "imagerepository", name, "-n", "apps", "-o", "json"])
            .await
            .expect("kubectl get");
        let obj: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let ready = obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned());
        if ready.is_some_and(|c| c["status"] == status) {
            return obj;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never Ready={status}: {}\n--- logs ---\n{}",
            obj["status"],
            scanner.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_scans_through_the_proxy_of_proxy_secret_ref() {
    let nats = NatsServer::start().await.expect("nats-server");
    let kube = KubeTarget::start().await.expect("Kubernetes API");
    let crds = ferry_integration_tests::cluster::workspace_root().join("deploy/crds");
    kube.kubectl(&["apply", "--server-side", "-k", &crds.display().to_string()])
        .await
        .expect("CRDs");
    kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/imagerepositories.image.toolkit.fluxcd.io",
    ])
    .await
    .expect("CRDs established");
    kube.kubectl(&["create", "namespace", "apps"])
        .await
        .expect("namespace");
    let scanner = RunningService::start("image-scanner", &nats.url(), kube.kubeconfig()).await;
    scanner.wait_ready(Duration::from_secs(90)).await;
    let registry = Registry::start().await.expect("registry");
    push_image(&registry, "team/app", "1.0.0")
        .await
        .expect("push");
    let proxy = start_proxy("bot", "p@ss:word").await;
    let image = format!("{}/team/app", registry.host());
    let mut items = Vec::new();
    for (name, pass) in [("good", "p@ss:word"), ("bad", "nope-77")] {
        items.push(serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("proxy-{name}"), "namespace": "apps"},
            "stringData": {"address": proxy.address, "username": "bot", "password": pass}}));
        items.push(
            serde_json::json!({"apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository", "metadata": {"name": name, "namespace": "apps"},
            "spec": {"image": image, "interval": "10m", "insecure": true,
                "proxySecretRef": {"name": format!("proxy-{name}")}}}),
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("list.json");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&path, list.to_string()).expect("write");
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await
        .expect("apply");

    let good = wait_ready(&kube, &scanner, "good", "True").await;
    assert_eq!(good["status"]["lastScanResult"]["tagCount"], 1);
    assert!(proxy.forwarded.load(Ordering::SeqCst) > 0);
    let bad = wait_ready(&kube, &scanner, "bad", "False").await;
    assert!(
        !bad["status"].to_string().contains("nope-77"),
        "{}",
        bad["status"]
    );
    assert!(
        !scanner.logs().contains("nope-77"),
        "no password in the logs"
    );
}
