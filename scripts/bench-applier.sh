#!/usr/bin/env bash
# The applier benchmark of issue 6: Ferry's applier (in process, `Applier::apply_all`, field
# manager `ferry-applier`) against `kubectl apply --server-side --validate=false` on the large
# generated overlay of the kustomize benchmark (250 apps, ~1,000 objects), first apply and no-op
# re-apply, each tool against its own fresh kube-emulator process per run; managed fields
# compared per object. Prints a Markdown report (bench-applier's stdout).
#
#   scripts/bench-applier.sh [RUNS]
#
# Knobs (environment): RUNS (default 5), CONCURRENCY (Ferry's objects in flight, default 4 as
# Flux's --concurrent-ssa), NO_BUILD=1 skips the cargo build, KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-${RUNS:-5}}
CONCURRENCY=${CONCURRENCY:-4}
APPS=250
PATCHED=50

command -v kubectl >/dev/null || { echo "kubectl not found (scripts/ensure-deps.sh installs it)" >&2; exit 1; }
if [ "${NO_BUILD:-}" != 1 ]; then
  cargo build --release -q -p ferry-bench-applier -p kube-emulator
fi

work=$(mktemp -d)
[ "${KEEP:-}" = 1 ] && echo "work dir: $work" >&2 || trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- the generated overlay
# The overlay comes from scripts/gen-large-overlay.sh, as in scripts/bench-kustomize.sh.

APPS=$APPS PATCHED=$PATCHED "$(dirname "$0")/gen-large-overlay.sh" "$work/large"
# Rendered with kustomize v5 (kubectl kustomize), the reference the renderer benchmark checks
# `ferry build` against (its output is byte-identical there).
kubectl kustomize "$work/large/overlay" >"$work/bundle.yaml"

echo "date: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m); kubectl: $(kubectl version --client 2>/dev/null | head -1)"
echo "command: scripts/bench-applier.sh $RUNS (CONCURRENCY=$CONCURRENCY)"
target/release/bench-applier --bundle "$work/bundle.yaml" --emulator target/release/kube-emulator \
  --kubectl "$(command -v kubectl)" --runs "$RUNS" --concurrency "$CONCURRENCY" --workdir "$work/run"
