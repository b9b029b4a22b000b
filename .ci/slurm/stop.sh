#!/usr/bin/env bash
# .ci/slurm/stop.sh - stop the daemons started by .ci/slurm/start.sh, using only the
# pidfiles it wrote ($SLURM_CI_DIR/run/<name>.pid).  Never kills by name.
#   --purge   also delete $SLURM_CI_DIR (configs, DB, state, logs)
set -uo pipefail
D=${SLURM_CI_DIR:-/tmp/heatledger-slurm}
export SLURM_CONF="$D/etc/slurm.conf"

# Cancel remaining jobs first so slurmd can reap its slurmstepds cleanly.
if [ -s "$D/run/slurmctld.pid" ] && kill -0 "$(cat "$D/run/slurmctld.pid")" 2>/dev/null; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// }" ]; then
    echo "cancelling jobs: $jobs"; timeout 10 scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 50); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi

stop_one() { # stop_one NAME EXPECTED_EXE_BASENAME
  local name=$1 exe=$2 f="$D/run/$1.pid" pid comm
  [ -s "$f" ] || { echo "$name: no pidfile"; return 0; }
  pid=$(cat "$f")
  if ! kill -0 "$pid" 2>/dev/null; then echo "$name: pid $pid not running"; rm -f "$f"; return 0; fi
  comm=$(basename "$(readlink /proc/"$pid"/exe 2>/dev/null)" 2>/dev/null || true)
  case "$comm" in "$exe"*) ;; *)
    echo "$name: pid $pid is '$comm', not $exe - pid reused? leaving it alone"; rm -f "$f"; return 0 ;;
  esac
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "$name: pid $pid ignored TERM for 10s, sending KILL"; kill -KILL "$pid"; sleep 0.2; fi
  echo "$name: stopped (pid $pid)"; rm -f "$f"
}
stop_one slurmrestd slurmrestd
stop_one slurmd    slurmd
stop_one slurmctld slurmctld        # its child slurmscriptd exits with it
stop_one slurmdbd  slurmdbd
stop_one mariadbd  mariadbd
stop_one munged    munged

if [ "${1:-}" = --purge ]; then rm -rf "$D"; echo "removed $D"; fi
exit 0
