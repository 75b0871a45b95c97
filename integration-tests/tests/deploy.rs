//! `deploy/`: the kustomize base that runs Ferry in a cluster and its dev and production
//! overlays. Each profile is rendered with the real `kubectl kustomize` (no warnings allowed),
//! applied with `kubectl apply --server-side` to the Kubernetes API emulator (with `KUBECONFIG`
//! set: to that cluster, as a server-side dry run), and the objects the API server answered with
//! are checked: replicas, hardening, probes, RBAC, NetworkPolicies, NATS.
//!
//! With `KUBECONFIG`, the one thing created for real is the `ferry-system` namespace when it is
//! missing (a dry run of namespaced objects needs their namespace to exist).

use anyhow::{Context as _, Result, bail, ensure};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::error::require_binary;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

const NAMESPACE: &str = "ferry-system";
const SERVICES: [&str; 4] = [
    "source-controller",
    "image-scanner",
    "kustomize-renderer",
    "applier",
];
/// ClusterRoles that must list exactly what their service needs (the applier's own role is
/// narrow too, but it is also bound to cluster-admin by design).
const NARROW_ROLES: [&str; 4] = [
    "ferry-source-controller",
    "ferry-image-scanner",
    "ferry-kustomize-renderer",
    "ferry-applier",
];
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

async fn bounded<T>(test: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test exceeded its time bound")?
}

fn deploy_dir(profile: &str) -> PathBuf {
    workspace_root().join("deploy").join(profile)
}

/// `kubectl kustomize DIR`: the rendered YAML; fails on an error or on any warning.
async fn render(dir: &Path) -> Result<String> {
    let kubectl = require_binary("kubectl", "kubectl")?;
    let out = tokio::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .await
        .context("running kubectl kustomize")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "kubectl kustomize {} failed ({}): {stderr}",
        dir.display(),
        out.status
    );
    ensure!(
        stderr.trim().is_empty(),
        "kubectl kustomize {} warned: {stderr}",
        dir.display()
    );
    let yaml = String::from_utf8(out.stdout).context("render is not UTF-8")?;
    ensure!(
        !yaml.trim().is_empty(),
        "{} rendered nothing",
        dir.display()
    );
    Ok(yaml)
}

/// Documents in a kustomize render (it separates them with `---` lines).
fn document_count(yaml: &str) -> usize {
    yaml.lines().filter(|l| *l == "---").count() + 1
}

/// A rendered and applied profile: the objects as the API server returned them.
struct Deployed {
    profile: String,
    objects: Vec<Value>,
}

/// Renders `dir` and applies the render server-side; returns what the server answered.
async fn deploy(dir: &Path) -> Result<Deployed> {
    let yaml = render(dir).await?;
    let kube = KubeTarget::start().await?;
    let dry_run = kube.as_emulator().is_none();
    if dry_run
        && kube
            .kubectl(&["get", "namespace", NAMESPACE, "-o", "name"])
            .await
            .is_err()
    {
        // Tolerate a concurrent test having created it in the meantime.
        if let Err(e) = kube.kubectl(&["create", "namespace", NAMESPACE]).await {
            ensure!(e.to_string().contains("AlreadyExists"), "{e}");
        }
    }
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("render.yaml");
    std::fs::write(&file, &yaml)?;
    let file = file.display().to_string();
    let mut args = vec!["apply", "--server-side", "-f", &file, "-o", "json"];
    if dry_run {
        args.push("--dry-run=server");
    }
    let out = kube
        .kubectl(&args)
        .await
        .with_context(|| format!("applying the render of {}", dir.display()))?;
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_str(&out).into_iter::<Value>() {
        let value = value.context("kubectl apply -o json printed something else")?;
        match value["kind"].as_str() {
            Some("List") => objects.extend(value["items"].as_array().cloned().unwrap_or_default()),
            _ => objects.push(value),
        }
    }
    ensure!(
        objects.len() == document_count(&yaml),
        "{}: rendered {} documents but the server answered with {} objects",
        dir.display(),
        document_count(&yaml),
        objects.len()
    );
    Ok(Deployed {
        profile: dir.display().to_string(),
        objects,
    })
}

impl Deployed {
    fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.objects
            .iter()
            .filter(move |o| o["kind"] == kind.as_str())
    }

    fn get(&self, kind: &str, name: &str) -> Result<&Value> {
        self.of_kind(kind)
            .find(|o| o["metadata"]["name"] == name)
            .with_context(|| format!("{}: no {kind} {name}", self.profile))
    }

    fn has(&self, kind: &str, name: &str) -> bool {
        self.get(kind, name).is_ok()
    }

    /// Deployments and StatefulSets.
    fn workloads(&self) -> impl Iterator<Item = &Value> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
    }

    /// Replicas of each Deployment, by name.
    fn deployment_replicas(&self) -> BTreeMap<String, i64> {
        self.of_kind("Deployment")
            .map(|d| {
                (
                    name(d).to_owned(),
                    d["spec"]["replicas"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("?")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn expected_replicas(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect()
}

/// The port number a probe's `httpGet.port` refers to (a number or a container port name).
fn probe_port(container: &Value, probe: &Value) -> Option<i64> {
    let port = &probe["httpGet"]["port"];
    port.as_i64().or_else(|| {
        container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == *port)?["containerPort"]
            .as_i64()
    })
}

/// Every container of every Deployment and StatefulSet: limits, non-root, read-only root file
/// system, no capabilities, no privilege escalation, seccomp, liveness and readiness probes.
fn assert_hardened(d: &Deployed) -> Result<()> {
    let mut containers = 0;
    for workload in d.workloads() {
        let pod = &workload["spec"]["template"]["spec"];
        let pod_seccomp = &pod["securityContext"]["seccompProfile"]["type"];
        for c in pod["containers"].as_array().into_iter().flatten() {
            containers += 1;
            let at = format!(
                "{}: {} {} container {}",
                d.profile,
                workload["kind"].as_str().unwrap_or("?"),
                name(workload),
                c["name"]
            );
            let limits = &c["resources"]["limits"];
            ensure!(
                limits["cpu"].is_string() && limits["memory"].is_string(),
                "{at}: cpu and memory limits, got {limits}"
            );
            let requests = &c["resources"]["requests"];
            ensure!(
                requests["cpu"].is_string() && requests["memory"].is_string(),
                "{at}: cpu and memory requests, got {requests}"
            );
            let sc = &c["securityContext"];
            ensure!(sc["runAsNonRoot"] == true, "{at}: runAsNonRoot, got {sc}");
            ensure!(
                sc["readOnlyRootFilesystem"] == true,
                "{at}: readOnlyRootFilesystem, got {sc}"
            );
            ensure!(
                sc["allowPrivilegeEscalation"] == false,
                "{at}: allowPrivilegeEscalation false, got {sc}"
            );
            ensure!(
                strings(&sc["capabilities"]["drop"]) == ["ALL"],
                "{at}: capabilities.drop [ALL], got {sc}"
            );
            ensure!(
                sc["seccompProfile"]["type"] == "RuntimeDefault" || pod_seccomp == "RuntimeDefault",
                "{at}: seccomp RuntimeDefault"
            );
            for probe in ["livenessProbe", "readinessProbe"] {
                ensure!(
                    c[probe]["httpGet"]["path"].is_string(),
                    "{at}: an HTTP {probe}, got {}",
                    c[probe]
                );
            }
        }
    }
    ensure!(
        containers >= SERVICES.len(),
        "{}: only {containers} containers",
        d.profile
    );
    Ok(())
}

/// The four Ferry Deployments: probes on /healthz and /readyz at :9090, the env the services
/// read, a writable /tmp emptyDir, spread across nodes; and their Service, PDB, ServiceAccount.
fn assert_ferry_services(d: &Deployed) -> Result<()> {
    for service in SERVICES {
        let deployment = d.get("Deployment", service)?;
        let pod = &deployment["spec"]["template"]["spec"];
        let at = format!("{}: Deployment {service}", d.profile);
        ensure!(
            pod["serviceAccountName"] == service,
            "{at}: serviceAccountName"
        );
        ensure!(
            d.has("ServiceAccount", service),
            "{at}: its ServiceAccount is missing"
        );
        let c = &pod["containers"][0];
        ensure!(
            c["image"] == format!("ghcr.io/ferry/{service}:v0.1.0"),
            "{at}: image {}",
            c["image"]
        );
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            ensure!(
                c[probe]["httpGet"]["path"] == path && probe_port(c, &c[probe]) == Some(9090),
                "{at}: {probe} should be {path} on 9090, got {}",
                c[probe]
            );
        }
        let env: BTreeMap<&str, &Value> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["name"].as_str()?, e)))
            .collect();
        for var in [
            "FERRY_NATS_URL",
            "FERRY_ADMIN_ADDR",
            "FERRY_GRPC_ADDR",
            "FERRY_LOG_FORMAT",
            "POD_NAME",
            "OTEL_SERVICE_NAME",
        ] {
            ensure!(env.contains_key(var), "{at}: env {var} missing");
        }
        ensure!(
            env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name",
            "{at}: POD_NAME from the downward API"
        );
        ensure!(
            env["OTEL_SERVICE_NAME"]["value"] == service,
            "{at}: OTEL_SERVICE_NAME"
        );
        ensure!(
            env["FERRY_ADMIN_ADDR"]["value"] == "0.0.0.0:9090"
                && env["FERRY_GRPC_ADDR"]["value"] == "0.0.0.0:9091",
            "{at}: admin and gRPC addresses"
        );
        if service == "source-controller" {
            for var in [
                "FERRY_STORAGE_ADDR",
                "FERRY_STORAGE_ADV_ADDR",
                "FERRY_RECEIVER_ADDR",
                "FERRY_CACHE_DIR",
            ] {
                ensure!(env.contains_key(var), "{at}: env {var} missing");
            }
        }
        let otel = c["envFrom"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["configMapRef"]["name"] == "ferry-otel");
        ensure!(
            otel.is_some_and(|e| e["configMapRef"]["optional"] == true),
            "{at}: optional envFrom ferry-otel"
        );
        let tmp_volume = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"] == "/tmp")
            .and_then(|m| m["name"].as_str())
            .with_context(|| format!("{at}: nothing mounted at /tmp"))?;
        ensure!(
            pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["name"] == tmp_volume && v["emptyDir"].is_object()),
            "{at}: /tmp is not an emptyDir"
        );
        ensure!(
            pod["topologySpreadConstraints"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["topologyKey"] == "kubernetes.io/hostname"),
            "{at}: no topology spread across nodes"
        );
        let svc = d.get("Service", service)?;
        let ports: BTreeMap<&str, i64> = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["name"].as_str()?, p["port"].as_i64()?)))
            .collect();
        ensure!(
            ports.get("http-metrics") == Some(&9090) && ports.get("grpc") == Some(&9091),
            "{}: Service {service} ports {ports:?}",
            d.profile
        );
        ensure!(
            d.has("PodDisruptionBudget", service),
            "{}: no PodDisruptionBudget {service}",
            d.profile
        );
    }
    let artifacts = d.get("Service", "source-controller")?;
    ensure!(
        artifacts["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["port"] == 80 && p["targetPort"] == "http"),
        "{}: source-controller Service serves artifacts on 80",
        d.profile
    );
    let webhook = d.get("Service", "webhook-receiver")?;
    ensure!(
        webhook["spec"]["selector"]["app.kubernetes.io/name"] == "source-controller"
            && webhook["spec"]["ports"][0]["port"] == 80
            && webhook["spec"]["ports"][0]["targetPort"] == "http-webhook",
        "{}: webhook-receiver Service 80 -> source-controller's 9292",
        d.profile
    );
    Ok(())
}

/// Every ServiceAccount is the subject of a binding, and every binding's ClusterRole exists
/// (cluster-admin, the built-in role the applier is bound to by design, aside).
fn assert_service_accounts_bound(d: &Deployed) -> Result<()> {
    let mut bound = BTreeSet::new();
    for binding in d
        .objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRoleBinding" || o["kind"] == "RoleBinding")
    {
        let role = &binding["roleRef"];
        ensure!(
            role["kind"] == "ClusterRole",
            "{}: {} binds a {}",
            d.profile,
            name(binding),
            role["kind"]
        );
        let role_name = role["name"].as_str().unwrap_or("?");
        ensure!(
            role_name == "cluster-admin" || d.has("ClusterRole", role_name),
            "{}: {} binds the missing ClusterRole {role_name}",
            d.profile,
            name(binding)
        );
        for subject in binding["subjects"].as_array().into_iter().flatten() {
            if subject["kind"] == "ServiceAccount" {
                bound.insert((
                    subject["namespace"].as_str().unwrap_or("").to_owned(),
                    subject["name"].as_str().unwrap_or("").to_owned(),
                ));
            }
        }
    }
    let accounts: Vec<&Value> = d.of_kind("ServiceAccount").collect();
    ensure!(
        accounts.len() == SERVICES.len(),
        "{}: {} ServiceAccounts",
        d.profile,
        accounts.len()
    );
    for sa in accounts {
        let key = (
            sa["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            name(sa).to_owned(),
        );
        ensure!(
            bound.contains(&key),
            "{}: ServiceAccount {}/{} is bound to no role (bound: {bound:?})",
            d.profile,
            key.0,
            key.1
        );
    }
    Ok(())
}

/// The narrow ClusterRoles grant no `*` verb, resource or API group; source-controller's role
/// has exactly the verbs it needs on its own kinds and reads Secrets by name only.
fn assert_least_privilege(d: &Deployed) -> Result<()> {
    for role_name in NARROW_ROLES {
        let role = d.get("ClusterRole", role_name)?;
        let rules = role["rules"].as_array().context("rules")?;
        ensure!(!rules.is_empty(), "{role_name}: no rules");
        for rule in rules {
            for field in ["verbs", "resources", "apiGroups"] {
                ensure!(
                    !strings(&rule[field]).contains(&"*"),
                    "{}: {role_name} grants `*` {field}: {rule}",
                    d.profile
                );
            }
            ensure!(
                rule["nonResourceURLs"].is_null(),
                "{role_name}: nonResourceURLs {rule}"
            );
        }
    }
    let role = d.get("ClusterRole", "ferry-source-controller")?;
    let verbs = |group: &str, resource: &str| -> BTreeSet<String> {
        role["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                strings(&r["apiGroups"]).contains(&group)
                    && strings(&r["resources"]).contains(&resource)
            })
            .flat_map(|r| strings(&r["verbs"]))
            .map(str::to_owned)
            .collect()
    };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    let source = "source.toolkit.fluxcd.io";
    let notification = "notification.toolkit.fluxcd.io";
    ensure!(verbs("", "secrets") == set(&["get"]), "secrets: get only");
    ensure!(
        verbs(notification, "receivers") == set(&["get", "list", "watch"]),
        "receivers: read only"
    );
    for (group, resource) in [
        (source, "gitrepositories"),
        (source, "ocirepositories"),
        (notification, "receivers"),
    ] {
        ensure!(
            set(&["get", "list", "watch"]).is_subset(&verbs(group, resource)),
            "{resource}: get, list, watch"
        );
        ensure!(
            verbs(group, &format!("{resource}/status")) == set(&["get", "patch", "update"]),
            "{resource}/status: get, patch, update"
        );
    }
    ensure!(
        verbs("", "events") == set(&["create", "patch"])
            && verbs("events.k8s.io", "events") == set(&["create", "patch"]),
        "events: create, patch"
    );
    // Everything a Receiver can target may be annotated (patched), nothing else.
    for (group, resource) in [
        (source, "gitrepositories"),
        (source, "ocirepositories"),
        (source, "buckets"),
        (source, "helmrepositories"),
        (source, "helmcharts"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
        ("helm.toolkit.fluxcd.io", "helmreleases"),
        ("image.toolkit.fluxcd.io", "imagerepositories"),
        ("image.toolkit.fluxcd.io", "imagepolicies"),
        ("image.toolkit.fluxcd.io", "imageupdateautomations"),
    ] {
        let v = verbs(group, resource);
        ensure!(
            v.contains("patch"),
            "{resource}: patch (Receiver annotation)"
        );
        for forbidden in ["create", "delete", "deletecollection", "update"] {
            ensure!(!v.contains(forbidden), "{resource}: must not {forbidden}");
        }
    }
    Ok(())
}

/// Ingress into ferry-system is denied by default; NATS's client port admits Ferry pods only.
fn assert_network_policies(d: &Deployed) -> Result<()> {
    let deny = d.get("NetworkPolicy", "default-deny-ingress")?;
    ensure!(
        deny["metadata"]["namespace"] == NAMESPACE,
        "{}: default deny in {}",
        d.profile,
        deny["metadata"]["namespace"]
    );
    let spec = &deny["spec"];
    ensure!(
        spec["podSelector"].as_object().is_some_and(|s| s
            .values()
            .all(|v| v.as_object().is_some_and(|m| m.is_empty()))),
        "{}: default deny must select every pod, got {}",
        d.profile,
        spec["podSelector"]
    );
    ensure!(
        strings(&spec["policyTypes"]).contains(&"Ingress"),
        "{}: default deny policyTypes {}",
        d.profile,
        spec["policyTypes"]
    );
    ensure!(
        spec["ingress"].as_array().is_none_or(Vec::is_empty),
        "{}: default deny must allow nothing, got {}",
        d.profile,
        spec["ingress"]
    );
    for policy in d.of_kind("NetworkPolicy") {
        ensure!(
            policy["metadata"]["namespace"] == NAMESPACE,
            "{}: NetworkPolicy {} outside {NAMESPACE}",
            d.profile,
            name(policy)
        );
    }
    let nats = d.get("NetworkPolicy", "allow-nats")?;
    for rule in nats["spec"]["ingress"].as_array().into_iter().flatten() {
        if rule["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["port"] == 4222)
        {
            let from = rule["from"].as_array().context("4222 must have `from`")?;
            ensure!(
                !from.is_empty()
                    && from.iter().all(|f| {
                        f["namespaceSelector"].is_null()
                            && f["ipBlock"].is_null()
                            && f["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                                == "controller"
                    }),
                "{}: NATS 4222 must admit only Ferry pods, got {rule}",
                d.profile
            );
        }
    }
    let webhook = d.get("NetworkPolicy", "allow-webhook-receiver")?;
    ensure!(
        webhook["spec"]["ingress"][0]["from"].is_null(),
        "{}: the webhook receiver is reachable from anywhere",
        d.profile
    );
    Ok(())
}

/// NATS: a StatefulSet of `nodes` nodes with JetStream file storage on a PVC of `storage`, a
/// headless and a client Service, a PDB, its config in a ConfigMap.
fn assert_nats(d: &Deployed, nodes: i64, storage: &str) -> Result<()> {
    let sts = d.get("StatefulSet", "nats")?;
    ensure!(
        sts["spec"]["replicas"] == nodes,
        "{}: NATS replicas {}, expected {nodes}",
        d.profile,
        sts["spec"]["replicas"]
    );
    ensure!(sts["spec"]["serviceName"] == "nats-headless", "serviceName");
    let image = &sts["spec"]["template"]["spec"]["containers"][0]["image"];
    ensure!(image == "nats:2.10-alpine", "NATS image {image}");
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    ensure!(
        claim["spec"]["resources"]["requests"]["storage"] == storage,
        "{}: NATS volume {}, expected {storage}",
        d.profile,
        claim["spec"]["resources"]["requests"]["storage"]
    );
    let headless = d.get("Service", "nats-headless")?;
    ensure!(
        headless["spec"]["clusterIP"] == "None",
        "nats-headless is headless"
    );
    let client = d.get("Service", "nats")?;
    ensure!(
        client["spec"]["ports"][0]["port"] == 4222,
        "nats Service on 4222"
    );
    ensure!(d.has("PodDisruptionBudget", "nats"), "NATS PDB");
    let config = d.get("ConfigMap", "nats-config")?;
    let conf = config["data"]["nats.conf"].as_str().unwrap_or("");
    ensure!(conf.contains("jetstream"), "JetStream enabled: {conf}");
    ensure!(
        conf.contains("cluster {") == (nodes > 1),
        "{}: a cluster block exactly when there are several nodes: {conf}",
        d.profile
    );
    let url = d.get("ConfigMap", "ferry-nats")?;
    ensure!(url["data"]["url"] == "nats://nats:4222", "ferry-nats url");
    Ok(())
}

/// One namespace, the CRDs, the shared settings and the four services with their Services.
fn assert_layout(d: &Deployed) -> Result<()> {
    ensure!(d.has("Namespace", NAMESPACE), "{}: namespace", d.profile);
    ensure!(
        d.of_kind("CustomResourceDefinition").count() == 7,
        "{}: the seven Flux CRDs from deploy/crds",
        d.profile
    );
    for obj in &d.objects {
        let kind = obj["kind"].as_str().unwrap_or("?");
        let cluster_scoped = matches!(
            kind,
            "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        );
        ensure!(
            cluster_scoped || obj["metadata"]["namespace"] == NAMESPACE,
            "{}: {kind} {} is in namespace {}",
            d.profile,
            name(obj),
            obj["metadata"]["namespace"]
        );
    }
    d.get("ConfigMap", "ferry-otel")?;
    assert_ferry_services(d)?;
    Ok(())
}

/// The base and both overlays, each rendered and applied to its own API server.
async fn all_profiles() -> Result<Vec<Deployed>> {
    let dirs = ["base", "overlays/dev", "overlays/production"].map(deploy_dir);
    futures::future::try_join_all(dirs.iter().map(|dir| deploy(dir))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_has_limits_runs_non_root_on_a_read_only_root_and_is_probed() -> Result<()>
{
    bounded(async {
        for d in all_profiles().await? {
            assert_hardened(&d)?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_account_is_bound_to_an_existing_cluster_role() -> Result<()> {
    bounded(async {
        for d in all_profiles().await? {
            assert_service_accounts_bound(&d)?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_controller_role_grants_no_wildcards_and_only_the_verbs_it_needs() -> Result<()> {
    bounded(async {
        for d in all_profiles().await? {
            assert_least_privilege(&d)?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_is_denied_by_default_and_nats_admits_only_ferry_pods() -> Result<()> {
    bounded(async {
        for d in all_profiles().await? {
            assert_network_policies(&d)?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_applies_with_two_replicas_per_service_and_a_three_node_nats() -> Result<()> {
    bounded(async {
        let d = deploy(&deploy_dir("base")).await?;
        assert_layout(&d)?;
        let replicas: Vec<(&str, i64)> = SERVICES.iter().map(|s| (*s, 2)).collect();
        ensure!(
            d.deployment_replicas() == expected_replicas(&replicas),
            "replicas {:?}",
            d.deployment_replicas()
        );
        assert_nats(&d, 3, "10Gi")?;
        for service in SERVICES {
            let pdb = d.get("PodDisruptionBudget", service)?;
            ensure!(
                pdb["spec"]["minAvailable"] == 1,
                "{service}: PDB minAvailable 1"
            );
        }
        // The applier applies arbitrary manifests: cluster-admin, by design and documented.
        let admin = d.get("ClusterRoleBinding", "ferry-applier-cluster-admin")?;
        ensure!(
            admin["roleRef"]["name"] == "cluster-admin"
                && admin["subjects"][0]["name"] == "applier",
            "applier bound to cluster-admin: {admin}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_overlay_applies_with_one_replica_debug_logs_and_a_single_nats_node() -> Result<()> {
    bounded(async {
        let d = deploy(&deploy_dir("overlays/dev")).await?;
        assert_layout(&d)?;
        let replicas: Vec<(&str, i64)> = SERVICES.iter().map(|s| (*s, 1)).collect();
        ensure!(
            d.deployment_replicas() == expected_replicas(&replicas),
            "replicas {:?}",
            d.deployment_replicas()
        );
        assert_nats(&d, 1, "1Gi")?;
        for service in SERVICES {
            let c = &d.get("Deployment", service)?["spec"]["template"]["spec"]["containers"][0];
            let env = |var: &str| {
                c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["name"] == var)
                    .map(|e| e["value"].clone())
            };
            ensure!(
                env("RUST_LOG") == Some("debug".into()),
                "{service}: RUST_LOG=debug"
            );
            ensure!(
                env("FERRY_LOG_FORMAT") == Some("text".into()),
                "{service}: text logs"
            );
            ensure!(
                env("FERRY_GRPC_ADDR") == Some("0.0.0.0:9091".into()),
                "{service}: the log-format patch hit another variable"
            );
            // One replica: a PDB of minAvailable 1 would block every node drain.
            let pdb = d.get("PodDisruptionBudget", service)?;
            ensure!(
                pdb["spec"]["minAvailable"].is_null() && pdb["spec"]["maxUnavailable"] == 1,
                "{service}: dev PDB {}",
                pdb["spec"]
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_overlay_applies_with_three_appliers_higher_limits_and_anti_affinity()
-> Result<()> {
    bounded(async {
        let d = deploy(&deploy_dir("overlays/production")).await?;
        assert_layout(&d)?;
        ensure!(
            d.deployment_replicas()
                == expected_replicas(&[
                    ("source-controller", 2),
                    ("image-scanner", 2),
                    ("kustomize-renderer", 2),
                    ("applier", 3),
                ]),
            "replicas {:?}",
            d.deployment_replicas()
        );
        assert_nats(&d, 3, "10Gi")?;
        for service in SERVICES {
            let pod = &d.get("Deployment", service)?["spec"]["template"]["spec"];
            ensure!(
                pod["containers"][0]["resources"]["limits"]["memory"] == "1Gi",
                "{service}: production memory limit {}",
                pod["containers"][0]["resources"]["limits"]
            );
            let term = &pod["affinity"]["podAntiAffinity"]
                ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
            ensure!(
                term["topologyKey"] == "kubernetes.io/hostname"
                    && term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == service,
                "{service}: anti-affinity across nodes, got {}",
                pod["affinity"]
            );
            let keys: BTreeSet<&str> = pod["topologySpreadConstraints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == service)
                .filter_map(|t| t["topologyKey"].as_str())
                .collect();
            ensure!(
                keys == BTreeSet::from(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
                "{service}: spread across nodes and zones, got {keys:?}"
            );
        }
        let nats = &d.get("StatefulSet", "nats")?["spec"]["template"]["spec"];
        ensure!(
            nats["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                [0]["topologyKey"]
                == "kubernetes.io/hostname",
            "NATS: one node per Kubernetes node, got {}",
            nats["affinity"]
        );
        Ok(())
    })
    .await
}

/// Writes an overlay of production with both components into a temporary directory; kustomize
/// takes only relative paths to bases and components.
fn overlay_with_components(dir: &Path) -> Result<()> {
    let up = "../".repeat(dir.components().count().saturating_sub(1));
    let root = workspace_root();
    let Ok(root) = root.strip_prefix("/") else {
        bail!("workspace root {} is not absolute", root.display());
    };
    let deploy = format!("{up}{}/deploy", root.display());
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources:\n  - {deploy}/overlays/production\n\
         components:\n  - {deploy}/components/external-nats\n  - {deploy}/components/multi-tenancy\n\
         patches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        \
         name: ferry-nats\n      data:\n        url: nats://nats.messaging.svc.cluster.local:4222\n"
    );
    std::fs::write(dir.join("kustomization.yaml"), kustomization)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_nats_and_multi_tenancy_components_drop_bundled_nats_and_cluster_admin()
-> Result<()> {
    bounded(async {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().canonicalize()?;
        overlay_with_components(&dir)?;
        let d = deploy(&dir).await?;
        for (kind, gone) in [
            ("StatefulSet", "nats"),
            ("Service", "nats"),
            ("Service", "nats-headless"),
            ("ConfigMap", "nats-config"),
            ("PodDisruptionBudget", "nats"),
            ("NetworkPolicy", "allow-nats"),
            ("ClusterRoleBinding", "ferry-applier-cluster-admin"),
        ] {
            ensure!(!d.has(kind, gone), "{kind} {gone} should be gone");
        }
        let url = d.get("ConfigMap", "ferry-nats")?;
        ensure!(
            url["data"]["url"] == "nats://nats.messaging.svc.cluster.local:4222",
            "ferry-nats url {}",
            url["data"]
        );
        // The applier keeps its own role, with the right to impersonate ServiceAccounts.
        let role = d.get("ClusterRole", "ferry-applier")?;
        ensure!(
            role["rules"].as_array().into_iter().flatten().any(|r| {
                strings(&r["resources"]).contains(&"serviceaccounts")
                    && strings(&r["verbs"]).contains(&"impersonate")
            }),
            "applier impersonates ServiceAccounts"
        );
        assert_hardened(&d)?;
        assert_ferry_services(&d)?;
        assert_service_accounts_bound(&d)?;
        assert_least_privilege(&d)?;
        ensure!(
            d.has("NetworkPolicy", "default-deny-ingress"),
            "default deny"
        );
        Ok(())
    })
    .await
}
