#!/usr/bin/env bash
# Puts Debian bookworm's kubectl 1.20 (package kubernetes-client) into target/tools/kubectl-1.20/
# without installing it system-wide, so the emulator's tests can drive an old client
# (one that reads /openapi/v2) next to /usr/bin/kubectl. Idempotent; prints the binary's path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${CARGO_TARGET_DIR:-$root/target}/tools/kubectl-1.20"
bin="$dest/usr/bin/kubectl"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  echo "apt-get and dpkg are needed to fetch kubernetes-client (kubectl 1.20)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt's sandbox user must be able to write the download directory.
chmod 0777 "$tmp"
(cd "$tmp" && apt-get download kubernetes-client >&2) || {
  echo "apt-get download kubernetes-client failed; run 'apt-get update' and retry" >&2
  exit 1
}
deb="$(ls "$tmp"/kubernetes-client_*.deb)"
mkdir -p "$dest"
dpkg -x "$deb" "$tmp/x"
mkdir -p "$dest/usr/bin"
cp "$tmp/x/usr/bin/kubectl" "$bin"
chmod 0755 "$bin"
echo "$bin"
