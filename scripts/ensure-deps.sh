#!/usr/bin/env bash
# Makes sure the system tools Ferry's demo and tests run against are present.
# As root on Debian or Ubuntu it installs what is missing; otherwise it prints the exact
# install line and exits 1. Idempotent: a second run installs nothing.
set -euo pipefail

# binary -> Debian package that provides it
declare -A PACKAGE_OF=(
  [nats-server]=nats-server
  [docker-registry]=docker-registry
  [git]=git
  [htpasswd]=apache2-utils
  [sshd]=openssh-server
  [ssh-keygen]=openssh-client
  [kubectl]=kubectl
  [curl]=curl
  [age]=age
  [age-keygen]=age
  # image-scanner signs commits with gpg (a temporary GnuPG home per run)
  [gpg]=gpg
  [gpg-agent]=gpg-agent
  [gpgconf]=gpgconf
)

find_bin() {
  command -v "$1" >/dev/null 2>&1 && return 0
  # sbin is not on every user's PATH (nats-server, sshd live there on Debian)
  [ -x "/usr/sbin/$1" ] && return 0
  return 1
}

missing_pkgs=()
for bin in "${!PACKAGE_OF[@]}"; do
  if ! find_bin "$bin"; then
    missing_pkgs+=("${PACKAGE_OF[$bin]}")
  fi
done

# cargo-nextest runs the tests; it is a cargo tool, not a Debian package.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest" >&2
  cargo install --locked cargo-nextest >&2
fi

# The SOPS tests write their encrypted fixtures with Python's `cryptography` (sops itself is
# not packaged for Debian); pip first, as python3 may not be Debian's.
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  echo "installing Python's cryptography package" >&2
  python3 -m pip install --quiet cryptography >&2 || missing_pkgs+=(python3-cryptography)
fi

# kubectl 1.20 for the kube-emulator's old-client tests, unpacked under target/tools (never
# over the system kubectl). The tests fetch it themselves too, and fail with this command.
old_kubectl="$(dirname "${BASH_SOURCE[0]}")/ensure-old-kubectl.sh"
if ! "$old_kubectl" >/dev/null 2>&1; then
  # A fresh machine may have no package lists yet.
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2 || true
  fi
  "$old_kubectl" >/dev/null ||
    echo "kubectl 1.20 could not be fetched: run scripts/ensure-old-kubectl.sh" >&2
fi

if [ ${#missing_pkgs[@]} -eq 0 ]; then
  exit 0
fi

# Sorted and unique, so the printed line is stable.
mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${missing_pkgs[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing_pkgs[*]}" >&2
  exit 1
fi

echo "installing system packages: ${missing_pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
install_list=()
for pkg in "${missing_pkgs[@]}"; do
  if [ "$pkg" = kubectl ] && ! apt-cache show kubectl >/dev/null 2>&1; then
    # Debian's own kubectl is the kubernetes-client package (an older 1.20 client).
    install_list+=(kubernetes-client)
  else
    install_list+=("$pkg")
  fi
done
apt-get install -y -qq "${install_list[@]}" >&2
