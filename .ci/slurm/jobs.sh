#!/usr/bin/env bash
# .ci/slurm/jobs.sh - submit a workload with contention to the CI Slurm started by
# .ci/slurm/start.sh and wait until every job has left the queue and reached the
# accounting database: three 2-GPU jobs and a 4-GPU job competing for 4 GPUs, CPU
# jobs, a failure (exit 3), a cancel, a 2-task array and two rejected submissions.
# Prints `since=<UTC ISO>` (the second of the first submission) on its last line, so
# a test can ask sacct for exactly this workload. Run as root.
set -euo pipefail
D=${SLURM_CI_DIR:-/tmp/heatledger-slurm}
export SLURM_CONF="$D/etc/slurm.conf"
cd "$D/jobs"
O="--parsable --output=$D/jobs/%j.out"
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
t0=$(date +%s)
for i in 1 2 3; do as alice sbatch $O -A proj-a -p gpu --gres=gpu:2 -J a-gpu$i --wrap 'sleep 4'; done
for i in 1 2; do as bob sbatch $O -A proj-b -p batch -J b-cpu$i --wrap 'sleep 2'; done
as bob sbatch $O -A proj-b -p gpu --gres=gpu:1 -J b-fail --wrap 'sleep 1; exit 3'
cancel=$(as bob sbatch $O -A proj-b -p gpu --gres=gpu:4 -J b-cancel --wrap 'sleep 60')
sbatch $O -A proj-a -p batch -J root-array --array=1-2 --wrap 'sleep 2'
# Rejected: more GPUs than the node has (recorded as FAILED), and a wrong account (not recorded).
as alice sbatch $O -A proj-a -p gpu --gres=gpu:8 -J too-big --wrap true 2>&1 || echo "(rejected as expected)"
as alice sbatch $O -A proj-b -p gpu -J wrong-acct --wrap true 2>&1 || echo "(rejected as expected)"
deadline=$(( $(date +%s) + 120 ))
until [ "$(squeue -h -j "$cancel" -o %t 2>/dev/null)" = R ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "b-cancel never started" >&2; exit 1; }
  sleep 0.5
done
sleep 1; scancel "$cancel"
while [ -n "$(squeue -h -o %A)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "jobs still queued after 120 s" >&2; squeue >&2; exit 1; }
  sleep 0.5
done
# Exactly the first submission second: a window any wider catches a previous run's jobs.
S=$(date -u -d @"$t0" +%Y-%m-%dT%H:%M:%SZ)
# Job-end records reach slurmdbd asynchronously: wait until every job of this run is
# there with a final state and an end (sacct -s would match past states, so read them).
open_jobs() { TZ=UTC sacct -a -X -n -P -S "${S%Z}" -o State,End | grep -cE '^(PENDING|RUNNING|REQUEUED|SUSPENDED|COMPLETING)|[|]Unknown$' || true; }
all_jobs() { TZ=UTC sacct -a -X -n -P -S "${S%Z}" -o JobID | grep -c . || true; }
until [ "$(open_jobs)" = 0 ] && [ "$(all_jobs)" -ge 10 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "sacct still shows open or missing jobs" >&2; exit 1; }
  sleep 0.5
done
echo "workload took $(( $(date +%s) - t0 ))s"
echo "since=$S"
