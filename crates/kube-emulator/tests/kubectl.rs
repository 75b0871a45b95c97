//! Drives the real kubectl (v1.32) against the emulator.

mod common;

use std::time::Duration;

use common::{CONFIGMAP, CRD, Cluster, DEPLOYMENT, assert_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_version_reports_server_version() {
    let c = Cluster::start().await;
    let out = c.ok(&["version", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_api_resources_lists_builtin_kinds_with_short_names_and_no_warnings() {
    let c = Cluster::start().await;
    let out = c.kubectl(&["api-resources"]).await;
    assert_ok(&out, &["api-resources"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "deployments",
        "deploy",
        "customresourcedefinitions",
        "horizontalpodautoscalers",
        "leases",
        "poddisruptionbudgets",
    ] {
        assert!(stdout.contains(needle), "missing {needle} in {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_namespace_then_delete_namespace_removes_its_objects() {
    let c = Cluster::start().await;
    c.ok(&["create", "namespace", "team-a"]).await;
    c.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team-a",
        "--from-literal=k=v",
    ])
    .await;
    let out = c
        .ok(&["get", "configmap", "settings", "-n", "team-a", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "configmap/settings");
    c.ok(&["delete", "namespace", "team-a", "--timeout=20s"])
        .await;
    let gone = c.kubectl(&["get", "namespace", "team-a"]).await;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
    let cm = c
        .kubectl(&["get", "configmap", "settings", "-n", "team-a"])
        .await;
    assert!(!cm.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_configmap_shows_managed_fields_in_yaml() {
    let c = Cluster::start().await;
    let out = c.apply(CONFIGMAP, &[]).await;
    assert_ok(&out, &["apply"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("configmap/app-config serverside-applied")
    );
    let yaml = c
        .ok(&[
            "get",
            "configmap",
            "app-config",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(yaml.contains("managedFields:"), "{yaml}");
    assert!(yaml.contains("manager: kubectl"), "{yaml}");
    assert!(yaml.contains("operation: Apply"), "{yaml}");
    assert!(yaml.contains("f:greeting: {}"), "{yaml}");
    // Re-applying the same manifest is a no-op: resourceVersion unchanged.
    let rv1 = c
        .ok(&[
            "get",
            "cm",
            "app-config",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await;
    assert_ok(&c.apply(CONFIGMAP, &[]).await, &["apply again"]);
    let rv2 = c
        .ok(&[
            "get",
            "cm",
            "app-config",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await;
    assert_eq!(rv1, rv2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_deployment_gets_defaults_and_wait_available_succeeds() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(DEPLOYMENT, &[]).await, &["apply deployment"]);
    c.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=20s",
    ])
    .await;
    let spec = c.ok(&["get", "deploy", "web", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&spec).expect("json");
    assert_eq!(v["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(v["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(v["spec"]["progressDeadlineSeconds"], 600);
    let pod = &v["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(
        pod["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(v["status"]["availableReplicas"], 2);
    let table = c.ok(&["get", "deploy", "web"]).await;
    assert!(table.contains("2/2"), "{table}");
    // kubectl scale goes through the scale subresource.
    c.ok(&["scale", "deployment", "web", "--replicas=3"]).await;
    let replicas = c
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(replicas, "3");
    c.ok(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .await;
    // A typo in a built-in kind is rejected under kubectl's default fieldValidation=Strict.
    let typo = DEPLOYMENT.replace("replicas: 2", "replica: 2");
    let out = c.apply(&typo, &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".spec.replica: field not declared in schema"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_crd_then_custom_resource_is_defaulted_pruned_and_explainable() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(CRD, &[]).await, &["apply crd"]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.ferry.dev",
        "--timeout=10s",
    ])
    .await;
    let widget = "apiVersion: example.ferry.dev/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {color: red}
";
    let out = c.apply(widget, &[]).await;
    assert_ok(&out, &["apply widget"]);
    let got = c.ok(&["get", "wd", "w1", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&got).expect("json");
    assert_eq!(v["spec"]["size"], 3, "default applied: {v}");
    assert_eq!(v["metadata"]["generation"], 1);
    let explain = c.ok(&["explain", "widget.spec"]).await;
    assert!(explain.contains("color"), "{explain}");
    let names = c.ok(&["get", "widgets", "-o", "name"]).await;
    assert_eq!(names.trim(), "widget.example.ferry.dev/w1");
    // kubectl sends fieldValidation=Strict: undeclared fields are rejected.
    let bogus = widget.replace("color: red", "color: red, bogus: 1");
    let out = c.apply(&bogus, &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".spec.bogus: field not declared in schema"),
        "{err}"
    );
    // With validation off the field is pruned instead.
    let out = c.apply(&bogus, &["--validate=false"]).await;
    assert_ok(&out, &["apply --validate=false"]);
    let spec = c.ok(&["get", "wd", "w1", "-o", "jsonpath={.spec}"]).await;
    assert!(!spec.contains("bogus"), "{spec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_sees_label_update() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(CONFIGMAP, &[]).await, &["apply"]);
    let mut cmd = std::process::Command::new("/usr/bin/kubectl");
    cmd.arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .arg("--cache-dir")
        .arg(c.dir.path().join("cache"))
        .args([
            "get",
            "configmap",
            "app-config",
            "-w",
            "-o",
            "jsonpath={.metadata.labels.stage}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("kubectl -w spawns");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.ok(&["label", "configmap", "app-config", "stage=prod"])
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id();
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.trim() == "prod"),
        "watch output: {stdout:?} stderr={}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patch_json_merge_and_strategic() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(CONFIGMAP, &[]).await, &["apply cm"]);
    assert_ok(&c.apply(DEPLOYMENT, &[]).await, &["apply deploy"]);
    c.ok(&[
        "patch",
        "configmap",
        "app-config",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/a","value":"1"}]"#,
    ])
    .await;
    c.ok(&[
        "patch",
        "configmap",
        "app-config",
        "--type=merge",
        "-p",
        r#"{"data":{"greeting":null,"b":"2"}}"#,
    ])
    .await;
    let data = c
        .ok(&["get", "cm", "app-config", "-o", "jsonpath={.data}"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&data).expect("json");
    assert_eq!(v, serde_json::json!({"a": "1", "b": "2"}));
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"},{"name":"web","image":"nginx:1.28"}]}}}}"#,
    ])
    .await;
    let got = c.ok(&["get", "deploy", "web", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&got).expect("json");
    let containers = v["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .clone();
    assert_eq!(containers.len(), 2, "merged by name: {containers:?}");
    let web = containers.iter().find(|c| c["name"] == "web").expect("web");
    assert_eq!(web["image"], "nginx:1.28");
    assert_eq!(
        web["ports"][0]["containerPort"], 80,
        "untouched fields kept"
    );
    assert_eq!(v["metadata"]["generation"], 2);
    let bad = c
        .kubectl(&[
            "patch",
            "cm",
            "app-config",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/data/a","value":"nope"}]"#,
        ])
        .await;
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conflicting_apply_by_second_manager_fails_then_force_conflicts_wins() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(DEPLOYMENT, &[]).await, &["apply"]);
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 5");
    let out = c.apply(&changed, &["--field-manager=rollout-bot"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("conflict with \"kubectl\""), "{err}");
    assert!(err.contains(".spec.replicas"), "{err}");
    let out = c
        .apply(
            &changed,
            &["--field-manager=rollout-bot", "--force-conflicts"],
        )
        .await;
    assert_ok(&out, &["apply --force-conflicts"]);
    let replicas = c
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(replicas, "5");
    let yaml = c
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(yaml.contains("manager: rollout-bot"), "{yaml}");
    assert!(
        yaml.contains("manager: kubectl\n"),
        "first manager keeps shared fields: {yaml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_of_object_with_finalizer_waits_until_finalizer_removed() {
    let c = Cluster::start().await;
    let manifest = "apiVersion: v1
kind: ConfigMap
metadata:
  name: guarded
  namespace: default
  finalizers: [example.ferry.dev/hold]
data: {k: v}
";
    assert_ok(&c.apply(manifest, &[]).await, &["apply"]);
    let kubeconfig = c.kubeconfig.clone();
    let cache = c.dir.path().join("cache");
    let deleter = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .args(["delete", "configmap", "guarded", "--timeout=30s"])
            .output()
            .expect("kubectl delete runs")
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!deleter.is_finished(), "delete must wait for the finalizer");
    let ts = c
        .ok(&[
            "get",
            "cm",
            "guarded",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!ts.is_empty(), "deletionTimestamp set");
    c.ok(&[
        "patch",
        "cm",
        "guarded",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .await;
    let out = deleter.await.expect("join");
    assert_ok(&out, &["delete"]);
    let gone = c.kubectl(&["get", "cm", "guarded"]).await;
    assert!(!gone.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_is_always_allowed() {
    let c = Cluster::start().await;
    let out = c
        .ok(&["auth", "can-i", "create", "deployments", "-n", "default"])
        .await;
    assert_eq!(out.trim(), "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_of_a_secret_with_string_data_stores_base64_data() {
    let c = Cluster::start().await;
    let secret = "apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2
";
    // Client-side apply (strategic merge patch after the first create) and server-side apply.
    let out = c.kubectl_in(&["apply", "-f", "-"], Some(secret)).await;
    assert_ok(&out, &["apply"]);
    let changed = secret.replace("hunter2", "hunter3");
    let out = c.kubectl_in(&["apply", "-f", "-"], Some(&changed)).await;
    assert_ok(&out, &["apply again"]);
    let data = c
        .ok(&["get", "secret", "db", "-o", "jsonpath={.data.password}"])
        .await;
    assert_eq!(data.trim(), "aHVudGVyMw==");
    let json = c.ok(&["get", "secret", "db", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(v.get("stringData").is_none(), "{v}");

    let ssa = secret.replace("name: db", "name: db-ssa");
    let out = c.apply(&ssa, &[]).await;
    assert_ok(&out, &["apply --server-side"]);
    let data = c
        .ok(&["get", "secret", "db-ssa", "-o", "jsonpath={.data.password}"])
        .await;
    assert_eq!(data.trim(), "aHVudGVyMg==");
    let json = c.ok(&["get", "secret", "db-ssa", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(v.get("stringData").is_none(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patch_of_managed_fields_replaces_and_resets_them() {
    let c = Cluster::start().await;
    assert_ok(&c.apply(CONFIGMAP, &[]).await, &["apply"]);
    let entries = r#"{"metadata":{"managedFields":[{"manager":"someone-else","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:greeting":{}}}}]}}"#;
    c.ok(&["patch", "cm", "app-config", "--type=merge", "-p", entries])
        .await;
    let managers = c
        .ok(&[
            "get",
            "cm",
            "app-config",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert_eq!(managers.trim(), "someone-else");
    c.ok(&[
        "patch",
        "cm",
        "app-config",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/metadata/managedFields","value":[{}]}]"#,
    ])
    .await;
    let managers = c
        .ok(&[
            "get",
            "cm",
            "app-config",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields}",
        ])
        .await;
    assert_eq!(managers.trim(), "");
}
