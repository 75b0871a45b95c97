//! The render pipeline over real artifacts: generation, CR fields, substitution, the render
//! cache, path-aware reuse, the unpacked-artifact cache, unsafe artifacts and bad input.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_artifact::{Entry, UnpackLimits, pack};
use ferry_kustomize::Fs;
use kustomize_renderer::cache::{ArtifactCache, ArtifactSource, Reach, RenderStore, reach};
use kustomize_renderer::flux::spec::RenderSpec;
use kustomize_renderer::{
    Builder, BuiltObject, CacheOutcome, ChangeSet, KustomizeBuilder, RenderError, RenderRequest,
    Renderer, RendererConfig,
};
use serde_json::{Value, json};

/// Counts the builds that actually run.
#[derive(Default)]
struct CountingBuilder {
    inner: KustomizeBuilder,
    builds: AtomicUsize,
}

impl Builder for CountingBuilder {
    fn build(&self, fs: &dyn Fs, dir: &str) -> Result<Vec<BuiltObject>, ferry_kustomize::Error> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        self.inner.build(fs, dir)
    }
}

struct Harness {
    renderer: Renderer,
    source: ArtifactSource,
    builder: Arc<CountingBuilder>,
    cache: Arc<ArtifactCache>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(RendererConfig::default())
    }

    fn with_config(config: RendererConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache =
            Arc::new(ArtifactCache::open(dir.path(), 1 << 30, UnpackLimits::default()).unwrap());
        let source = ArtifactSource::memory();
        let builder = Arc::new(CountingBuilder::default());
        let renderer = Renderer::new(
            builder.clone(),
            cache.clone(),
            source.clone(),
            RenderStore::memory(),
            config,
        );
        Self {
            renderer,
            source,
            builder,
            cache,
            _dir: dir,
        }
    }

    fn builds(&self) -> usize {
        self.builder.builds.load(Ordering::SeqCst)
    }

    fn artifact(&self, files: &[(&str, &str)]) -> String {
        let packed = pack(files.iter().map(|(p, c)| Entry::file(*p, c.as_bytes()))).unwrap();
        self.source.insert(packed.bytes)
    }
}

fn request(digest: &str, revision: &str, spec: Value) -> RenderRequest {
    RenderRequest {
        kustomization: "flux-system/apps".into(),
        artifact_digest: digest.into(),
        source_revision: revision.into(),
        spec: serde_json::from_value(spec).unwrap(),
        substitutions: BTreeMap::new(),
        change: None,
    }
}

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n")
}

fn objects(manifests: &[u8]) -> Vec<Value> {
    ferry_kustomize::yaml::parse_documents(
        "render",
        std::str::from_utf8(manifests).unwrap(),
        &Default::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn render_generates_wraps_substitutes_and_stores() {
    let h = Harness::new();
    let version_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: versions\n  labels:\n    version: \"${version}\"\ndata:\n  replicas: \"${replicas}\"\n  region: ${region:=eu}\n";
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${replicas}\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n";
    let digest = h.artifact(&[
        ("apps/versions.yaml", version_cm),
        ("apps/web/deploy.yaml", deploy),
        ("other/unrelated.yaml", &cm("other", "x")),
    ]);
    let mut req = request(
        &digest,
        "main@sha1:1111",
        json!({
            "path": "./apps",
            "targetNamespace": "prod",
            "namePrefix": "p-",
            "images": [{"name": "nginx", "newTag": "1.25"}],
            "commonMetadata": {"labels": {"team": "platform"}},
            "postBuild": {"substitute": {"version": "2.0"}}
        }),
    );
    req.substitutions = BTreeMap::from([("replicas".to_string(), "3".to_string())]);
    let rendered = h.renderer.render(&req).await.unwrap();
    assert_eq!(rendered.cache, CacheOutcome::Miss);
    assert_eq!(rendered.object_count, 2);
    assert!(rendered.render_key.starts_with("sha256:"));
    let objs = objects(&rendered.manifests);
    let cm = objs.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["name"], json!("p-versions"));
    assert_eq!(cm["metadata"]["namespace"], json!("prod"));
    assert_eq!(cm["metadata"]["labels"]["version"], json!("2.0"));
    assert_eq!(cm["metadata"]["labels"]["team"], json!("platform"));
    assert_eq!(cm["data"]["replicas"], json!("3"));
    assert_eq!(cm["data"]["region"], json!("eu"));
    let deploy = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["spec"]["replicas"], json!(3));
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.25")
    );
    let stored = h
        .renderer
        .store()
        .get(&rendered.render_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.manifests, rendered.manifests);
    assert_eq!(stored.object_count, 2);
    assert_eq!(stored.source_revision, "main@sha1:1111");
    assert_eq!(stored.render_digest, rendered.render_digest);
}

#[tokio::test]
async fn render_never_writes_into_the_cached_artifact() {
    let h = Harness::new();
    let digest = h.artifact(&[("apps/cm.yaml", &cm("a", "1"))]);
    let req = request(&digest, "r1", json!({"path": "apps", "namePrefix": "x-"}));
    h.renderer.render(&req).await.unwrap();
    let hex = digest.trim_start_matches("sha256:");
    let root = h._dir.path().join("artifacts").join(hex);
    assert!(root.join("apps/cm.yaml").is_file());
    assert!(!root.join("apps/kustomization.yaml").exists());
}

#[tokio::test]
async fn cache_hit_skips_the_build() {
    let h = Harness::new();
    let digest = h.artifact(&[("apps/cm.yaml", &cm("a", "${v}"))]);
    let mut req = request(&digest, "r1", json!({"path": "apps", "postBuild": {}}));
    req.substitutions = BTreeMap::from([("v".to_string(), "one".to_string())]);
    let first = h.renderer.render(&req).await.unwrap();
    let second = h.renderer.render(&req).await.unwrap();
    assert_eq!(h.builds(), 1);
    assert_eq!(first.cache, CacheOutcome::Miss);
    assert_eq!(second.cache, CacheOutcome::Hit);
    assert_eq!(second.render_key, first.render_key);
    assert_eq!(second.manifests, first.manifests);
    // Other substituted values are another input: another key, another build.
    req.substitutions.insert("v".to_string(), "two".to_string());
    let third = h.renderer.render(&req).await.unwrap();
    assert_eq!(h.builds(), 2);
    assert_ne!(third.render_key, first.render_key);
    assert_eq!(objects(&third.manifests)[0]["data"]["value"], json!("two"));
    // The artifact was unpacked once for all three.
    assert_eq!(h.cache.unpack_count(), 1);
}

fn tree<'a>(base_value: &'a str, other_value: &'a str) -> Vec<(&'static str, String)> {
    vec![
        (
            "apps/prod/kustomization.yaml",
            "resources:\n- ../base\n- extra.yaml\n".to_string(),
        ),
        ("apps/prod/extra.yaml", cm("extra", "1")),
        (
            "apps/base/kustomization.yaml",
            "resources: [cm.yaml]\n".to_string(),
        ),
        ("apps/base/cm.yaml", cm("base", base_value)),
        ("other/team.yaml", cm("team", other_value)),
    ]
}

fn artifact_of(h: &Harness, files: &[(&'static str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    h.artifact(&borrowed)
}

fn with_change(mut req: RenderRequest, previous: &str, changed: &[&str]) -> RenderRequest {
    req.change = Some(ChangeSet {
        previous_revision: previous.into(),
        changed_paths: changed.iter().map(|s| s.to_string()).collect(),
        all_paths_changed: false,
    });
    req
}

#[tokio::test]
async fn path_aware_reuse_skips_the_build_when_no_reachable_file_changed() {
    let h = Harness::new();
    let spec = json!({"path": "apps/prod"});
    let v1 = artifact_of(&h, &tree("1", "1"));
    let first = h
        .renderer
        .render(&request(&v1, "r1", spec.clone()))
        .await
        .unwrap();
    assert_eq!(first.cache, CacheOutcome::Miss);

    // Only a file outside what apps/prod reaches changed: the render is reused.
    let v2 = artifact_of(&h, &tree("1", "2"));
    let req2 = with_change(request(&v2, "r2", spec.clone()), "r1", &["other/team.yaml"]);
    let second = h.renderer.render(&req2).await.unwrap();
    assert_eq!(second.cache, CacheOutcome::Reused);
    assert_eq!(second.render_key, first.render_key);
    assert_eq!(second.source_revision, "r2");
    assert_eq!(h.builds(), 1);
    // Asking again for the same artifact is a plain hit.
    let again = h.renderer.render(&req2).await.unwrap();
    assert_eq!(again.cache, CacheOutcome::Hit);
    assert_eq!(h.builds(), 1);

    // A file in the base that apps/prod references through `../base` changed: rebuilt.
    let v3 = artifact_of(&h, &tree("3", "2"));
    let req3 = with_change(
        request(&v3, "r3", spec.clone()),
        "r2",
        &["apps/base/cm.yaml"],
    );
    let third = h.renderer.render(&req3).await.unwrap();
    assert_eq!(third.cache, CacheOutcome::Miss);
    assert_eq!(h.builds(), 2);
    assert_eq!(objects(&third.manifests)[0]["data"]["value"], json!(3));

    // An unknown diff, or a chain that does not start at the last render, is never reused.
    let v4 = artifact_of(&h, &tree("3", "4"));
    let mut req4 = with_change(request(&v4, "r4", spec.clone()), "r3", &[]);
    if let Some(c) = req4.change.as_mut() {
        c.all_paths_changed = true;
    }
    assert_eq!(
        h.renderer.render(&req4).await.unwrap().cache,
        CacheOutcome::Miss
    );
    let v5 = artifact_of(&h, &tree("3", "5"));
    let req5 = with_change(request(&v5, "r5", spec), "r-unknown", &["other/team.yaml"]);
    assert_eq!(
        h.renderer.render(&req5).await.unwrap().cache,
        CacheOutcome::Miss
    );
    assert_eq!(h.builds(), 4);
}

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

#[test]
fn reachability_follows_resources_components_and_generator_files() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "clusters/prod/kustomization.yaml",
                "resources: [../../infra]\ncomponents: [../../comps/monitoring]\npatches:\n- path: ../../patches/replicas.yaml\nconfigMapGenerator:\n- name: env\n  files:\n  - app.properties=../../config/app.properties\n",
            ),
            (
                "infra/kustomization.yaml",
                "resources: [../shared/ns.yaml]\n",
            ),
            ("comps/monitoring/kustomization.yaml", "kind: Component\n"),
            ("patches/replicas.yaml", "x"),
            ("config/app.properties", "a=b"),
            ("shared/ns.yaml", "x"),
            ("shared/other.yaml", "x"),
            ("docs/readme.md", "x"),
        ],
    );
    let spec: RenderSpec = serde_json::from_value(json!({"path": "clusters/prod"})).unwrap();
    for changed in [
        "clusters/prod/new.yaml",
        "infra/deploy.yaml",
        "comps/monitoring/kustomization.yaml",
        "patches/replicas.yaml",
        "config/app.properties",
        "shared/ns.yaml",
        "some/.sourceignore",
    ] {
        assert!(
            matches!(
                reach::check(dir.path(), &spec, &[changed.into()]),
                Reach::Affected(_)
            ),
            "{changed} should affect the render"
        );
    }
    for unrelated in ["shared/other.yaml", "docs/readme.md", "clusters/dev/x.yaml"] {
        assert_eq!(
            reach::check(dir.path(), &spec, &[unrelated.into()]),
            Reach::Unaffected,
            "{unrelated} should not affect the render"
        );
    }
}

#[cfg(unix)]
#[test]
fn reachability_is_unsure_with_symlinks_or_remote_bases() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("app/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("elsewhere/cm.yaml", "x"),
            (
                "remote/kustomization.yaml",
                "resources: [https://github.com/org/repo//base]\n",
            ),
        ],
    );
    std::os::unix::fs::symlink("../elsewhere/cm.yaml", dir.path().join("app/cm.yaml")).unwrap();
    let spec: RenderSpec = serde_json::from_value(json!({"path": "app"})).unwrap();
    assert!(matches!(
        reach::check(dir.path(), &spec, &["elsewhere/cm.yaml".into()]),
        Reach::Affected(_)
    ));
    let remote: RenderSpec = serde_json::from_value(json!({"path": "remote"})).unwrap();
    assert!(matches!(
        reach::check(dir.path(), &remote, &["docs/x.md".into()]),
        Reach::Affected(_)
    ));
}

/// A tar.gz whose one entry is named `name` verbatim (no path checks).
fn raw_artifact(name: &str, data: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    header.as_gnu_mut().unwrap().name[..bytes.len()].copy_from_slice(bytes);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, data).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn artifact_with_dotdot_path_is_refused_as_artifact_failed() {
    let h = Harness::new();
    let digest = h
        .source
        .insert(raw_artifact("../escape.yaml", cm("x", "1").as_bytes()));
    let err = h
        .renderer
        .render(&request(&digest, "r1", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ArtifactFailed");
    assert!(err.to_string().contains("outside the destination"), "{err}");
    assert!(!h._dir.path().join("escape.yaml").exists());
    assert!(!h._dir.path().join("artifacts/escape.yaml").exists());
    assert_eq!(h.builds(), 0);
}

#[tokio::test]
async fn symlink_escaping_the_artifact_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    std::fs::write(&secret, cm("stolen", "top-secret")).unwrap();
    let h = Harness::new();
    for (spec, kustomization) in [
        (json!({"path": "app"}), true),
        (json!({"path": "app"}), false),
    ] {
        let mut entries = vec![Entry::symlink(
            "app/leak.yaml",
            secret.to_string_lossy().to_string(),
        )];
        if kustomization {
            entries.push(Entry::file(
                "app/kustomization.yaml",
                "resources: [leak.yaml]\n",
            ));
        }
        let digest = h.source.insert(pack(entries).unwrap().bytes);
        let err = h
            .renderer
            .render(&request(&digest, "r1", spec))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "BuildFailed", "{err}");
        assert!(err.to_string().contains("leak.yaml"), "{err}");
        assert!(!err.to_string().contains("top-secret"), "{err}");
    }
}

#[tokio::test]
async fn bad_yaml_fails_the_build_naming_the_file() {
    let h = Harness::new();
    let digest = h.artifact(&[
        (
            "app/kustomization.yaml",
            "resources: [good.yaml, bad.yaml]\n",
        ),
        ("app/good.yaml", &cm("good", "1")),
        (
            "app/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
        ),
    ]);
    let err = h
        .renderer
        .render(&request(&digest, "r1", json!({"path": "app"})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "BuildFailed");
    assert!(matches!(err, RenderError::Build(_)), "{err}");
    assert!(
        err.to_string().starts_with("kustomize build failed: "),
        "{err}"
    );
    assert!(err.to_string().contains("app/bad.yaml"), "{err}");
    // Unknown kustomization fields are named too.
    let digest = h.artifact(&[
        (
            "app/kustomization.yaml",
            "resources: [good.yaml]\nresourcez: []\n",
        ),
        ("app/good.yaml", &cm("good", "1")),
    ]);
    let err = h
        .renderer
        .render(&request(&digest, "r2", json!({"path": "app"})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "BuildFailed");
    assert!(err.to_string().contains("resourcez"), "{err}");
}

#[tokio::test]
async fn missing_path_and_missing_artifact_are_artifact_failed() {
    let h = Harness::new();
    let digest = h.artifact(&[("app/cm.yaml", &cm("a", "1"))]);
    let err = h
        .renderer
        .render(&request(&digest, "r1", json!({"path": "./nope"})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ArtifactFailed");
    assert!(err.to_string().contains("nope"), "{err}");
    let missing = format!("sha256:{}", "0".repeat(64));
    let err = h
        .renderer
        .render(&request(&missing, "r1", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ArtifactFailed");
    assert!(!err.is_transient());
    let err = h
        .renderer
        .render(&request("not-a-digest", "r1", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ArtifactFailed");
}

#[tokio::test]
async fn strict_substitution_fails_the_build_naming_object_and_variable() {
    let h = Harness::with_config(RendererConfig {
        strict_substitutions: true,
        ..Default::default()
    });
    let digest = h.artifact(&[("app/cm.yaml", &cm("cfg", "${undefined_var}"))]);
    let req = request(
        &digest,
        "r1",
        json!({"path": "app", "postBuild": {"substitute": {"other": "x"}}}),
    );
    let err = h.renderer.render(&req).await.unwrap_err();
    assert_eq!(err.reason(), "BuildFailed");
    let text = err.to_string();
    assert!(text.contains("~G_v1_ConfigMap/cfg"), "{text}");
    assert!(text.contains("undefined_var"), "{text}");
}

#[tokio::test]
async fn artifact_cache_evicts_least_recently_used_and_keeps_artifacts_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let source = ArtifactSource::memory();
    let big = "x".repeat(4000);
    let digests: Vec<_> = (0..3)
        .map(|i| {
            let packed = pack([Entry::file(format!("f{i}.txt"), big.clone())]).unwrap();
            let digest = packed.digest;
            source.insert(packed.bytes);
            digest
        })
        .collect();
    let cache = ArtifactCache::open(dir.path(), 9000, UnpackLimits::default()).unwrap();
    let a = cache.get(&digests[0], &source).await.unwrap();
    let b = cache.get(&digests[1], &source).await.unwrap();
    drop(b);
    // A is in use and B is not: adding C evicts B even though A is older.
    let c = cache.get(&digests[2], &source).await.unwrap();
    assert!(cache.contains(&digests[0]));
    assert!(!cache.contains(&digests[1]));
    assert!(cache.contains(&digests[2]));
    assert!(a.root().join("f0.txt").is_file());
    assert!(c.root().join("f2.txt").is_file());
    assert!(cache.total_bytes() <= 9000);
    assert_eq!(cache.unpack_count(), 3);
    // A cache opened on the same directory adopts what is there.
    drop((a, c));
    let reopened = ArtifactCache::open(dir.path(), 9000, UnpackLimits::default()).unwrap();
    assert!(reopened.contains(&digests[0]));
    assert_eq!(reopened.total_bytes(), 8000);
}

#[tokio::test]
async fn sops_encrypted_objects_pass_through_the_render_still_encrypted() {
    let h = Harness::new();
    // The applier decrypts right before apply; the render (and its store) keep ciphertext.
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  encrypted_regex: ^(data|stringData)$\n";
    let digest = h.artifact(&[("app/secret.yaml", secret)]);
    let req = request(
        &digest,
        "r1",
        json!({"path": "app", "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}}),
    );
    let rendered = h.renderer.render(&req).await.unwrap();
    let objs = objects(&rendered.manifests);
    assert_eq!(
        objs[0]["stringData"]["password"],
        json!("ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]")
    );
    assert_eq!(
        objs[0]["sops"]["encrypted_regex"],
        json!("^(data|stringData)$")
    );
}
