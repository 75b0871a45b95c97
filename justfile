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
    cargo nextest run --workspace --locked --no-fail-fast
    scripts/conformance.sh

# The kustomize conformance corpus against `ferry build`; fails on any failing case.
conformance:
    cargo build -q -p ferry-cli --locked
    scripts/conformance.sh --strict

# Start NATS, the Kubernetes API emulator (or use $KUBECONFIG) and every service; Ctrl-C stops all.
demo: deps
    cargo build --workspace --bins --locked
    scripts/demo.sh

# Regenerate deploy/crds from the Flux API types.
crds:
    cargo run -q -p flux-api --bin crdgen -- deploy/crds

# Format the code.
fmt:
    cargo fmt --all
