#!/usr/bin/env bash
# The kustomize benchmark of issue 5: `ferry build` against `kubectl kustomize` (kustomize v5
# built into kubectl) in the same run, on a large generated overlay and on the whole conformance
# corpus; plus in-process builds per second (`ferry build --repeat N`, a hidden flag).
#
#   cargo build --release -p ferry-cli && scripts/bench-kustomize.sh [RUNS]
#
# Knobs (environment): FERRY_BIN (default target/release/ferry), RUNS (default 5),
# REPEAT (in-process builds, default 50), FERRY_CONFORMANCE_DIR, SKIP_CORPUS=1, KEEP=1 keeps
# the temp dir (and prints the head of any output difference).
set -euo pipefail
cd "$(dirname "$0")/.."

FERRY=${FERRY_BIN:-target/release/ferry}
RUNS=${1:-${RUNS:-5}}
REPEAT=${REPEAT:-50}
CORPUS=${FERRY_CONFORMANCE_DIR:-../shared/conformance/kustomize}
APPS=250
PATCHED=50

[ -x "$FERRY" ] || { echo "$FERRY not built: run cargo build --release -p ferry-cli" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "kubectl not found (scripts/ensure-deps.sh installs it)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) not found: apt-get install time" >&2; exit 1; }

work=$(mktemp -d)
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- the generated overlay

APPS=$APPS PATCHED=$PATCHED "$(dirname "$0")/gen-large-overlay.sh" "$work/large"
OVERLAY=$work/large/overlay

# ---------------------------------------------------------------- helpers
# measure NAME CMD...: RUNS runs under /usr/bin/time -v; prints "NAME median_wall_s min_wall_s max_rss_kib"
measure() {
  local name=$1; shift
  local walls=() rss=() i log=$work/time.log
  for i in $(seq 1 "$RUNS"); do
    /usr/bin/time -v -o "$log" "$@" >/dev/null 2>&1 || { echo "$name failed: $*" >&2; exit 1; }
    walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(j=1;j<=n;j++) s=s*60+a[j]; print s}' "$log")")
    rss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")")
  done
  local wmed wmin rmax
  wmed=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}')
  wmin=$(printf '%s\n' "${walls[@]}" | sort -g | head -1)
  rmax=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
  echo "$name $wmed $wmin $rmax"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------- outputs identical?
"$FERRY" build "$OVERLAY" >"$work/ferry.yaml"
kubectl kustomize "$OVERLAY" >"$work/kubectl.yaml"
objects=$(grep -c '^kind: ' "$work/ferry.yaml" || true)
if cmp -s "$work/ferry.yaml" "$work/kubectl.yaml"; then
  same="identical ($(wc -c <"$work/ferry.yaml") bytes, $objects objects)"
else
  same="DIFFERENT (diff -u kubectl ferry: $(diff -u "$work/kubectl.yaml" "$work/ferry.yaml" | grep -c '^[-+][^-+]') changed lines)"
  [ "${KEEP:-}" = 1 ] && diff -u "$work/kubectl.yaml" "$work/ferry.yaml" | head -40 >&2
fi

# ---------------------------------------------------------------- the large overlay
read -r _ f_med f_min f_rss < <(measure ferry "$FERRY" build "$OVERLAY")
read -r _ k_med k_min k_rss < <(measure kubectl kubectl kustomize "$OVERLAY")

# ---------------------------------------------------------------- in-process builds/s
inproc=$("$FERRY" build --repeat "$REPEAT" "$OVERLAY" 2>&1 >/dev/null | tail -1)

# ---------------------------------------------------------------- the conformance corpus
corpus_line=""
if [ "${SKIP_CORPUS:-}" != 1 ] && [ -x "$CORPUS/run.sh" ]; then
  cases=$(find "$CORPUS/cases" -mindepth 1 -maxdepth 1 -type d | wc -l)
  c_start=$(date +%s.%N)
  f_sum=$(JOBS=1 "$CORPUS/run.sh" "$FERRY" build 2>&1 | tail -1 || true)
  c_mid=$(date +%s.%N)
  k_sum=$(JOBS=1 "$CORPUS/run.sh" kubectl kustomize 2>&1 | tail -1 || true)
  c_end=$(date +%s.%N)
  cf=$(awk -v a="$c_start" -v b="$c_mid" 'BEGIN { printf "%.2f", b - a }')
  ck=$(awk -v a="$c_mid" -v b="$c_end" 'BEGIN { printf "%.2f", b - a }')
  corpus_line="| conformance corpus ($cases cases, one at a time, runner included) | ${cf} s ($f_sum) | ${ck} s ($k_sum) | $(ratio "$ck" "$cf")× | – |"
fi

# ---------------------------------------------------------------- report (Markdown rows)
cat <<REPORT
date: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m); kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')
large overlay output: $same
runs per tool: $RUNS (median wall, best wall in brackets; peak RSS = max over runs)

| input | ferry build | kubectl kustomize | speed-up | memory |
|---|---|---|---|---|
| large overlay ($APPS apps, $objects objects) | ${f_med} s (${f_min} s), $(mib "$f_rss") MiB | ${k_med} s (${k_min} s), $(mib "$k_rss") MiB | $(ratio "$k_med" "$f_med")× | $(ratio "$k_rss" "$f_rss")× less |
$corpus_line

in-process (ferry build --repeat $REPEAT, large overlay): $inproc
REPORT
