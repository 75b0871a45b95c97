//! The same flows through kubectl 1.32 (OpenAPI v3, aggregated discovery) and kubectl 1.20
//! (OpenAPI v2 protobuf, legacy discovery, client-side validation on): apply --server-side,
//! get (tables and YAML), explain, wait and delete, all without warnings.

mod common;

use common::{CONFIGMAP, CRD, Cluster, DEPLOYMENT, assert_ok};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs kubectl, asserts success and an empty stderr (no warnings), returns stdout.
async fn quiet(c: &Cluster, args: &[&str]) -> String {
    let out = c.kubectl(args).await;
    assert_ok(&out, args);
    assert!(
        stderr(&out).trim().is_empty(),
        "{args:?} warned: {}",
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn apply_quiet(c: &Cluster, manifest: &str) -> String {
    let out = c.apply(manifest, &[]).await;
    assert_ok(&out, &["apply --server-side"]);
    assert!(
        stderr(&out).trim().is_empty(),
        "apply warned: {}",
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn apply_get_wait_delete(c: &Cluster) {
    let out = apply_quiet(c, &format!("{CONFIGMAP}---\n{DEPLOYMENT}")).await;
    assert!(
        out.contains("configmap/app-config serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let waited = quiet(
        c,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=20s",
        ],
    )
    .await;
    assert!(
        waited.contains("deployment.apps/web condition met"),
        "{waited}"
    );
    let table = quiet(c, &["get", "deployments"]).await;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web") && l.contains("2/2")),
        "{table}"
    );
    let yaml = quiet(c, &["get", "configmap", "app-config", "-o", "yaml"]).await;
    assert!(yaml.contains("greeting: hello"), "{yaml}");
    // kubectl 1.21+ hides managedFields unless asked; both show the server-set metadata.
    assert!(yaml.contains("resourceVersion:"), "{yaml}");
    assert!(yaml.contains("creationTimestamp:"), "{yaml}");
    // A typo is refused by both: 1.20 validates against /openapi/v2 (`unknown field
    // "replica"`), 1.32 sends fieldValidation=Strict (`.spec.replica: field not declared`).
    let typo = DEPLOYMENT.replace("replicas: 2", "replica: 2");
    let out = c.apply(&typo, &[]).await;
    assert!(!out.status.success(), "typo accepted");
    let err = stderr(&out);
    assert!(
        err.contains("unknown field \"replica\"")
            || err.contains(".spec.replica: field not declared in schema"),
        "{err}"
    );
    let deleted = quiet(c, &["delete", "deployment", "web"]).await;
    assert!(
        deleted.contains("deployment.apps \"web\" deleted"),
        "{deleted}"
    );
    let gone = c.kubectl(&["get", "deployment", "web"]).await;
    assert!(stderr(&gone).contains("NotFound"), "{}", stderr(&gone));
}

async fn explain_builtin_and_crd_fields(c: &Cluster) {
    let strategy = quiet(c, &["explain", "deployment.spec.strategy"]).await;
    assert!(strategy.contains("rollingUpdate"), "{strategy}");
    assert!(
        strategy.contains("Rolling update config params"),
        "field docs missing: {strategy}"
    );
    let cm = quiet(c, &["explain", "configmap"]).await;
    assert!(
        cm.contains("ConfigMap holds configuration data for pods to consume"),
        "{cm}"
    );
    apply_quiet(c, CRD).await;
    quiet(
        c,
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.ferry.dev",
            "--timeout=10s",
        ],
    )
    .await;
    let widget = quiet(c, &["explain", "widget.spec"]).await;
    assert!(widget.contains("color"), "{widget}");
    assert!(widget.contains("size"), "{widget}");
}

async fn custom_resource_round_trip(c: &Cluster) {
    apply_quiet(c, CRD).await;
    quiet(
        c,
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.ferry.dev",
            "--timeout=10s",
        ],
    )
    .await;
    let widget = "apiVersion: example.ferry.dev/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {color: red, tags: [{name: a, value: b}]}
";
    let out = apply_quiet(c, widget).await;
    assert!(
        out.contains("widget.example.ferry.dev/w1 serverside-applied"),
        "{out}"
    );
    let size = quiet(c, &["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]).await;
    assert_eq!(size, "3");
    // Both clients refuse an undeclared field: 1.20 while validating against /openapi/v2,
    // 1.32 through the server's fieldValidation=Strict.
    let bogus = widget.replace("color: red", "color: red, bogus: 1");
    let out = c.apply(&bogus, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
    quiet(c, &["delete", "widget", "w1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_32_applies_gets_waits_and_deletes_without_warnings() {
    apply_get_wait_delete(&Cluster::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_20_applies_gets_waits_and_deletes_without_warnings() {
    apply_get_wait_delete(&Cluster::start_old().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_32_explains_builtin_and_crd_fields_from_openapi_v3() {
    explain_builtin_and_crd_fields(&Cluster::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_20_explains_builtin_and_crd_fields_from_openapi_v2_protobuf() {
    explain_builtin_and_crd_fields(&Cluster::start_old().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_32_round_trips_a_custom_resource_and_refuses_unknown_fields() {
    custom_resource_round_trip(&Cluster::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_20_round_trips_a_custom_resource_and_refuses_unknown_fields() {
    custom_resource_round_trip(&Cluster::start_old().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v2_serves_json_with_builtin_and_crd_definitions() {
    let c = Cluster::start().await;
    apply_quiet(&c, CRD).await;
    let (code, doc) = c.raw("GET", "/openapi/v2", "application/json", b"").await;
    assert_eq!(code, 200);
    assert_eq!(doc["swagger"], "2.0");
    let defs = &doc["definitions"];
    let deploy = &defs["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["x-kubernetes-group-version-kind"][0]["kind"], "Deployment",
        "{deploy}"
    );
    assert!(defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"].is_object());
    let widget = &defs["dev.ferry.example.v1.Widget"];
    assert_eq!(
        widget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    assert_eq!(
        widget["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let patch =
        &doc["paths"]["/apis/example.ferry.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"fieldValidation"), "{patch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v2_negotiates_protobuf_json_and_refuses_other_media_types() {
    let c = Cluster::start().await;
    let addr = c.emu.addr();
    let (code, ct, body) = common::raw_get_accept(
        addr,
        "/openapi/v2",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        ct,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    // Document.swagger (field 1, length-delimited) = "2.0" comes first.
    assert_eq!(&body[..5], b"\x0a\x032.0");
    let (code, ct, body) =
        common::raw_get_accept(addr, "/openapi/v2", "application/json, */*").await;
    assert_eq!((code, ct.as_str()), (200, "application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(doc["swagger"], "2.0");
    let (code, _, body) = common::raw_get_accept(addr, "/openapi/v2", "text/html").await;
    assert_eq!(code, 406);
    let status: serde_json::Value = serde_json::from_slice(&body).expect("status");
    assert_eq!(status["reason"], "NotAcceptable");
}
