#!/usr/bin/env bash
# Make sure PostgreSQL's server programs (initdb, pg_ctl, postgres) are installed: the test suite starts a
# throwaway server from them (tests/integration/test_postgres_load.py). Installs Debian's `postgresql` when
# /usr/lib/postgresql/*/bin/initdb is missing. Needs root (or passwordless sudo) to install, else it only
# warns; does nothing when the programs are already there. The package's default cluster is neither used
# nor started.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ -n "${PG_BINDIR:-}" ] && [ -x "${PG_BINDIR}/initdb" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-postgres: WARNING: PostgreSQL server programs are missing and we are not root;" >&2
        echo "  install them with: apt-get install -y postgresql (as root). The PostgreSQL tests skip" >&2
        echo "  until then (and fail under CI=true)." >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: WARNING: no apt-get here; install PostgreSQL's server programs and set" >&2
    echo "  PG_BINDIR. The PostgreSQL tests skip until then (and fail under CI=true)." >&2
    exit 0
fi

echo "ensure-postgres: installing Debian's postgresql (server programs for the test suite)" >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: do not start the packaged cluster's service while installing (tests start their own)
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED_POLICY=1
fi
cleanup() { if [ "$CREATED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
