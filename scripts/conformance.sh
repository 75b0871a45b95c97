#!/usr/bin/env bash
# Runs the shared kustomize conformance corpus against `ferry build`.
#   scripts/conformance.sh          report the count; fail only below the floor in .ci/conformance-floor
#   scripts/conformance.sh --strict fail on any failing case (the runner's own verdict)
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=${FERRY_CONFORMANCE_DIR:-../shared/conformance/kustomize}
FERRY=${FERRY_BIN:-target/debug/ferry}
if [ ! -x "$CORPUS/run.sh" ]; then
  echo "kustomize conformance corpus not found at $CORPUS (set FERRY_CONFORMANCE_DIR)" >&2
  exit 1
fi
if [ ! -x "$FERRY" ]; then
  echo "$FERRY not built: run cargo build -p ferry-cli" >&2
  exit 1
fi

if [ "${1:-}" = --strict ]; then
  exec "$CORPUS/run.sh" "$FERRY" build
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$CORPUS/run.sh" "$FERRY" build >"$log" 2>&1 || true
summary=$(tail -n 1 "$log")
passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$summary")
failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$summary")
if [ -z "$passed" ]; then
  echo "conformance runner gave no summary; its output:" >&2
  cat "$log" >&2
  exit 1
fi
floor=$(tr -d '[:space:]' < .ci/conformance-floor)
total=$((passed + failed))
# The runner's own "N passed, M failed" line is rewritten so that it is not read as the test
# suite's verdict: the floor decides here, the failures are listed in docs/kustomize-compat.md.
echo "kustomize conformance: $passed of $total cases match kustomize v5.5.0 (floor $floor)"
grep '^FAIL ' "$log" | sed 's/^/  /' || true
if [ "$passed" -lt "$floor" ]; then
  echo "kustomize conformance fell below the floor: $passed < $floor" >&2
  exit 1
fi
