//! SOPS decryption with age keys (`spec.decryption`) through the Kustomization reconcile,
//! against the Kubernetes API emulator.
//!
//! The encrypted fixtures come from `fixtures/sops_encrypt.py`, an encryptor independent of the
//! applier's decryptor: there is no real `sops` binary here (it is not packaged in Debian and
//! building it needs a Go toolchain), so the script writes documents the way sops 3.x does, with
//! Python's `cryptography` for AES-256-GCM and the real `age`/`age-keygen` binaries (Debian
//! package `age`, see scripts/ensure-deps.sh) for the data key.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use applier::decrypt::REDACTED;
use applier::reconcile::{self, Context, MemoryRenders, ReconcileError, Rendered};
use base64::Engine as _;
use common::*;
use flux_api::conditions::{self, types};
use flux_api::kustomize::Kustomization;
use flux_api::meta::ConditionStatus;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const REV1: &str = "main@sha1:1111111111111111111111111111111111111111";
const KEYS_SECRET: &str = "sops-age";
const K8S_REGEX: &str = "^(data|stringData)$";

/// An age identity made by the real `age-keygen`: (identity file text, public recipient).
fn age_keygen() -> (String, String) {
    let out = Command::new("age-keygen")
        .output()
        .expect("age-keygen runs (Debian package age; scripts/ensure-deps.sh)");
    assert!(out.status.success(), "age-keygen failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_owned();
    (text, recipient)
}

/// `doc` encrypted for `recipient` by the test-side sops encryptor.
fn sops_encrypt(doc: &Value, recipient: &str, rule: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sops_encrypt.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--recipient", recipient])
        .args(rule)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.to_string().as_bytes())
        .expect("write document");
    let out = child.wait_with_output().expect("encryptor finishes");
    assert!(out.status.success(), "sops_encrypt.py failed");
    serde_json::from_slice(&out.stdout).expect("encryptor writes JSON")
}

/// A render of JSON documents (JSON is YAML).
fn render_of(docs: &[&Value]) -> String {
    docs.iter()
        .map(|d| format!("{d}\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn db_secret(ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns, "labels": {"tier": "backend"}},
        "type": "Opaque",
        "stringData": {"password": "hunter2", "port": "5432"},
        "data": {"token": base64::engine::general_purpose::STANDARD.encode("s3cr3t-token")}
    })
}

fn plain_configmap(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": ns}, "data": {"mode": "prod"}})
}

struct Env {
    cluster: Cluster,
    ns: String,
    ctx: Context<MemoryRenders>,
}

impl Env {
    async fn new(prefix: &str) -> Self {
        let cluster = cluster().await;
        install_flux_crds(&cluster.client).await;
        let ns = unique(prefix);
        applier::apply::Applier::new(cluster.client.clone())
            .apply_all(parse(&namespace_yaml(&ns)), &options("test", "test"))
            .await
            .expect("namespace applies");
        let ctx = Context::new(cluster.client.clone(), MemoryRenders::default());
        Env { cluster, ns, ctx }
    }

    /// The decryption Secret with `data` as its keys.
    async fn keys_secret(&self, data: &[(&str, &str)]) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": KEYS_SECRET, "namespace": self.ns},
            "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()
        }))
        .expect("Secret");
        Api::<Secret>::namespaced(self.client(), &self.ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("decryption Secret created");
    }

    async fn kustomization(&self, decryption: Option<Value>, manifests: String) {
        self.kustomization_verifying(decryption, manifests, false)
            .await;
    }

    /// With `verify_mac`, the Kustomization opts in to the sops MAC check.
    async fn kustomization_verifying(
        &self,
        decryption: Option<Value>,
        manifests: String,
        verify_mac: bool,
    ) {
        let mut spec = json!({"interval": "1m", "prune": true, "timeout": "30s",
            "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        if let Some(d) = decryption {
            spec["decryption"] = d;
        }
        let mut metadata = json!({"name": "app", "namespace": self.ns});
        if verify_mac {
            metadata["annotations"] = json!({"ferry.dev/sops-verify-mac": "true"});
        }
        let ks: Kustomization = serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": metadata, "spec": spec
        }))
        .expect("valid Kustomization");
        Api::<Kustomization>::namespaced(self.client(), &self.ns)
            .create(&PostParams::default(), &ks)
            .await
            .expect("Kustomization created");
        self.ctx
            .renders
            .set(
                &self.ns,
                "app",
                Ok(Rendered {
                    revision: REV1.into(),
                    manifests,
                }),
            )
            .await;
    }

    fn client(&self) -> Client {
        self.cluster.client.clone()
    }

    async fn get(&self) -> Kustomization {
        Api::<Kustomization>::namespaced(self.client(), &self.ns)
            .get("app")
            .await
            .expect("Kustomization")
    }

    async fn reconcile(&self) -> (Result<reconcile::Outcome, ReconcileError>, Kustomization) {
        let ks = self.get().await;
        let result = reconcile::reconcile(&ks, &self.ctx, &CancellationToken::new()).await;
        (result, self.get().await)
    }

    async fn secret_data(&self, name: &str) -> Option<Vec<(String, String)>> {
        let secret = Api::<Secret>::namespaced(self.client(), &self.ns)
            .get_opt(name)
            .await
            .expect("get Secret")?;
        Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8 value")))
                .collect(),
        )
    }

    async fn configmap_exists(&self, name: &str) -> bool {
        Api::<ConfigMap>::namespaced(self.client(), &self.ns)
            .get_opt(name)
            .await
            .expect("get ConfigMap")
            .is_some()
    }
}

fn age_decryption() -> Value {
    json!({"provider": "sops", "secretRef": {"name": KEYS_SECRET}})
}

fn ready(ks: &Kustomization) -> (ConditionStatus, String, String) {
    let status = ks.status.clone().unwrap_or_default();
    let c = conditions::find(status.conditions(), types::READY)
        .cloned()
        .expect("Ready condition");
    (c.status, c.reason, c.message)
}

#[tokio::test]
async fn sops_encrypted_secret_reaches_the_cluster_decrypted_from_string_data_and_data() {
    let e = Env::new("sops-ok").await;
    let (identity, recipient) = age_keygen();
    // A second identity on another line of the same key: every line is tried.
    let (other, _) = age_keygen();
    e.keys_secret(&[("age.agekey", &format!("{other}{identity}"))])
        .await;
    let encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    assert!(
        !encrypted.to_string().contains("hunter2"),
        "the fixture is encrypted"
    );
    e.kustomization(
        Some(age_decryption()),
        render_of(&[&encrypted, &plain_configmap(&e.ns)]),
    )
    .await;

    let (result, ks) = e.reconcile().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(ready(&ks).0, ConditionStatus::True);
    let data = e.secret_data("db").await.expect("Secret applied");
    assert_eq!(
        data,
        vec![
            ("password".to_owned(), "hunter2".to_owned()),
            ("port".to_owned(), "5432".to_owned()),
            ("token".to_owned(), "s3cr3t-token".to_owned()),
        ]
    );
    let raw = Api::<kube::api::DynamicObject>::namespaced_with(
        e.client(),
        &e.ns,
        &kube::api::ApiResource::erase::<Secret>(&()),
    )
    .get("db")
    .await
    .expect("raw Secret");
    assert!(
        raw.data.get("sops").is_none(),
        "sops metadata was applied: {:?}",
        raw.data
    );
    assert!(e.configmap_exists("app-config").await);
    let status = serde_json::to_string(&ks.status).expect("status");
    assert!(!status.contains("hunter2"), "plaintext in status: {status}");
}

#[tokio::test]
async fn with_mac_verification_on_a_tampered_value_fails_and_nothing_of_the_kustomization_is_applied()
 {
    let e = Env::new("sops-mac").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let mut encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    // A plain value is covered by the MAC too: changing it must be caught.
    encrypted["metadata"]["labels"]["tier"] = json!("frontend");
    e.kustomization_verifying(
        Some(age_decryption()),
        render_of(&[&plain_configmap(&e.ns), &encrypted]),
        true,
    )
    .await;

    let (result, ks) = e.reconcile().await;
    assert!(
        matches!(&result, Err(ReconcileError::Build(m)) if m.contains(&format!("Secret/{}/db", e.ns)) && m.contains("MAC does not match")),
        "{result:?}"
    );
    let (status, reason, message) = ready(&ks);
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::False, "BuildFailed")
    );
    assert!(message.contains("re-encrypt"), "{message}");
    assert_eq!(e.secret_data("db").await, None);
    assert!(
        !e.configmap_exists("app-config").await,
        "half of the Kustomization was applied"
    );
}

#[tokio::test]
async fn a_swapped_ciphertext_fails_authentication_naming_its_path() {
    let e = Env::new("sops-swap").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let mut encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    // The path is the associated data: a ciphertext moved to another key does not open.
    encrypted["stringData"]["password"] = encrypted["data"]["token"].clone();
    e.kustomization(Some(age_decryption()), render_of(&[&encrypted]))
        .await;
    let (result, _) = e.reconcile().await;
    assert!(
        matches!(&result, Err(ReconcileError::Build(m)) if m.contains("stringData:password:") && m.contains("failed authentication")),
        "{result:?}"
    );
    assert_eq!(e.secret_data("db").await, None);
}

#[tokio::test]
async fn a_wrong_age_key_fails_naming_the_secret_key_and_the_recipient() {
    let e = Env::new("sops-wrong").await;
    let (_, recipient) = age_keygen();
    let (wrong, _) = age_keygen();
    e.keys_secret(&[("wrong.agekey", &wrong)]).await;
    let encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    e.kustomization(Some(age_decryption()), render_of(&[&encrypted]))
        .await;
    let (result, ks) = e.reconcile().await;
    let (status, reason, message) = ready(&ks);
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::False, "BuildFailed")
    );
    for part in [
        format!("Secret/{}/db", e.ns),
        format!("{}/{KEYS_SECRET}", e.ns),
        "wrong.agekey".to_owned(),
        recipient.clone(),
    ] {
        assert!(message.contains(&part), "{part} not in {message}");
    }
    assert!(!message.contains("AGE-SECRET-KEY"), "{message}");
    assert!(result.is_err());
    assert_eq!(e.secret_data("db").await, None);
}

#[tokio::test]
async fn a_pgp_key_in_the_decryption_secret_is_unsupported_naming_it_and_stalls() {
    let e = Env::new("sops-pgp").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity), ("sops.asc", "-----BEGIN PGP")])
        .await;
    let encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    e.kustomization(Some(age_decryption()), render_of(&[&encrypted]))
        .await;
    let (result, ks) = e.reconcile().await;
    assert!(
        matches!(&result, Err(ReconcileError::Unsupported(m)) if m.contains("\"sops.asc\"") && m.contains("PGP")),
        "{result:?}"
    );
    let stalled = conditions::find(
        ks.status.clone().unwrap_or_default().conditions(),
        types::STALLED,
    )
    .map(|c| c.status);
    assert_eq!(stalled, Some(ConditionStatus::True));
    assert_eq!(e.secret_data("db").await, None);
}

#[tokio::test]
async fn unencrypted_suffix_values_stay_plain_while_everything_else_decrypts() {
    let e = Env::new("sops-suffix").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let doc = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": e.ns},
        "stringData": {"password": "hunter2", "username_unencrypted": "admin"}
    });
    // sops' default rule: everything is encrypted (even kind and name) except `_unencrypted`.
    let encrypted = sops_encrypt(&doc, &recipient, &[]);
    assert_eq!(encrypted["stringData"]["username_unencrypted"], "admin");
    assert!(
        encrypted["kind"]
            .as_str()
            .is_some_and(|k| k.starts_with("ENC["))
    );
    e.kustomization(Some(age_decryption()), render_of(&[&encrypted]))
        .await;
    let (result, _) = e.reconcile().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        e.secret_data("creds").await.expect("Secret applied"),
        vec![
            ("password".to_owned(), "hunter2".to_owned()),
            ("username_unencrypted".to_owned(), "admin".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_encrypted_secret_without_decryption_configured_fails_and_nothing_is_applied() {
    let e = Env::new("sops-none").await;
    let (_, recipient) = age_keygen();
    let encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    e.kustomization(None, render_of(&[&plain_configmap(&e.ns), &encrypted]))
        .await;
    let (result, _) = e.reconcile().await;
    assert!(
        matches!(&result, Err(ReconcileError::Build(m)) if m.contains("spec.decryption") && m.contains(&format!("Secret/{}/db", e.ns))),
        "{result:?}"
    );
    assert!(!e.configmap_exists("app-config").await);
}

#[tokio::test]
async fn an_encrypted_json_file_in_secret_data_is_decrypted_in_its_format() {
    let e = Env::new("sops-file").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let file = sops_encrypt(&json!({"user": "app", "pass": "hunter2"}), &recipient, &[]);
    let generated = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "generated", "namespace": e.ns},
        "data": {"config.json": base64::engine::general_purpose::STANDARD.encode(file.to_string())}
    });
    e.kustomization(Some(age_decryption()), render_of(&[&generated]))
        .await;
    let (result, _) = e.reconcile().await;
    assert!(result.is_ok(), "{result:?}");
    let data = e.secret_data("generated").await.expect("Secret applied");
    let config: Value = serde_json::from_str(&data[0].1).expect("JSON file");
    assert_eq!(config, json!({"user": "app", "pass": "hunter2"}));
}

#[tokio::test]
async fn diff_of_a_decrypted_secret_shows_changed_paths_but_not_values() {
    let e = Env::new("sops-diff").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let encrypted = sops_encrypt(
        &db_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    e.kustomization(Some(age_decryption()), render_of(&[&encrypted]))
        .await;
    let (result, _) = e.reconcile().await;
    assert!(result.is_ok(), "{result:?}");
    let mut changed = db_secret(&e.ns);
    changed["stringData"]["password"] = json!("n3w-pa55");
    let encrypted = sops_encrypt(&changed, &recipient, &["--encrypted-regex", K8S_REGEX]);
    e.ctx
        .renders
        .set(
            &e.ns,
            "app",
            Ok(Rendered {
                revision: REV1.into(),
                manifests: render_of(&[&encrypted]),
            }),
        )
        .await;
    let diff = reconcile::diff(&e.get().await, &e.ctx, true)
        .await
        .expect("diff");
    let db = diff
        .objects
        .iter()
        .find(|o| o.name == "db")
        .expect("db in diff");
    assert_eq!(db.action, "configured");
    assert!(
        db.changes.iter().any(|c| c.path == "/data/password"),
        "{db:?}"
    );
    let shown = format!("{db:?}");
    for plain in ["hunter2", "n3w-pa55", "aHVudGVyMg", "bjN3LXBhNTU"] {
        assert!(!shown.contains(plain), "{plain} leaked: {shown}");
    }
    assert!(shown.contains(REDACTED), "{shown}");
}

/// The render the kustomize build makes of `secret` with this `kustomization.yaml` body.
fn kustomize_build(secret: &Value, kustomization: &str) -> String {
    let fs = ferry_kustomize::MemFs::new()
        .with("app/kustomization.yaml", kustomization)
        .with("app/secret.yaml", secret.to_string());
    ferry_kustomize::build_yaml(&fs, "app", &ferry_kustomize::Options::default())
        .expect("kustomize build")
}

/// A Secret in the build's output shape: keys in alphabetical order, namespace already set.
fn sorted_secret(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns},
        "stringData": {"password": "hunter2", "user": "app"},
        "type": "Opaque"
    })
}

#[tokio::test]
async fn a_secret_encrypted_in_the_builds_output_shape_passes_the_mac_after_a_kustomize_build() {
    let e = Env::new("sops-build").await;
    let (identity, recipient) = age_keygen();
    e.keys_secret(&[("age.agekey", &identity)]).await;
    let encrypted = sops_encrypt(
        &sorted_secret(&e.ns),
        &recipient,
        &["--encrypted-regex", K8S_REGEX],
    );
    let kustomization = format!("namespace: {}\nresources:\n- secret.yaml\n", e.ns);
    e.kustomization_verifying(
        Some(age_decryption()),
        kustomize_build(&encrypted, &kustomization),
        true,
    )
    .await;
    let (result, _) = e.reconcile().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        e.secret_data("db").await.expect("Secret applied"),
        vec![
            ("password".to_owned(), "hunter2".to_owned()),
            ("user".to_owned(), "app".to_owned()),
        ]
    );
}

#[tokio::test]
async fn labels_added_by_the_build_pass_by_default_as_in_flux_and_fail_only_with_mac_verification()
{
    for verify_mac in [false, true] {
        let e = Env::new("sops-labels").await;
        let (identity, recipient) = age_keygen();
        e.keys_secret(&[("age.agekey", &identity)]).await;
        let encrypted = sops_encrypt(
            &sorted_secret(&e.ns),
            &recipient,
            &["--encrypted-regex", K8S_REGEX],
        );
        let kustomization = "commonLabels:\n  team: a\nresources:\n- secret.yaml\n";
        e.kustomization_verifying(
            Some(age_decryption()),
            kustomize_build(&encrypted, kustomization),
            verify_mac,
        )
        .await;
        let (result, _) = e.reconcile().await;
        if verify_mac {
            assert!(
                matches!(&result, Err(ReconcileError::Build(m)) if m.contains("MAC does not match")),
                "{result:?}"
            );
            assert_eq!(e.secret_data("db").await, None);
        } else {
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(
                e.secret_data("db").await.expect("Secret applied"),
                vec![
                    ("password".to_owned(), "hunter2".to_owned()),
                    ("user".to_owned(), "app".to_owned()),
                ]
            );
        }
    }
}
