#!/usr/bin/env bash
# .ci/pg/stop.sh - stop the PostgreSQL started by .ci/pg/start.sh (pg_ctl on its data dir only).
#   --purge   also delete $PG_CI_DIR
set -uo pipefail
D=${PG_CI_DIR:-/tmp/heatledger-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -s "$D/data/postmaster.pid" ] && [ -x "$BIN/pg_ctl" ]; then
  if [ "$(id -un)" = postgres ]; then "$BIN/pg_ctl" -D "$D/data" -m fast -w stop; else runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -m fast -w stop; fi
else
  echo "postgres: not running"
fi
if [ "${1:-}" = --purge ]; then rm -rf "$D"; echo "removed $D"; fi
exit 0
