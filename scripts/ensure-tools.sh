#!/usr/bin/env bash
# Makes sure the servers the tests and the dev stack start are present:
# - nats-server 2.10 or newer: the system one when new enough, else one fetched from Debian's
#   newer suite into ~/.cache/switchyard (private apt lists; the system's apt sources are untouched);
# - redis-server: installed with apt-get when missing and we are root, else a message saying what to install;
# - with --test (what `npm test` passes) also: prometheus and promtool (Debian's `prometheus` package: the
#   rule tests and the Prometheus end-to-end test) and chromium (/usr/bin/chromium: the live status page's
#   browser test, driven by playwright-core), the same way. `npm start` needs neither.
# Prints nothing when all is present. Exit status 1 with a message when something cannot be provided.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for_tests=false
[ "${1:-}" = --test ] && for_tests=true

if ! "$here/fetch-nats-server.sh" >/dev/null; then
  echo "switchyard: could not provide nats-server 2.10+ (see above). Install it and set SWITCHYARD_NATS_SERVER=/path/to/nats-server." >&2
  exit 1
fi

if ! command -v redis-server >/dev/null 2>&1 && [ -z "${SWITCHYARD_REDIS_SERVER:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "switchyard: installing redis-server with apt-get..." >&2
    (apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends redis-server >/dev/null; }) || {
      echo "switchyard: apt-get could not install redis-server; install it (Debian: apt-get install redis-server) or set SWITCHYARD_REDIS_SERVER." >&2
      exit 1
    }
  else
    echo "switchyard: redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set SWITCHYARD_REDIS_SERVER=/path/to/redis-server." >&2
    exit 1
  fi
fi

if $for_tests && { { ! command -v promtool >/dev/null 2>&1 && [ -z "${SWITCHYARD_PROMTOOL:-}" ]; } ||
  { [ ! -x /usr/bin/prometheus ] && [ -z "${SWITCHYARD_PROMETHEUS:-}" ]; }; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "switchyard: installing prometheus (prometheus, promtool) with apt-get..." >&2
    (apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends prometheus >/dev/null; }) || {
      echo "switchyard: apt-get could not install prometheus; install it (Debian: apt-get install prometheus) or set SWITCHYARD_PROMETHEUS and SWITCHYARD_PROMTOOL." >&2
      exit 1
    }
    # The tests start their own Prometheus on free ports; the package's system service is not wanted.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  else
    echo "switchyard: prometheus/promtool not found. Install them (Debian/Ubuntu: sudo apt-get install prometheus; macOS: brew install prometheus) or set SWITCHYARD_PROMETHEUS=/path/to/prometheus and SWITCHYARD_PROMTOOL=/path/to/promtool." >&2
    exit 1
  fi
fi

if $for_tests && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "switchyard: installing chromium (the status page's browser test) with apt-get..." >&2
    (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null; }) || {
      echo "switchyard: apt-get could not install chromium; install it (Debian: apt-get install chromium)." >&2
      exit 1
    }
  else
    echo "switchyard: /usr/bin/chromium not found. Install it (Debian/Ubuntu: sudo apt-get install chromium)." >&2
    exit 1
  fi
fi
