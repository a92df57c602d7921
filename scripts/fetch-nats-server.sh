#!/usr/bin/env bash
# Prints the path of a nats-server 2.10 or newer, fetching one when needed.
# Order: $SWITCHYARD_NATS_SERVER; the system nats-server when >= 2.10; the cached copy in
# ${XDG_CACHE_HOME:-~/.cache}/switchyard/nats-server/; else `apt-get download` of Debian trixie's
# nats-server with a private sources list and lists dir, unpacked with `dpkg -x` into that cache.
# The system's apt sources and package database are never changed.
set -euo pipefail
suite="${SWITCHYARD_NATS_DEBIAN_SUITE:-trixie}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchyard/nats-server"

version_ok() { # $1 = binary; true when it prints v2.10+ or v3+
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\)\..*/\1 \2/p')" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -n "${SWITCHYARD_NATS_SERVER:-}" ]; then
  version_ok "$SWITCHYARD_NATS_SERVER" || { echo "SWITCHYARD_NATS_SERVER=$SWITCHYARD_NATS_SERVER is not nats-server 2.10+" >&2; exit 1; }
  echo "$SWITCHYARD_NATS_SERVER"; exit 0
fi
if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi
if [ -x "$cache/bin/nats-server" ] && version_ok "$cache/bin/nats-server"; then
  echo "$cache/bin/nats-server"; exit 0
fi

command -v apt-get >/dev/null 2>&1 || { echo "nats-server 2.10+ not found and apt-get is unavailable: install nats-server 2.10+ (https://github.com/nats-io/nats-server/releases) and set SWITCHYARD_NATS_SERVER" >&2; exit 1; }
echo "fetching nats-server from Debian $suite into $cache ..." >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] ${SWITCHYARD_DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root -o "Dir::State::status=/dev/null")
apt-get "${apt_opts[@]}" update >&2
(cd "$work" && apt-get "${apt_opts[@]}" download nats-server >&2)
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
dpkg -x "$work"/nats-server_*.deb "$cache.tmp/root"
mkdir -p "$cache.tmp/bin"
cp "$cache.tmp/root/usr/sbin/nats-server" "$cache.tmp/bin/nats-server" 2>/dev/null || cp "$cache.tmp/root/usr/bin/nats-server" "$cache.tmp/bin/nats-server"
rm -rf "$cache.tmp/root" "$cache" && mv "$cache.tmp" "$cache"
version_ok "$cache/bin/nats-server" || { echo "fetched nats-server is not 2.10+" >&2; exit 1; }
echo "$cache/bin/nats-server"
