#!/usr/bin/env bash
# .ci/pg/start.sh - bring up a real PostgreSQL (Debian's postgresql package) for the
# federation hub's tests, without systemd: initdb + pg_ctl in a temp dir, run as the
# `postgres` user. Must run as root (or as postgres). Idempotent: a server already running
# from $PG_CI_DIR is left alone. Listens on 127.0.0.1:$PG_CI_PORT only, trust auth for
# local connections (a throwaway CI cluster; nothing else can reach it).
#
# Tunables (env): PG_CI_DIR (/tmp/heatledger-pg), PG_CI_PORT (55432), PG_CI_INSTALL=1
# (apt-get install postgresql first). Prints the URL tests read from HEATLEDGER_TEST_PG_URL.
set -euo pipefail
D=${PG_CI_DIR:-/tmp/heatledger-pg}
PORT=${PG_CI_PORT:-55432}

if [ "${PG_CI_INSTALL:-0}" = 1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "PostgreSQL not installed (apt-get install postgresql, or PG_CI_INSTALL=1)" >&2; exit 1; }

as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

mkdir -p "$D"
chown postgres:postgres "$D"
if [ ! -s "$D/data/PG_VERSION" ]; then
  as_pg "$BIN/initdb" -D "$D/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$D/initdb.log" 2>&1 \
    || { cat "$D/initdb.log" >&2; exit 1; }
fi
if as_pg "$BIN/pg_ctl" -D "$D/data" status >/dev/null 2>&1; then
  echo "postgres: already running"
else
  # fsync off: a CI cluster thrown away after the run; the hub's own code never relies on it.
  as_pg "$BIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 60 \
    -o "-p $PORT -k $D -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null \
    || { tail -20 "$D/server.log" >&2; exit 1; }
fi
as_pg "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 30 >/dev/null
echo "postgres: ready on 127.0.0.1:$PORT ($("$BIN/postgres" --version))"
echo "export HEATLEDGER_TEST_PG_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
