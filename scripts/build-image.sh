#!/usr/bin/env bash
# Builds the Switchyard image (Dockerfile at the repository root) with docker, podman or buildah.
#
#   scripts/build-image.sh                         # FROM node:24-slim (a registry must be reachable)
#   scripts/build-image.sh --tag registry.example.com/switchyard:0.1.0
#   BASE_IMAGE=my-mirror/node:24-slim scripts/build-image.sh
#   scripts/build-image.sh --local-base            # offline: make the base image here first
#   BUILD_ISOLATION=chroot scripts/build-image.sh  # podman/buildah where the OCI runtime cannot start containers
#
# --local-base makes localhost/switchyard-node-base:24 without any registry: a Debian bookworm
# minbase root file system (debootstrap, from the host's Debian mirror) with tini and
# ca-certificates, this repository's Node 24 binary (node_modules/node/bin/node, the `node`
# devDependency) and the host's npm (pure JavaScript). It needs root (debootstrap), podman or
# buildah, and `npm install` done in the repository.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json" | head -1)
tag="switchyard:${version}"
local_base=0
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
local_base_image=localhost/switchyard-node-base:24

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --local-base) local_base=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -n "${ENGINE:-}" ]; then engine=$ENGINE
elif command -v podman >/dev/null; then engine=podman
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
elif command -v buildah >/dev/null; then engine=buildah
else echo "error: no docker, podman or buildah" >&2; exit 1
fi

make_local_base() {
  local node_bin="$root/node_modules/node/bin/node"
  local npm_dir
  npm_dir=$(npm root -g 2>/dev/null)/npm
  [ -x "$node_bin" ] || { echo "error: $node_bin missing: run npm install first" >&2; exit 1; }
  [ -f "$npm_dir/bin/npm-cli.js" ] || { echo "error: no npm on this host ($npm_dir)" >&2; exit 1; }
  command -v debootstrap >/dev/null || { echo "error: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
  local cache=${XDG_CACHE_HOME:-$HOME/.cache}/switchyard/image-base
  local rootfs=$cache/rootfs
  if [ ! -x "$rootfs/usr/bin/tini" ]; then
    rm -rf "$rootfs"; mkdir -p "$rootfs"
    debootstrap --variant=minbase --include=tini,ca-certificates bookworm "$rootfs" "$mirror"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  fi
  install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  rm -rf "$rootfs/usr/local/lib/node_modules/npm"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  "$rootfs/usr/local/bin/node" --version
  case "$engine" in
    docker) tar -C "$rootfs" -c . | docker import - "$local_base_image" ;;
    *) tar -C "$rootfs" -c . | podman import - "$local_base_image" ;;
  esac
  echo "base image: $local_base_image (Debian bookworm minbase, Node $("$node_bin" --version), tini)"
}

base=${BASE_IMAGE:-node:24-slim}
if [ "$local_base" = 1 ]; then
  make_local_base
  base=$local_base_image
fi

# BUILD_ISOLATION=chroot (podman, buildah) runs the RUN steps without an OCI runtime: for hosts where
# crun/runc cannot create containers (e.g. cgroups v1/v2 hybrid: "cgroups in hybrid mode not supported").
extra=()
# docker format keeps the HEALTHCHECK (the OCI format has no field for it)
[ "$engine" != docker ] && extra+=(--format docker)
[ -n "${BUILD_ISOLATION:-}" ] && extra+=(--isolation "$BUILD_ISOLATION")
# NPM_CA_FILE: a CA bundle npm must trust (a registry behind a TLS-inspecting proxy), as a build secret.
[ -n "${NPM_CA_FILE:-}" ] && extra+=(--secret "id=npm_ca,src=$NPM_CA_FILE")
echo "building $tag FROM $base with $engine ${extra[*]}"
case "$engine" in
  buildah) buildah bud --layers "${extra[@]}" --build-arg "BASE_IMAGE=$base" -t "$tag" -f "$root/Dockerfile" "$root" ;;
  podman) podman build "${extra[@]}" --build-arg "BASE_IMAGE=$base" -t "$tag" -f "$root/Dockerfile" "$root" ;;
  *) "$engine" build "${extra[@]}" --build-arg "BASE_IMAGE=$base" -t "$tag" -f "$root/Dockerfile" "$root" ;;
esac
echo "built $tag"
