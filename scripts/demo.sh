#!/usr/bin/env bash
# The embedded default: nats-server with JetStream in a temp dir, the Kubernetes API emulator
# (or the cluster in $KUBECONFIG), and every Ferry service; shows them healthy, stops on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${FERRY_BIN_DIR:-target/debug}
SERVICES=(source-controller image-scanner kustomize-renderer applier)
WORK=$(mktemp -d -t ferry-demo.XXXXXX)
PIDS=()

cleanup() {
  echo
  echo "stopping the demo"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url what
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not become ready at $1; its log is in $WORK" >&2
  return 1
}

NATS_PORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
echo "nats-server      nats://127.0.0.1:$NATS_PORT (JetStream store in $WORK/jetstream)"

if [ -n "${KUBECONFIG:-}" ]; then
  KCFG=$KUBECONFIG
  echo "kubernetes       from \$KUBECONFIG=$KCFG"
else
  KCFG=$WORK/kubeconfig
  API_PORT=$(free_port)
  "$BIN/kube-emulator" --listen "127.0.0.1:$API_PORT" --kubeconfig "$KCFG" >"$WORK/kube-emulator.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$API_PORT/version" kube-emulator
  echo "kube-emulator    http://127.0.0.1:$API_PORT (kubeconfig $KCFG)"
  kubectl --kubeconfig "$KCFG" apply --server-side -k deploy/crds >/dev/null
  echo "                 Flux CRDs installed from deploy/crds/"
fi

for svc in "${SERVICES[@]}"; do
  admin=$(free_port); grpc=$(free_port)
  extra=()
  if [ "$svc" = source-controller ]; then
    STORAGE_PORT=$(free_port); RECEIVER_PORT=$(free_port)
    extra=(--storage-addr "127.0.0.1:$STORAGE_PORT" --receiver-addr "127.0.0.1:$RECEIVER_PORT"
           --cache-dir "$WORK/git-cache")
  fi
  "$BIN/$svc" "${extra[@]}" --nats-url "nats://127.0.0.1:$NATS_PORT" --kubeconfig "$KCFG" \
    --admin-addr "127.0.0.1:$admin" --grpc-addr "127.0.0.1:$grpc" --log-format text \
    >"$WORK/$svc.log" 2>&1 &
  PIDS+=($!)
  eval "ADMIN_${svc//-/_}=$admin"
  printf '%-18s admin http://127.0.0.1:%s  grpc 127.0.0.1:%s\n' "$svc" "$admin" "$grpc"
done

echo
for svc in "${SERVICES[@]}"; do
  var="ADMIN_${svc//-/_}"
  wait_http "http://127.0.0.1:${!var}/readyz" "$svc"
  printf '%-18s ready (%s)\n' "$svc" "$(curl -fsS "http://127.0.0.1:${!var}/readyz")"
done

echo
echo "Ferry is up. Point kubectl at it:  export KUBECONFIG=$KCFG"
echo "Logs are in $WORK. Press Ctrl-C to stop."
wait
