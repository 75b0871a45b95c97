//! Flux's kustomization generation and the CR's fields laid over a kustomization.

use std::sync::Arc;

use ferry_kustomize::{Fs, LoadRestrictor, MemFs, Options};
use kustomize_renderer::flux::generate::{Action, GenerateError, generate};
use kustomize_renderer::flux::spec::RenderSpec;
use kustomize_renderer::fs::OverlayFs;
use serde_json::{Value, json};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  k: v\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

fn spec(v: Value) -> RenderSpec {
    serde_json::from_value(v).unwrap()
}

fn kustomization(content: &str) -> Value {
    ferry_kustomize::yaml::parse_one("k", content, &Default::default()).unwrap()
}

/// Generates and builds `dir` as the renderer does (overlay, LoadRestrictionsNone).
fn build(fs: MemFs, dir: &str, spec: &RenderSpec) -> Vec<Value> {
    let base: Arc<dyn Fs> = Arc::new(fs);
    let generated = generate(&*base, dir, spec, &Default::default()).unwrap();
    let mut overlay = OverlayFs::new(base);
    overlay.insert(generated.path, generated.content);
    let options = Options {
        load_restrictor: LoadRestrictor::None,
        ..Default::default()
    };
    let mut objects = ferry_kustomize::build(&overlay, dir, &options).unwrap();
    kustomize_renderer::flux::generate::apply_common_metadata(&mut objects, spec);
    objects
}

#[test]
fn generation_lists_yaml_files_and_kustomization_subdirs_like_flux() {
    let fs = MemFs::new()
        .with("apps/b.yaml", cm("b"))
        .with("apps/a.yml", cm("a"))
        .with("apps/README.md", "# not a manifest")
        .with("apps/nested/deeper/c.yaml", cm("c"))
        .with("apps/sub/kustomization.yaml", "resources: [d.yaml]\n")
        .with("apps/sub/d.yaml", cm("d"))
        .with("apps/sub/ignored.yaml", cm("ignored"));
    let generated = generate(&fs, "apps", &RenderSpec::default(), &Default::default()).unwrap();
    assert_eq!(generated.action, Action::Created);
    assert_eq!(generated.path, "apps/kustomization.yaml");
    let kus = kustomization(&generated.content);
    assert_eq!(
        kus["resources"],
        json!(["./a.yml", "./b.yaml", "./nested/deeper/c.yaml", "./sub"])
    );
    assert_eq!(kus["kind"], json!("Kustomization"));
    let names: Vec<_> = build(fs, "apps", &RenderSpec::default())
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
}

#[test]
fn generation_of_an_empty_path_uses_a_placeholder_namespace() {
    let fs = MemFs::new().with("empty/notes.txt", "nothing");
    let generated = generate(&fs, "empty", &RenderSpec::default(), &Default::default()).unwrap();
    assert_eq!(
        kustomization(&generated.content)["namespace"],
        json!("_placeholder")
    );
}

#[test]
fn generation_fails_on_invalid_yaml_naming_the_file() {
    let fs = MemFs::new()
        .with("apps/good.yaml", cm("good"))
        .with("apps/bad.yaml", "kind: [unclosed\n");
    let err = generate(&fs, "apps", &RenderSpec::default(), &Default::default()).unwrap_err();
    assert!(matches!(&err, GenerateError::Decode { path, .. } if path == "apps/bad.yaml"));
    assert!(
        err.to_string()
            .starts_with("failed to decode Kubernetes YAML from apps/bad.yaml")
    );
}

#[test]
fn existing_kustomization_is_kept_and_wrapped_with_the_cr_fields() {
    let fs = MemFs::new().with(
        "app/kustomization.yml",
        "resources: [cm.yaml]\nnamePrefix: old-\nimages:\n- name: nginx\n  newTag: \"1.0\"\n",
    );
    let s = spec(json!({
        "targetNamespace": "prod",
        "namePrefix": "p-",
        "nameSuffix": "-s",
        "images": [{"name": "nginx", "newName": "registry/nginx"}, {"name": "redis", "newTag": "7"}],
        "patches": [{"patch": "- op: add\n  path: /data/x\n  value: y\n", "target": {"kind": "ConfigMap", "labelSelector": ""}}],
    }));
    let generated = generate(&fs, "app", &s, &Default::default()).unwrap();
    assert_eq!(generated.action, Action::Unchanged);
    assert_eq!(generated.path, "app/kustomization.yml");
    let kus = kustomization(&generated.content);
    assert_eq!(kus["namespace"], json!("prod"));
    assert_eq!(kus["namePrefix"], json!("p-"));
    assert_eq!(kus["nameSuffix"], json!("-s"));
    assert_eq!(
        kus["images"],
        json!([
            {"name": "nginx", "newName": "registry/nginx", "newTag": "1.0"},
            {"name": "redis", "newTag": "7"}
        ])
    );
    assert_eq!(kus["patches"][0]["target"], json!({"kind": "ConfigMap"}));
    assert!(kus.get("buildMetadata").is_none());
}

#[test]
fn image_override_with_tag_replaces_tag_and_digest_together() {
    let fs = MemFs::new().with(
        "app/kustomization.yaml",
        "resources: []\nimages:\n- name: nginx\n  newTag: \"1.0\"\n  digest: sha256:abc\n",
    );
    let s = spec(json!({"images": [{"name": "nginx", "newTag": "2.0"}]}));
    let kus = kustomization(
        &generate(&fs, "app", &s, &Default::default())
            .unwrap()
            .content,
    );
    assert_eq!(kus["images"], json!([{"name": "nginx", "newTag": "2.0"}]));
}

#[test]
fn kustomization_without_resources_gets_origin_build_metadata_like_flux() {
    let fs = MemFs::new().with("app/kustomization.yaml", "components: [../c]\n");
    let kus = kustomization(
        &generate(&fs, "app", &RenderSpec::default(), &Default::default())
            .unwrap()
            .content,
    );
    assert_eq!(kus["buildMetadata"], json!(["originAnnotations"]));
}

#[test]
fn components_must_be_local_and_missing_ones_can_be_ignored() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources: [cm.yaml]\n")
        .with("app/cm.yaml", cm("x"))
        .with("components/extra/kustomization.yaml", "kind: Component\n");
    let remote = spec(json!({"components": ["github.com/org/repo//c"]}));
    assert_eq!(
        generate(&fs, "app", &remote, &Default::default()).unwrap_err(),
        GenerateError::Component("github.com/org/repo//c".into())
    );
    let s = spec(json!({
        "components": ["../components/extra", "../components/missing"],
        "ignoreMissingComponents": true
    }));
    let kus = kustomization(
        &generate(&fs, "app", &s, &Default::default())
            .unwrap()
            .content,
    );
    assert_eq!(kus["components"], json!(["../components/extra"]));
    let keep = spec(json!({"components": ["../components/missing"]}));
    let kus = kustomization(
        &generate(&fs, "app", &keep, &Default::default())
            .unwrap()
            .content,
    );
    assert_eq!(kus["components"], json!(["../components/missing"]));
}

#[test]
fn cr_patches_images_prefix_namespace_and_common_metadata_are_applied_to_the_build() {
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n";
    let fs = MemFs::new()
        .with("base/deploy.yaml", deploy)
        .with("base/cm.yaml", cm("settings"))
        .with("comp/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  from-component: \"yes\"\n");
    let s = spec(json!({
        "path": "./base",
        "targetNamespace": "prod",
        "namePrefix": "p-",
        "images": [{"name": "nginx", "newTag": "1.25"}],
        "components": ["../comp"],
        "patches": [{
            "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
            "target": {"kind": "Deployment"}
        }],
        "commonMetadata": {"labels": {"team": "platform", "app": "override"}, "annotations": {"owner": "ops"}}
    }));
    let objects = build(fs, "base", &s);
    let deploy = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment");
    assert_eq!(deploy["metadata"]["name"], json!("p-web"));
    assert_eq!(deploy["metadata"]["namespace"], json!("prod"));
    assert_eq!(deploy["spec"]["replicas"], json!(3));
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.25")
    );
    assert_eq!(deploy["metadata"]["labels"]["team"], json!("platform"));
    assert_eq!(deploy["metadata"]["labels"]["app"], json!("override"));
    assert_eq!(deploy["metadata"]["annotations"]["owner"], json!("ops"));
    assert_eq!(
        deploy["metadata"]["annotations"]["from-component"],
        json!("yes")
    );
    // commonMetadata never touches selectors or templates.
    assert_eq!(
        deploy["spec"]["selector"]["matchLabels"],
        json!({"app": "web"})
    );
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["name"], json!("p-settings"));
    assert_eq!(cm["metadata"]["labels"]["team"], json!("platform"));
}

#[test]
fn overlay_never_writes_to_the_base_file_system() {
    let base: Arc<dyn Fs> = Arc::new(MemFs::new().with("app/cm.yaml", cm("x")));
    let mut overlay = OverlayFs::new(base.clone());
    overlay.insert("app/kustomization.yaml", "resources: [cm.yaml]\n");
    assert_eq!(
        overlay.list("app").unwrap(),
        ["cm.yaml", "kustomization.yaml"]
    );
    assert!(base.kind("app/kustomization.yaml").is_none());
}
