//! Feature tests: each builds an in-memory kustomization and checks the exact output.
//! Expected outputs were produced with kustomize v5.5.0 on the same inputs.

use ferry_kustomize::{MemFs, Options, build_yaml};

fn build(files: &[(&str, &str)], dir: &str) -> String {
    let mut fs = MemFs::new();
    for (path, content) in files {
        fs.add(path, *content);
    }
    match build_yaml(&fs, dir, &Options::default()) {
        Ok(out) => out,
        Err(e) => panic!("build failed: {e}"),
    }
}

#[test]
fn resources_are_emitted_in_legacy_kind_order() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
- svc.yaml
- ns.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
        (
            r#"app/ns.yaml"#,
            r#"apiVersion: v1
kind: Namespace
metadata:
  name: team
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn sort_options_fifo_keeps_input_order() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"sortOptions:
  order: fifo
resources:
- deploy.yaml
- svc.yaml
- ns.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
        (
            r#"app/ns.yaml"#,
            r#"apiVersion: v1
kind: Namespace
metadata:
  name: team
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
---
apiVersion: v1
kind: Namespace
metadata:
  name: team
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn name_prefix_and_suffix_update_references() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: dev-
nameSuffix: -v2
resources:
- deploy.yaml
- cm.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: dev-web-config-v2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: dev-web-v2
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: dev-web-config-v2
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn overlay_prefix_stacks_on_base_prefix() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"namePrefix: base-
resources:
- deploy.yaml
- cm.yaml
"#,
        ),
        (
            r#"base/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"base/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"namePrefix: prod-
resources:
- ../base
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: prod-base-web-config
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: prod-base-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: prod-base-web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn config_map_generator_hash_suffix_propagates_to_references() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
configMapGenerator:
- name: web-config
  literals:
  - mode=fancy
  - replicas=3
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: fancy
  replicas: "3"
kind: ConfigMap
metadata:
  name: web-config-hgkgg5m4k4
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config-hgkgg5m4k4
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn config_map_generator_reads_files_and_env_files() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"configMapGenerator:
- name: files
  files:
  - app.properties
  - renamed.txt=notes.txt
  envs:
  - vars.env
"#,
        ),
        (
            r#"app/app.properties"#,
            r#"color=blue
size=large
"#,
        ),
        (
            r#"app/notes.txt"#,
            r#"hello
"#,
        ),
        (
            r#"app/vars.env"#,
            r#"# comment
A=1
B=two words
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  A: "1"
  B: two words
  app.properties: |
    color=blue
    size=large
  renamed.txt: |
    hello
kind: ConfigMap
metadata:
  name: files-t42gfcbfc4
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn secret_generator_encodes_base64_with_type() {
    let files = [(
        r#"app/kustomization.yaml"#,
        r#"secretGenerator:
- name: creds
  type: kubernetes.io/basic-auth
  literals:
  - username=admin
  - password=s3cr3t
"#,
    )];
    let expected = r#"apiVersion: v1
data:
  password: czNjcjN0
  username: YWRtaW4=
kind: Secret
metadata:
  name: creds-44t89c8h7g
type: kubernetes.io/basic-auth
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn generator_options_add_labels_and_disable_hash() {
    let files = [(
        r#"app/kustomization.yaml"#,
        r#"generatorOptions:
  disableNameSuffixHash: true
  labels:
    generated: "yes"
  annotations:
    note: generated
configMapGenerator:
- name: plain
  literals:
  - a=b
"#,
    )];
    let expected = r#"apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  annotations:
    note: generated
  labels:
    generated: "yes"
  name: plain
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn generator_merge_behavior_combines_data_from_base() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"configMapGenerator:
- name: settings
  literals:
  - a=1
  - b=2
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"resources:
- ../base
configMapGenerator:
- name: settings
  behavior: merge
  literals:
  - b=20
  - c=30
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  a: "1"
  b: "20"
  c: "30"
kind: ConfigMap
metadata:
  name: settings-76km87g2ff
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn patches_strategic_merge_merges_containers_by_name() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
patchesStrategicMerge:
- patch.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/patch.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.26
        env:
        - name: LEVEL
          value: debug
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - env:
        - name: LEVEL
          value: debug
        envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.26
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn strategic_merge_delete_directive_removes_list_element() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: sidecar
            $patch: delete
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn json6902_patch_with_label_selector_target() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
- svc.yaml
patches:
- target:
    kind: Deployment
    labelSelector: app=web
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 5
    - op: add
      path: /metadata/annotations
      value:
        patched: "true"
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    patched: "true"
  labels:
    app: web
  name: web
spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn patches_json6902_field_with_regex_name_target() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
patchesJson6902:
- target:
    group: apps
    version: v1
    kind: Deployment
    name: w.*
  path: ops.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/ops.yaml"#,
            r#"- op: remove
  path: /spec/template/spec/containers/1
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn common_labels_reach_selectors_and_templates() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"commonLabels:
  team: blue
resources:
- deploy.yaml
- svc.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Service
metadata:
  labels:
    team: blue
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
    team: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
    team: blue
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
      team: blue
  template:
    metadata:
      labels:
        app: web
        team: blue
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn labels_without_selectors_touch_only_metadata() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"labels:
- pairs:
    owner: ops
- pairs:
    tier: front
  includeTemplates: true
resources:
- deploy.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
    owner: ops
    tier: front
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn namespace_sets_namespaced_objects_and_rolebinding_subjects() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namespace: prod
resources:
- ns.yaml
- cm.yaml
- rb.yaml
"#,
        ),
        (
            r#"app/ns.yaml"#,
            r#"apiVersion: v1
kind: Namespace
metadata:
  name: team
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"app/rb.yaml"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: default
  namespace: other
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Namespace
metadata:
  name: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: prod
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: default
  namespace: prod
---
apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: web-config
  namespace: prod
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn common_annotations_reach_pod_templates() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"commonAnnotations:
  owner: platform
resources:
- deploy.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    owner: platform
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      annotations:
        owner: platform
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn images_rewrite_name_tag_and_digest() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"images:
- name: nginx
  newName: registry.example/nginx
  newTag: "1.27"
- name: busybox
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
resources:
- deploy.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: registry.example/nginx:1.27
        name: web
      - image: busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn replicas_set_count_by_name() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"replicas:
- name: web
  count: 7
resources:
- deploy.yaml
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 7
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn vars_substitute_service_name_into_args() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: x-
resources:
- svc.yaml
- pod.yaml
vars:
- name: SVC
  objref:
    kind: Service
    name: web
    apiVersion: v1
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
        (
            r#"app/pod.yaml"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  containers:
  - name: c
    image: curl
    args:
    - http://$(SVC):80
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Service
metadata:
  name: x-web
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
---
apiVersion: v1
kind: Pod
metadata:
  name: x-client
spec:
  containers:
  - args:
    - http://x-web:80
    image: curl
    name: c
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn replacements_copy_image_into_env() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
replacements:
- source:
    kind: Deployment
    name: web
    fieldPath: spec.template.spec.containers.[name=web].image
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=sidecar].image
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
    ];
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: nginx:1.25
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn components_add_resources_and_patches() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
"#,
        ),
        (
            r#"base/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"comp/kustomization.yaml"#,
            r#"apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- cm.yaml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 2
"#,
        ),
        (
            r#"comp/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"resources:
- ../base
components:
- ../comp
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: web-config
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn prefix_suffix_transformer_config_in_transformers_field() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- cm.yaml
transformers:
- prefix.yaml
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"app/prefix.yaml"#,
            r#"apiVersion: builtin
kind: PrefixSuffixTransformer
metadata:
  name: p
prefix: pre-
fieldSpecs:
- path: metadata/name
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: pre-web-config
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn origin_annotations_record_source_paths() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- cm.yaml
"#,
        ),
        (
            r#"base/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"buildMetadata: [originAnnotations]
resources:
- ../base
configMapGenerator:
- name: gen
  literals:
  - k=v
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/origin: |
      configuredIn: kustomization.yaml
      configuredBy:
        apiVersion: builtin
        kind: ConfigMapGenerator
  name: gen-bdg947hgcc
---
apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: ../base/cm.yaml
  name: web-config
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn custom_configuration_adds_name_reference_for_crd() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: p-
configurations:
- refs.yaml
resources:
- cm.yaml
- cr.yaml
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"app/cr.yaml"#,
            r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  configName: web-config
"#,
        ),
        (
            r#"app/refs.yaml"#,
            r#"nameReference:
- kind: ConfigMap
  fieldSpecs:
  - kind: Widget
    path: spec/configName
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: p-web-config
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: p-w
spec:
  configName: p-web-config
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn quoted_scalars_keep_their_string_type() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- cm.yaml
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: q
  annotations:
    port: 8080
data:
  a: "true"
  b: "0755"
  c: "on"
  d: "1.5"
  e: ""
  f: "null"
  g: "multi\nline\n"
  h: "it's"
  i: "- dash"
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  a: "true"
  b: "0755"
  c: "on"
  d: "1.5"
  e: ""
  f: "null"
  g: |
    multi
    line
  h: it's
  i: '- dash'
kind: ConfigMap
metadata:
  annotations:
    port: "8080"
  name: q
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn crds_file_declares_name_reference_of_custom_kind() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: x-
crds:
- crd.json
resources:
- secret.yaml
- kind.yaml
"#,
        ),
        (
            r#"app/crd.json"#,
            r#"{"example.com/v1.Gadget": {"Schema": {"properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}, "spec": {"$ref": "example.com/v1.GadgetSpec"}}}},
 "example.com/v1.GadgetSpec": {"Schema": {"properties": {"secretRef": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Secret", "$ref": "example.com/v1.Ref"}}}},
 "example.com/v1.Ref": {"Schema": {"properties": {"name": {"type": "string"}}}}}
"#,
        ),
        (
            r#"app/secret.yaml"#,
            r#"apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
"#,
        ),
        (
            r#"app/kind.yaml"#,
            r#"apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
spec:
  secretRef:
    name: creds
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Secret
metadata:
  name: x-creds
type: Opaque
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: x-g
spec:
  secretRef:
    name: x-creds
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn iam_policy_generator_makes_bound_service_account() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"generators:
- iam.yaml
"#,
        ),
        (
            r#"app/iam.yaml"#,
            r#"apiVersion: builtin
kind: IAMPolicyGenerator
metadata:
  name: gen
cloud: gke
kubernetesService:
  namespace: apps
  name: runner
serviceAccount:
  name: robot
  projectId: my-project
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: ServiceAccount
metadata:
  annotations:
    iam.gke.io/gcp-service-account: robot@my-project.iam.gserviceaccount.com
  name: runner
  namespace: apps
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn replacements_reject_matches_original_names() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
"#,
        ),
        (
            r#"base/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"namePrefix: p-
resources:
- ../base
- cm.yaml
replacements:
- source:
    kind: ConfigMap
    name: web-config
    fieldPath: data.mode
  targets:
  - select:
      kind: Deployment
    reject:
    - name: web
    fieldPaths:
    - spec.template.spec.containers.0.name
"#,
        ),
        (
            r#"prod/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: p-web-config
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: p-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: p-web-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn patch_with_allow_name_change_renames_and_updates_references() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
- cm.yaml
patches:
- target:
    kind: ConfigMap
  options:
    allowNameChange: true
  patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: renamed-config
"#,
        ),
        (
            r#"app/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: renamed-config
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: renamed-config
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn repeated_key_in_kustomization_keeps_last_value() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: first-
resources:
- cm.yaml
namePrefix: last-
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: last-web-config
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn secret_data_longer_than_seventy_columns_is_wrapped() {
    let files = [(
        r#"app/kustomization.yaml"#,
        r#"secretGenerator:
- name: long
  literals:
  - key=01234567890123456789012345678901234567890123456789012345678901234567890123456789
"#,
    )];
    let expected = r#"apiVersion: v1
data:
  key: |
    MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMT
    IzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODk=
kind: Secret
metadata:
  name: long-f222t8d7c8
type: Opaque
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn local_config_objects_are_dropped_from_output() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- cm.yaml
- local.yaml
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"app/local.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: local
  annotations:
    config.kubernetes.io/local-config: "true"
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  name: web-config
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn namespace_does_not_touch_cluster_scoped_kinds() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namespace: prod
resources:
- cr.yaml
"#,
        ),
        (
            r#"app/cr.yaml"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules: []
---
apiVersion: example.com/v1
kind: Namespace
metadata:
  name: custom-kind-named-namespace
"#,
        ),
    ];
    let expected = r#"apiVersion: example.com/v1
kind: Namespace
metadata:
  name: custom-kind-named-namespace
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules: []
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn strategic_merge_replaces_lists_of_kinds_without_schema() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- w.yaml
patches:
- path: p.yaml
"#,
        ),
        (
            r#"app/w.yaml"#,
            r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: a
    size: 1
  - name: b
    size: 2
"#,
        ),
        (
            r#"app/p.yaml"#,
            r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: b
    size: 20
"#,
        ),
    ];
    let expected = r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: b
    size: 20
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn custom_openapi_schema_gives_merge_keys_to_custom_kinds() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"openapi:
  path: schema.json
resources:
- w.yaml
patches:
- path: p.yaml
"#,
        ),
        (
            r#"app/w.yaml"#,
            r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: a
    size: 1
  - name: b
    size: 2
"#,
        ),
        (
            r#"app/p.yaml"#,
            r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: b
    size: 20
"#,
        ),
        (
            r#"app/schema.json"#,
            r#"{"definitions": {"example.v1.Widget": {"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}, "spec": {"type": "object", "properties": {"parts": {"type": "array", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge", "items": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}}}}}, "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}]}}}
"#,
        ),
    ];
    let expected = r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: b
    size: 20
  - name: a
    size: 1
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn strategic_merge_merges_service_ports_by_port() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- svc.yaml
patches:
- patch: |-
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
      - port: 443
        targetPort: 8443
      - port: 80
        name: http
"#,
        ),
        (
            r#"app/svc.yaml"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 443
    targetPort: 8443
  - name: http
    port: 80
    targetPort: 8080
  selector:
    app: web
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn transformer_annotations_list_builtin_transformers_per_object() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"namePrefix: b-
resources:
- cm.yaml
"#,
        ),
        (
            r#"base/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: plain
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"buildMetadata: [transformerAnnotations]
namespace: prod
commonLabels:
  env: prod
resources:
- ../base
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: plain
kind: ConfigMap
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: ../base/kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PrefixTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: NamespaceTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
  labels:
    env: prod
  name: b-web-config
  namespace: prod
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn overlay_generator_replace_keeps_references_updated() {
    let files = [
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- deploy.yaml
configMapGenerator:
- name: web-config
  literals:
  - mode=base
"#,
        ),
        (
            r#"base/deploy.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
      - name: sidecar
        image: busybox
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"namePrefix: prod-
resources:
- ../base
configMapGenerator:
- name: web-config
  behavior: replace
  literals:
  - mode=prod
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  mode: prod
kind: ConfigMap
metadata:
  name: prod-web-config-mgc92dd9c6
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: prod-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: prod-web-config-mgc92dd9c6
        image: nginx:1.25
        name: web
      - image: busybox
        name: sidecar
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn role_binding_role_ref_follows_renamed_role_only() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: p-
resources:
- rbac.yaml
"#,
        ),
        (
            r#"app/rbac.yaml"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bind
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: reader
subjects:
- kind: User
  name: alice
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bind2
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: User
  name: bob
"#,
        ),
    ];
    let expected = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: p-reader
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: p-bind
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: reader
subjects:
- kind: User
  name: alice
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: p-bind2
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: p-reader
subjects:
- kind: User
  name: bob
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn long_strings_fold_at_eighty_columns_like_kustomize() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"resources:
- cm.yaml
"#,
        ),
        (
            r#"app/cm.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: long
  annotations:
    description: "lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet end"
data:
  quoted: "it's a very long value with a quote a very long value with a quote a very long value with a quote a very long value with a quote "
  escaped: "tab\there and a long tail of words and a long tail of words and a long tail of words and a long tail of words and a long tail of words \n"
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  escaped: "tab\there and a long tail of words and a long tail of words and a long
    tail of words and a long tail of words and a long tail of words \n"
  quoted: 'it''s a very long value with a quote a very long value with a quote a very
    long value with a quote a very long value with a quote '
kind: ConfigMap
metadata:
  annotations:
    description: lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum
      dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum
      dolor sit amet end
  name: long
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn multiline_values_use_literal_blocks_with_indent_hints() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"configMapGenerator:
- name: text
  files:
  - leading.txt
  - plain.txt
  - nofinal.txt
"#,
        ),
        (
            r#"app/leading.txt"#,
            r#"
starts with a blank line
"#,
        ),
        (
            r#"app/plain.txt"#,
            r#"one
two
"#,
        ),
        (
            r#"app/nofinal.txt"#,
            r#"no final newline
here"#,
        ),
    ];
    let expected = r#"apiVersion: v1
data:
  leading.txt: |2

    starts with a blank line
  nofinal.txt: |-
    no final newline
    here
  plain.txt: |
    one
    two
kind: ConfigMap
metadata:
  name: text-m6thh2hf55
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn configuration_name_prefix_spec_for_one_kind_replaces_generic_spec() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namePrefix: p-
configurations:
- c.yaml
resources:
- r.yaml
"#,
        ),
        (
            r#"app/c.yaml"#,
            r#"namePrefix:
- path: metadata/name
  kind: Foo
"#,
        ),
        (
            r#"app/r.yaml"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
apiVersion: x/v1
kind: Foo
metadata:
  name: f
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
apiVersion: x/v1
kind: Foo
metadata:
  name: p-f
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}

#[test]
fn realistic_statefulset_overlay_matches_kustomize() {
    let files = [
        (
            r#"base/all.yaml"#,
            r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      serviceAccountName: db
      initContainers:
      - name: init
        image: busybox:1.35
      containers:
      - name: db
        image: postgres:15
        envFrom:
        - secretRef:
            name: db-creds
        volumeMounts:
        - name: data
          mountPath: /var/lib/postgresql
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: db
  ports:
  - port: 5432
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: db
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: db-view
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: db
  namespace: default
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: db
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: db
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: db
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: db
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: postgres:15
            envFrom:
            - secretRef:
                name: db-creds
            - configMapRef:
                name: backup-config
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  ingressClassName: nginx
  tls:
  - hosts: [a.example.com]
    secretName: tls
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: db
            port:
              number: 5432
"#,
        ),
        (
            r#"base/tls.key"#,
            r#"KEY
"#,
        ),
        (
            r#"base/tls.crt"#,
            r#"CERT
"#,
        ),
        (
            r#"base/creds.env"#,
            r#"POSTGRES_USER=app
POSTGRES_PASSWORD=s3cret
"#,
        ),
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- all.yaml
secretGenerator:
- name: db-creds
  envs:
  - creds.env
- name: tls
  type: kubernetes.io/tls
  files:
  - tls.crt
  - tls.key
configMapGenerator:
- name: backup-config
  literals:
  - RETENTION=7
  - ENABLED=true
"#,
        ),
        (
            r#"prod/kustomization.yaml"#,
            r#"namespace: prod
namePrefix: prod-
nameSuffix: -v1
commonLabels:
  env: prod
commonAnnotations:
  team: data
resources:
- ../base
images:
- name: postgres
  newTag: "16.1"
- name: busybox
  newName: registry.local/busybox
  digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
replicas:
- name: db
  count: 3
configMapGenerator:
- name: backup-config
  behavior: merge
  literals:
  - RETENTION=30
patches:
- target:
    kind: StatefulSet
  patch: |-
    - op: copy
      from: /spec/template/spec/containers/0/image
      path: /metadata/annotations/db-image
    - op: test
      path: /spec/serviceName
      value: db
- patch: |-
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata:
      name: db
    spec:
      ingress:
      - $patch: replace
      - from:
        - namespaceSelector: {}
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: ServiceAccount
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-view-v1
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: prod-db-v1
  namespace: prod
---
apiVersion: v1
data:
  ENABLED: "true"
  RETENTION: "30"
kind: ConfigMap
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-backup-config-v1-2bh95d274k
  namespace: prod
---
apiVersion: v1
data:
  POSTGRES_PASSWORD: czNjcmV0
  POSTGRES_USER: YXBw
kind: Secret
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-creds-v1-dk5g769285
  namespace: prod
type: Opaque
---
apiVersion: v1
data:
  tls.crt: Q0VSVAo=
  tls.key: S0VZCg==
kind: Secret
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-tls-v1-2bk8c2k248
  namespace: prod
type: kubernetes.io/tls
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
spec:
  clusterIP: None
  ports:
  - port: 5432
  selector:
    app: db
    env: prod
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  annotations:
    db-image: postgres:15
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
spec:
  replicas: 3
  selector:
    matchLabels:
      app: db
      env: prod
  serviceName: prod-db-v1
  template:
    metadata:
      annotations:
        team: data
      labels:
        app: db
        env: prod
    spec:
      containers:
      - envFrom:
        - secretRef:
            name: prod-db-creds-v1-dk5g769285
        image: postgres:16.1
        name: db
        volumeMounts:
        - mountPath: /var/lib/postgresql
          name: data
      initContainers:
      - image: registry.local/busybox@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        name: init
      serviceAccountName: prod-db-v1
  volumeClaimTemplates:
  - metadata:
      labels:
        env: prod
      name: data
    spec:
      accessModes:
      - ReadWriteOnce
      resources:
        requests:
          storage: 1Gi
---
apiVersion: batch/v1
kind: CronJob
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-backup-v1
  namespace: prod
spec:
  jobTemplate:
    metadata:
      annotations:
        team: data
      labels:
        env: prod
    spec:
      template:
        metadata:
          annotations:
            team: data
          labels:
            env: prod
        spec:
          containers:
          - envFrom:
            - secretRef:
                name: prod-db-creds-v1-dk5g769285
            - configMapRef:
                name: prod-backup-config-v1-2bh95d274k
            image: postgres:16.1
            name: backup
          restartPolicy: OnFailure
  schedule: 0 3 * * *
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: db
      env: prod
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
spec:
  maxReplicas: 3
  minReplicas: 1
  scaleTargetRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: prod-db-v1
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-web-v1
  namespace: prod
spec:
  ingressClassName: nginx
  rules:
  - host: a.example.com
    http:
      paths:
      - backend:
          service:
            name: prod-db-v1
            port:
              number: 5432
        path: /
        pathType: Prefix
  tls:
  - hosts:
    - a.example.com
    secretName: prod-tls-v1-2bk8c2k248
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  annotations:
    team: data
  labels:
    env: prod
  name: prod-db-v1
  namespace: prod
spec:
  ingress:
  - $patch: replace
  - from:
    - namespaceSelector: {}
  podSelector:
    matchLabels:
      app: db
      env: prod
"#;
    assert_eq!(build(&files, r#"prod"#), expected);
}

#[test]
fn realistic_component_overlay_with_vars_and_replacements_matches_kustomize() {
    let files = [
        (
            r#"dev/kustomization.yaml"#,
            r#"namePrefix: dev-
labels:
- pairs:
    tier: backend
  includeSelectors: false
  includeTemplates: true
resources:
- ../base
components:
- ../comp
images:
- name: example/api
  newTag: "2.0"
patches:
- target:
    kind: Ingress
  patch: |-
    - op: replace
      path: /spec/rules/0/host
      value: dev.example.com
"#,
        ),
        (
            r#"comp/kustomization.yaml"#,
            r#"apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
      annotations:
        drop-me: null
    spec:
      strategy:
        $patch: replace
        type: Recreate
      template:
        spec:
          containers:
          - name: api
            env:
            - name: B
              $patch: delete
            - name: C
              value: "3"
            ports:
            - containerPort: 9090
              name: metrics
          - name: proxy
            image: envoyproxy/envoy:v1.28
replacements:
- source:
    kind: Deployment
    name: api
    fieldPath: spec.template.spec.containers.[name=api].image
    options:
      delimiter: ":"
      index: 1
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - metadata.labels.version
    options:
      create: true
"#,
        ),
        (
            r#"base/kustomization.yaml"#,
            r#"resources:
- app.yaml
vars:
- name: HOST
  objref:
    kind: Ingress
    name: api
    apiVersion: networking.k8s.io/v1
  fieldref:
    fieldpath: spec.rules[0].host
"#,
        ),
        (
            r#"base/app.yaml"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    drop-me: "x"
spec:
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      tolerations:
      - key: a
        operator: Exists
      containers:
      - name: api
        image: example/api:1.0
        args: ["--port=8080", "--host=$(HOST)"]
        env:
        - name: A
          value: "1"
        - name: B
          value: "2"
        ports:
        - containerPort: 8080
          name: http
        resources:
          limits:
            cpu: "1"
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
spec:
  rules:
  - host: api.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: api
            port:
              name: http
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Service
metadata:
  labels:
    tier: backend
  name: dev-api
spec:
  ports:
  - name: http
    port: 80
    targetPort: http
  selector:
    app: api
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    tier: backend
    version: "1.0"
  name: dev-api
spec:
  selector:
    matchLabels:
      app: api
  strategy:
    type: Recreate
  template:
    metadata:
      labels:
        app: api
        tier: backend
    spec:
      containers:
      - args:
        - --port=8080
        - --host=dev.example.com
        env:
        - name: C
          value: "3"
        - name: A
          value: "1"
        image: example/api:2.0
        name: api
        ports:
        - containerPort: 9090
          name: metrics
        - containerPort: 8080
          name: http
        resources:
          limits:
            cpu: "1"
      - image: envoyproxy/envoy:v1.28
        name: proxy
      tolerations:
      - key: a
        operator: Exists
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  labels:
    tier: backend
  name: dev-api
spec:
  rules:
  - host: dev.example.com
    http:
      paths:
      - backend:
          service:
            name: dev-api
            port:
              name: http
        path: /
        pathType: Prefix
"#;
    assert_eq!(build(&files, r#"dev"#), expected);
}

#[test]
fn generators_images_replicas_and_custom_sort_across_bases_match_kustomize() {
    let files = [
        (
            r#"ov/kustomization.yaml"#,
            r#"bases:
- ../base
nameSuffix: -x
sortOptions:
  order: legacy
  legacySortOptions:
    orderFirst:
    - Pipeline
    orderLast:
    - ConfigMap
labels:
- pairs:
    custom: yes-please
  fields:
  - kind: Pipeline
    path: spec/steps[]/labels
    create: true
images:
- name: example/worker
  newName: registry.local/worker
- name: nginx
  newTag: "1.27"
replicas:
- name: web
  count: 2
secretGenerator:
- name: token
  namespace: jobs
  behavior: replace
  literals:
  - t=xyz
patchesStrategicMerge:
- |-
  apiVersion: v1
  kind: Pod
  metadata:
    name: worker
    namespace: jobs
  spec:
    containers:
    - name: w
      env:
      - name: X
        value: "1"
"#,
        ),
        (
            r#"base/kustomization.yaml"#,
            r#"namePrefix: b-
resources:
- r.yaml
configMapGenerator:
- name: settings
  namespace: jobs
  literals:
  - mode=base
secretGenerator:
- name: token
  namespace: jobs
  literals:
  - t=abc
generatorOptions:
  immutable: true
  labels:
    gen: "true"
"#,
        ),
        (
            r#"base/r.yaml"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: worker
  namespace: jobs
spec:
  containers:
  - name: w
    image: example/worker
    volumeMounts:
    - name: cfg
      mountPath: /cfg
  volumes:
  - name: cfg
    configMap:
      name: settings
  - name: proj
    projected:
      sources:
      - configMap:
          name: settings
      - secret:
          name: token
---
apiVersion: example.com/v1
kind: Pipeline
metadata:
  name: p
spec:
  steps:
  - name: build
    containers:
    - name: c
      image: example/worker:0.1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx
"#,
        ),
    ];
    let expected = r#"apiVersion: example.com/v1
kind: Pipeline
metadata:
  labels:
    custom: yes-please
  name: b-p-x
spec:
  steps:
  - containers:
    - image: registry.local/worker:0.1
      name: c
    labels:
      custom: yes-please
    name: build
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    custom: yes-please
  name: b-web-x
spec:
  replicas: 2
  template:
    spec:
      containers:
      - image: nginx:1.27
        name: web
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    custom: yes-please
  name: b-worker-x
  namespace: jobs
spec:
  containers:
  - env:
    - name: X
      value: "1"
    image: registry.local/worker
    name: w
    volumeMounts:
    - mountPath: /cfg
      name: cfg
  volumes:
  - configMap:
      name: b-settings-x-95b7hhtd74
    name: cfg
  - name: proj
    projected:
      sources:
      - configMap:
          name: b-settings-x-95b7hhtd74
      - secret:
          name: b-token-x-d6t5dh5652
---
apiVersion: v1
data:
  t: eHl6
kind: Secret
metadata:
  labels:
    custom: yes-please
    gen: "true"
  name: b-token-x-d6t5dh5652
  namespace: jobs
type: Opaque
---
apiVersion: v1
data:
  mode: base
immutable: true
kind: ConfigMap
metadata:
  labels:
    custom: yes-please
    gen: "true"
  name: b-settings-x-95b7hhtd74
  namespace: jobs
"#;
    assert_eq!(build(&files, r#"ov"#), expected);
}

#[test]
fn namespace_prefix_and_selector_labels_on_cluster_and_webhook_kinds_match_kustomize() {
    let files = [
        (
            r#"app/kustomization.yaml"#,
            r#"namespace: newns
namePrefix: n-
labels:
- pairs:
    l: v
  includeSelectors: true
resources:
- r.yaml
"#,
        ),
        (
            r#"app/r.yaml"#,
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: vw
webhooks:
- name: v.example.com
  clientConfig:
    service:
      name: hook
      namespace: default
      path: /validate
  admissionReviewVersions: [v1]
  sideEffects: None
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.metrics.example.com
spec:
  service:
    name: hook
    namespace: default
  group: metrics.example.com
  version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: hook
spec:
  ports:
  - port: 443
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
---
apiVersion: v1
kind: Namespace
metadata:
  name: old
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: old
subjects:
- kind: ServiceAccount
  name: default
- kind: ServiceAccount
  name: other
  namespace: elsewhere
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: r
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  storageClassName: fast
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
provisioner: x
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: high
value: 1000
---
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  priorityClassName: high
  containers:
  - name: c
    image: x
  volumes:
  - name: d
    persistentVolumeClaim:
      claimName: data
"#,
        ),
    ];
    let expected = r#"apiVersion: v1
kind: Namespace
metadata:
  labels:
    l: v
  name: newns
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  labels:
    l: v
  name: n-fast
provisioner: x
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  labels:
    l: v
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        type: object
    served: true
    storage: true
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  labels:
    l: v
  name: n-rb
  namespace: newns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: r
subjects:
- kind: ServiceAccount
  name: default
  namespace: newns
- kind: ServiceAccount
  name: other
  namespace: elsewhere
---
apiVersion: v1
kind: Service
metadata:
  labels:
    l: v
  name: n-hook
  namespace: newns
spec:
  ports:
  - port: 443
  selector:
    l: v
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  labels:
    l: v
  name: n-high
value: 1000
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  labels:
    l: v
  name: n-data
  namespace: newns
spec:
  accessModes:
  - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
  storageClassName: n-fast
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  labels:
    l: v
  name: v1.metrics.example.com
spec:
  group: metrics.example.com
  service:
    name: n-hook
    namespace: newns
  version: v1
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    l: v
  name: n-p
  namespace: newns
spec:
  containers:
  - image: x
    name: c
  priorityClassName: n-high
  volumes:
  - name: d
    persistentVolumeClaim:
      claimName: n-data
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  labels:
    l: v
  name: n-vw
webhooks:
- admissionReviewVersions:
  - v1
  clientConfig:
    service:
      name: n-hook
      namespace: newns
      path: /validate
  name: v.example.com
  sideEffects: None
"#;
    assert_eq!(build(&files, r#"app"#), expected);
}
