//! What the benchmark commits to Git and applies to the cluster: the one-app repository of
//! the commit-to-Ready measurement and the N apps of Flux's MTTP workload, with their Flux
//! objects.

/// The webhook token's Secret (every Receiver of the benchmark uses it).
const TOKEN_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: bench-token
  namespace: ferry-system
stringData:
  token: bench-token
";

/// The one app of the commit-to-Ready measurement at commit `n`: a ConfigMap and the
/// Deployment's pod template both change, so every commit is a rollout.
pub fn latency_app(namespace: &str, n: usize) -> Vec<(String, String)> {
    vec![
        (
            "app/kustomization.yaml".into(),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                 namespace: {namespace}\nresources:\n  - configmap.yaml\n  - deployment.yaml\n  \
                 - service.yaml\n"
            ),
        ),
        (
            "app/configmap.yaml".into(),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  \
                 commit: \"{n}\"\n"
            ),
        ),
        ("app/deployment.yaml".into(), deployment("app", 1, n)),
        ("app/service.yaml".into(), service("app")),
    ]
}

/// GitRepository, Kustomization and (for `receiver`) the Secret and Receiver of one
/// commit-to-Ready run, all called `name` in `ferry-system`.
pub fn latency_objects(name: &str, git_url: &str, interval: &str, receiver: bool) -> String {
    let mut out = git_repository(name, git_url, interval);
    out.push_str(&kustomization(name, name, "./app"));
    if receiver {
        out.push_str(&receiver_objects(name));
    }
    out
}

/// The MTTP repository before the measured commit: N app directories with an empty
/// kustomization each, so every Kustomization can become Ready with nothing applied.
pub fn mttp_empty(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("apps/app-{i}/kustomization.yaml"),
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
                    .to_string(),
            )
        })
        .collect()
}

/// The measured MTTP commit: in each of the N directories a Deployment scaled to zero, a
/// ServiceAccount, a Service and an Ingress (Flux's MTTP app), in `namespace`.
pub fn mttp_apps(n: usize, namespace: &str) -> Vec<(String, String)> {
    let mut files = Vec::with_capacity(n * 5);
    for i in 0..n {
        let app = format!("app-{i}");
        let dir = format!("apps/{app}");
        files.push((
            format!("{dir}/kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                 namespace: {namespace}\nresources:\n  - serviceaccount.yaml\n  \
                 - deployment.yaml\n  - service.yaml\n  - ingress.yaml\n"
            ),
        ));
        files.push((format!("{dir}/deployment.yaml"), deployment(&app, 0, 0)));
        files.push((
            format!("{dir}/serviceaccount.yaml"),
            format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {app}\n"),
        ));
        files.push((format!("{dir}/service.yaml"), service(&app)));
        files.push((format!("{dir}/ingress.yaml"), ingress(&app)));
    }
    files
}

/// The MTTP GitRepository `mttp`, its Receiver, and N Kustomizations `app-<i>`.
pub fn mttp_objects(n: usize, git_url: &str) -> String {
    let mut out = git_repository("mttp", git_url, "60m");
    out.push_str(&receiver_objects("mttp"));
    for i in 0..n {
        out.push_str(&kustomization(
            &format!("app-{i}"),
            "mttp",
            &format!("./apps/app-{i}"),
        ));
    }
    out
}

fn git_repository(name: &str, url: &str, interval: &str) -> String {
    format!(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  \
         name: {name}\n  namespace: ferry-system\nspec:\n  interval: {interval}\n  url: {url}\n  \
         ref:\n    branch: main\n"
    )
}

/// A Kustomization that prunes and waits for its objects' health (as Flux's MTTP apps do);
/// the interval is long so only new revisions trigger it.
fn kustomization(name: &str, source: &str, path: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  \
         name: {name}\n  namespace: ferry-system\nspec:\n  interval: 60m\n  path: {path}\n  \
         prune: true\n  wait: true\n  timeout: 5m\n  sourceRef:\n    kind: GitRepository\n    \
         name: {source}\n"
    )
}

fn receiver_objects(name: &str) -> String {
    format!(
        "---\n{TOKEN_SECRET}---\napiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\n\
         metadata:\n  name: {name}\n  namespace: ferry-system\nspec:\n  type: generic\n  \
         secretRef:\n    name: bench-token\n  resources:\n    - kind: GitRepository\n      \
         name: {name}\n"
    )
}

fn deployment(name: &str, replicas: u32, commit: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  \
         replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    \
         metadata:\n      labels:\n        app: {name}\n      annotations:\n        \
         bench/commit: \"{commit}\"\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/stefanprodan/podinfo:6.7.0\n          \
         ports:\n            - containerPort: 9898\n"
    )
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    \
         app: {name}\n  ports:\n    - port: 80\n      targetPort: 9898\n"
    )
}

fn ingress(name: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n  \
         rules:\n    - host: {name}.example.com\n      http:\n        paths:\n          \
         - path: /\n            pathType: Prefix\n            backend:\n              \
         service:\n                name: {name}\n                port:\n                  \
         number: 80\n"
    )
}
