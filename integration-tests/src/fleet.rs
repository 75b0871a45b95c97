//! The example application the demo and the image benchmark seed into Git: a base and dev and
//! prod overlays, with the image marked for Ferry's image automation.

/// Files of the fleet repository for an image at `image` (`host:port/podinfo`) and `tag`.
pub fn files(image: &str, tag: &str) -> Vec<(String, String)> {
    vec![
        ("apps/base/kustomization.yaml".into(), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - service.yaml\n  - configmap.yaml\n".into()),
        ("apps/base/deployment.yaml".into(), deployment(image, tag)),
        ("apps/base/service.yaml".into(), "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  selector:\n    app: podinfo\n  ports:\n    - port: 80\n      targetPort: 9898\n".into()),
        ("apps/base/configmap.yaml".into(), configmap("hello from Ferry")),
        ("apps/overlays/dev/kustomization.yaml".into(), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: dev\nresources:\n  - ../../base\nlabels:\n  - pairs:\n      env: dev\n".into()),
        ("apps/overlays/prod/kustomization.yaml".into(), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: prod\nresources:\n  - ../../base\nreplicas:\n  - name: podinfo\n    count: 3\nlabels:\n  - pairs:\n      env: prod\n".into()),
    ]
}

/// The base Deployment; the image line carries the ImagePolicy marker.
pub fn deployment(image: &str, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: podinfo\n  template:\n    metadata:\n      labels:\n        app: podinfo\n    spec:\n      containers:\n        - name: podinfo\n          image: {image}:{tag} # {{\"$imagepolicy\": \"ferry-system:podinfo\"}}\n          ports:\n            - containerPort: 9898\n"
    )
}

/// The base ConfigMap with `message`.
pub fn configmap(message: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-config\ndata:\n  message: {message}\n"
    )
}

/// The Ferry objects: the fleet GitRepository, a Kustomization per environment, a webhook
/// Receiver, and the image automation chain.
pub fn ferry_objects(git_url: &str, image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: webhook-token
  namespace: ferry-system
stringData:
  token: demo-token
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: fleet
  namespace: ferry-system
spec:
  interval: 10m
  url: {git_url}
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps-dev
  namespace: ferry-system
spec:
  interval: 10m
  path: ./apps/overlays/dev
  prune: true
  wait: true
  timeout: 2m
  sourceRef:
    kind: GitRepository
    name: fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps-prod
  namespace: ferry-system
spec:
  interval: 10m
  path: ./apps/overlays/prod
  prune: true
  wait: true
  timeout: 2m
  sourceRef:
    kind: GitRepository
    name: fleet
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: fleet-push
  namespace: ferry-system
spec:
  type: generic
  secretRef:
    name: webhook-token
  resources:
    - kind: GitRepository
      name: fleet
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: ferry-system
spec:
  image: {image}
  interval: 10m
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: ferry-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: ">=1.0.0"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: fleet
  namespace: ferry-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: ferry-bot
        email: ferry@example.com
      messageTemplate: "Update images"
    push:
      branch: main
  update:
    path: ./apps
    strategy: Setters
"#
    )
}
