# Ferry's tasks. `just demo` runs the embedded default; `just test` is what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := env_var("HOME") + "/.cargo/bin:/usr/sbin:" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install missing system packages (as root on Debian/Ubuntu) or print the install line.
deps:
    scripts/ensure-deps.sh

# Format check, clippy with warnings as errors, then every unit and integration test.
test: deps
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo build --workspace --bins --locked
    scripts/conformance.sh
    cargo nextest run --workspace --locked --no-fail-fast

# The kustomize conformance corpus against `ferry build`; fails on any failing case.
conformance:
    cargo build -q -p ferry-cli --locked
    scripts/conformance.sh --strict

# The embedded default: NATS, the API emulator (or $KUBECONFIG), Git, a registry and every
# service; walks through sync, a commit, drift and an image update; Ctrl-C stops all.
demo: deps
    cargo build --workspace --bins --locked
    target/debug/ferry-demo

# Regenerate deploy/crds from the Flux API types.
crds:
    cargo run -q -p flux-api --bin crdgen -- deploy/crds

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks: source-controller fetch+artifact vs `git clone --depth 1`, push-to-event latency
# with a webhook, peak memory; then the whole stack on release binaries: commit-to-Ready with a
# webhook and with polling, Flux's MTTP workload (results and machine notes in BENCHMARKS.md).
bench: deps
    cargo build --release --locked -p source-controller -p ferry-bench -p ferry-cli
    target/release/ferry-bench
    cargo build --release --locked -p kustomize-renderer -p applier -p image-scanner -p kube-emulator -p ferry-integration-tests
    target/release/ferry-bench-pipeline
    cargo build --release --locked -p image-scanner --bins --example image_bench && target/release/examples/image_bench
    scripts/bench-kustomize.sh
    scripts/bench-applier.sh
