#!/usr/bin/env bash
# Installs the PostgreSQL server from Debian's packages when it is missing (tests start their own
# throw-away cluster with it). Skipped when LIENTHONG_TEST_PG_DSN points at a server already.
set -euo pipefail
if [ -n "${LIENTHONG_TEST_PG_DSN:-}" ]; then exit 0; fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && id postgres >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server is missing and this is not root: install the 'postgresql' Debian package," >&2
  echo "or set LIENTHONG_TEST_PG_DSN to a server the tests may use." >&2
  exit 1
fi
echo "installing PostgreSQL from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
# The package starts a default cluster; tests run their own, so leave the default one stopped.
service postgresql stop >/dev/null 2>&1 || true
