#!/usr/bin/env bash
# Writes the large overlay the benchmarks use into DIR: a base of $APPS apps (default 250), each
# a Deployment with two containers, a Service, a ConfigMap and a ServiceAccount, and an overlay
# with namespace, namePrefix, labels with and without selectors, annotations, images, replicas,
# a configMapGenerator, a strategic-merge patch file touching 50 Deployments and a JSON 6902
# patch with a label-selector target (about 1,000 objects out).
#   scripts/gen-large-overlay.sh DIR        then build DIR/overlay
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
APPS=${APPS:-250}
PATCHED=${PATCHED:-50}

gen() {
  local root=$1 i n
  mkdir -p "$root/base" "$root/overlay"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    for i in $(seq -f '%03g' 1 $APPS); do echo "- app-$i.yaml"; done
  } >"$root/base/kustomization.yaml"
  for i in $(seq -f '%03g' 1 $APPS); do
    n=app-$i
    cat >"$root/base/$n.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $n
  labels:
    app: $n
    tier: $([ $((10#$i % 2)) = 0 ] && echo backend || echo frontend)
spec:
  replicas: 1
  selector:
    matchLabels:
      app: $n
  template:
    metadata:
      labels:
        app: $n
    spec:
      serviceAccountName: $n
      containers:
      - name: app
        image: registry.example.com/apps/$n:1.0.0
        ports:
        - containerPort: 8080
          name: http
        envFrom:
        - configMapRef:
            name: $n-config
        resources:
          requests:
            cpu: 50m
            memory: 64Mi
      - name: sidecar
        image: registry.example.com/tools/proxy:2.3.1
        ports:
        - containerPort: 9090
          name: metrics
        volumeMounts:
        - name: config
          mountPath: /etc/app
      volumes:
      - name: config
        configMap:
          name: $n-config
---
apiVersion: v1
kind: Service
metadata:
  name: $n
  labels:
    app: $n
spec:
  selector:
    app: $n
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: $n-config
data:
  APP_NAME: $n
  LOG_LEVEL: info
  LISTEN: ":8080"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $n
YAML
  done

  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "namespace: prod"
    echo "namePrefix: prod-"
    echo "resources:"
    echo "- ../base"
    echo "labels:"
    echo "- pairs:"
    echo "    env: prod"
    echo "  includeSelectors: true"
    echo "- pairs:"
    echo "    team: platform"
    echo "commonAnnotations:"
    echo "  owner: platform-team"
    echo "  ferry.dev/bench: \"true\""
    echo "images:"
    echo "- name: registry.example.com/tools/proxy"
    echo "  newTag: 2.4.0"
    for i in $(seq -f '%03g' 1 25); do
      echo "- name: registry.example.com/apps/app-$i"
      echo "  newName: mirror.example.com/apps/app-$i"
      echo "  newTag: 1.1.$((10#$i))"
    done
    echo "replicas:"
    for i in $(seq -f '%03g' 1 50); do
      echo "- name: app-$i"
      echo "  count: 3"
    done
    echo "configMapGenerator:"
    echo "- name: global-settings"
    echo "  literals:"
    echo "  - REGION=eu-west-1"
    echo "  - CLUSTER=prod-1"
    echo "- name: app-001-config"
    echo "  behavior: merge"
    echo "  literals:"
    echo "  - LOG_LEVEL=warn"
    echo "patches:"
    echo "- path: deployments-patch.yaml"
    echo "- path: backend-patch.json"
    echo "  target:"
    echo "    kind: Deployment"
    echo "    labelSelector: tier=backend"
  } >"$root/overlay/kustomization.yaml"

  {
    for i in $(seq -f '%03g' 1 $PATCHED); do
      cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$i
spec:
  template:
    spec:
      containers:
      - name: app
        resources:
          limits:
            cpu: 500m
            memory: 256Mi
        env:
        - name: PATCHED
          value: "yes"
YAML
    done
  } >"$root/overlay/deployments-patch.yaml"

  cat >"$root/overlay/backend-patch.json" <<'JSON'
[
  {"op": "add", "path": "/spec/template/metadata/annotations", "value": {"prometheus.io/scrape": "true"}},
  {"op": "add", "path": "/spec/revisionHistoryLimit", "value": 5}
]
JSON
}

gen "$1"
