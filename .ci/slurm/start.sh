#!/usr/bin/env bash
# .ci/slurm/start.sh - bring up a real single-node Slurm cluster (with slurmdbd
# accounting backed by MariaDB) for CI, without systemd.  Must run as root.
# The project's own copy of ../shared/recipes/slurm/start-slurm.sh (CI must not depend on
# the recipe folder); keep fixes here and note them in the recipe when they are general.
#
# Idempotent: daemons whose pidfile points at a live process are left alone,
# the MariaDB data dir is initialised only once, sacctmgr objects are only
# added when missing.  Exits 0 once `sinfo` reports the node idle.
#
# Everything (configs, pidfiles, logs, DB data, spool dirs, munge socket)
# lives under $SLURM_CI_DIR.  Clients need:  export SLURM_CONF=$SLURM_CI_DIR/etc/slurm.conf
# (the script prints that line at the end; set SLURM_CI_LINK_ETC=1 to also
# symlink /etc/slurm/slurm.conf so plain `sacct` works without the env var).
#
# Tunables (env): SLURM_CI_DIR, SLURM_CI_CLUSTER, SLURM_CI_NODE, SLURM_CI_CPUS,
# SLURM_CI_GPUS, SLURM_CI_DB_PORT, SLURM_CI_INSTALL=1 (apt-get install first),
# SLURM_CI_USERS ("alice:proj-a bob:proj-b" - unix users created if missing),
# SLURM_CI_RESTD=0|jwt|local  (jwt: slurmrestd on 127.0.0.1:$SLURM_CI_RESTD_PORT,
#   tokens via `scontrol token`; local: unix socket $SLURM_CI_DIR/restd/slurmrestd.sock,
#   usable by root and by the restd user only; needs package slurmrestd, jwt
#   additionally slurm-wlm-jwt-plugin).
set -euo pipefail

D=${SLURM_CI_DIR:-/tmp/heatledger-slurm}
CLUSTER=${SLURM_CI_CLUSTER:-ci}
NODE=${SLURM_CI_NODE:-c1}
CPUS=${SLURM_CI_CPUS:-2}
GPUS=${SLURM_CI_GPUS:-4}
DB_PORT=${SLURM_CI_DB_PORT:-3307}
USERS=${SLURM_CI_USERS:-"alice:proj-a bob:proj-b root:proj-a"}
CTLD_PORT=${SLURM_CI_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-6818}
DBD_PORT=${SLURM_CI_DBD_PORT:-6819}
TIMEOUT=${SLURM_CI_TIMEOUT:-90}
RESTD=${SLURM_CI_RESTD:-0}
RESTD_PORT=${SLURM_CI_RESTD_PORT:-6820}
RESTD_USER=${SLURM_CI_RESTD_USER:-slurmrestd}   # must be neither root nor SlurmUser

t_start=$(date +%s.%N)
log() { printf '[start-slurm %6.1fs] %s\n' "$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*"; }
die() { log "ERROR: $*"; for f in "$D"/log/* "$D"/mysql-run/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done; exit 1; }
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }

if [ "${SLURM_CI_INSTALL:-0}" = 1 ]; then
  log "apt-get install"
  # Docker-style images ship /usr/sbin/policy-rc.d (exit 101) so postinsts do
  # not try to start services; without it they try invoke-rc.d and may fail.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client slurmdbd munge mariadb-server \
    $( [ "$RESTD" != 0 ] && echo slurmrestd curl ) $( [ "$RESTD" = jwt ] && echo slurm-wlm-jwt-plugin ) >/dev/null
fi
for b in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo; do
  command -v "$b" >/dev/null || die "missing $b (set SLURM_CI_INSTALL=1)"
done

mkdir -p "$D"/{etc,run,log,mysql,mysql-run,spool/ctld,spool/d,munge,jobs}
chmod 755 "$D" "$D"/{etc,run,log}
chmod 1777 "$D/jobs"                         # job stdout for non-root users
chown slurm:slurm "$D/spool/ctld" "$D/log"
chown munge:munge "$D/munge"; chmod 755 "$D/munge"   # munged: socket dir must be a+x
chown mysql:mysql "$D/mysql" "$D/mysql-run"   # mariadbd creates socket/log after dropping to mysql

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# start NAME CMD... : run CMD in background (new session, no fork), record pid
start_bg() {
  local name=$1; shift
  if alive "$D/run/$name.pid"; then log "$name already running (pid $(cat "$D/run/$name.pid"))"; return 0; fi
  setsid "$@" </dev/null >>"$D/log/$name.stdout" 2>&1 &
  echo $! >"$D/run/$name.pid"
  log "started $name pid $!"
}
wait_for() { # wait_for NAME SECONDS CMD...   (NAME = pidfile name, must stay alive)
  local desc=$1 secs=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    alive "$D/run/$desc.pid" || die "$desc died (see $D/log/$desc.stdout)"
    [ "$(date +%s)" -lt "$end" ] || die "timeout waiting for $desc"
    sleep 0.2
  done
  log "$desc ok"
}

# ---------------------------------------------------------------- configs
MUNGE_SOCK="$D/munge/munge.socket.2"
cat >"$D/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
StateSaveLocation=$D/spool/ctld
SlurmdSpoolDir=$D/spool/d
SlurmctldPidFile=$D/run/slurmctld.selfpid
SlurmdPidFile=$D/run/slurmd.selfpid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
SchedulerType=sched/backfill
# Fair share as sites run it, so that sshare prints shares and usage (test/e2e/slurm-fairshare-real.test.ts)
PriorityType=priority/multifactor
PriorityDecayHalfLife=7-0
PriorityWeightFairshare=10000
PriorityCalcPeriod=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# declared resources win even if the CI box has fewer/more cores
SlurmdParameters=config_overrides
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# clients/slurmctld reach slurmdbd with the "global" munge socket, which is
# AccountingStoragePass, NOT AuthInfo - needed because munged is not on /run/munge
AccountingStoragePass=$MUNGE_SOCK
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$CPUS RealMemory=1000 Gres=gpu:$GPUS State=UNKNOWN
PartitionName=batch Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu   Nodes=$NODE Default=NO  MaxTime=INFINITE State=UP
EOF
# Fake GPUs: Slurm 22.05 silently drops GPU gres lines without File=
# ("Removing file-less GPU ... from final GRES list") and the node goes
# INVAL "gres/gpu count reported lower than configured (0 < N)".  Regular
# files give "not a valid character or block device" errors but work;
# symlinks to /dev/null are valid char devices -> clean log, no mknod needed.
mkdir -p "$D/dev"
for ((i = 0; i < GPUS; i++)); do ln -sfn /dev/null "$D/dev/gpu$i"; done
cat >"$D/etc/gres.conf" <<EOF
NodeName=$NODE Name=gpu File=$D/dev/gpu[0-$((GPUS - 1))]
EOF
cat >"$D/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$D/run/slurmdbd.selfpid
LogFile=$D/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm "$D/etc/slurmdbd.conf"; chmod 600 "$D/etc/slurmdbd.conf"   # slurmdbd insists
if [ "$RESTD" = jwt ]; then
  # HS256 key shared by slurmctld/slurmdbd (both run as SlurmUser)
  [ -s "$D/etc/jwt_hs256.key" ] || dd if=/dev/urandom of="$D/etc/jwt_hs256.key" bs=32 count=1 status=none
  chown slurm:slurm "$D/etc/jwt_hs256.key"; chmod 600 "$D/etc/jwt_hs256.key"
  for f in slurm.conf slurmdbd.conf; do
    printf 'AuthAltTypes=auth/jwt\nAuthAltParameters=jwt_key=%s\n' "$D/etc/jwt_hs256.key" >>"$D/etc/$f"
  done
fi
export SLURM_CONF="$D/etc/slurm.conf"
if [ "${SLURM_CI_LINK_ETC:-0}" = 1 ]; then mkdir -p /etc/slurm; ln -sf "$SLURM_CONF" /etc/slurm/slurm.conf; fi

# ---------------------------------------------------------------- munge
# the munge package's postinst normally creates the key; make sure anyway
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge; chown munge:munge /etc/munge; chmod 700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
start_bg munged setpriv --reuid=munge --regid=munge --clear-groups \
  munged --foreground --socket="$MUNGE_SOCK" --key-file=/etc/munge/munge.key \
  --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed"
wait_for munged 20 sh -c "munge -S '$MUNGE_SOCK' -n | unmunge -S '$MUNGE_SOCK'"

# ---------------------------------------------------------------- mariadb
MYSQL_SOCK="$D/mysql-run/mysqld.sock"
if [ ! -d "$D/mysql/mysql" ]; then
  log "initialising MariaDB datadir"
  mariadb-install-db --no-defaults --user=mysql --datadir="$D/mysql" \
    --auth-root-authentication-method=socket --skip-test-db >"$D/log/mariadb-install.log" 2>&1 \
    || die "mariadb-install-db failed (see $D/log/mariadb-install.log)"
fi
start_bg mariadbd mariadbd --no-defaults --user=mysql --datadir="$D/mysql" \
  --socket="$MYSQL_SOCK" --pid-file="$D/mysql-run/mariadbd.pid" --port="$DB_PORT" \
  --bind-address=127.0.0.1 --skip-name-resolve --log-error="$D/mysql-run/mariadb.log" \
  --innodb-buffer-pool-size=64M --innodb-log-file-size=16M
wait_for mariadbd 60 mariadb --no-defaults -S "$MYSQL_SOCK" -uroot -e 'select 1'
mariadb --no-defaults -S "$MYSQL_SOCK" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# ---------------------------------------------------------------- slurmdbd
start_bg slurmdbd slurmdbd -D
wait_for slurmdbd 60 sacctmgr -n show cluster

# ---------------------------------------------------------------- associations
sm() { sacctmgr -i "$@" >/dev/null; }
[ -n "$(sacctmgr -n -P show cluster "$CLUSTER" format=cluster)" ] || sm add cluster "$CLUSTER"
have_acc=" $(sacctmgr -n -P show account format=account | tr '\n' ' ') "
have_assoc=" $(sacctmgr -n -P show assoc cluster="$CLUSTER" format=account,user | tr '\n' ' ') "
new_acc=""
for ua in $USERS; do
  u=${ua%%:*}; a=${ua#*:}
  id "$u" >/dev/null 2>&1 || useradd -M -s /bin/bash "$u"
  case "$have_acc $new_acc " in *" $a "*) ;; *) new_acc="$new_acc $a" ;; esac
done
[ -z "$new_acc" ] || sm add account $(echo $new_acc | tr ' ' ',') cluster="$CLUSTER" organization=ci
for ua in $USERS; do
  u=${ua%%:*}; a=${ua#*:}
  case "$have_assoc" in *" $a|$u "*) ;; *) sm add user "$u" account="$a" cluster="$CLUSTER" ;; esac
done
log "associations ok"

# ---------------------------------------------------------------- slurmctld / slurmd
start_bg slurmctld slurmctld -D -i
wait_for slurmctld 60 scontrol ping
slurmd_launch=$(date +%s)
alive "$D/run/slurmd.pid" && slurmd_launch=0     # already running: no re-registration to wait for
start_bg slurmd slurmd -D -N "$NODE"

end=$(( $(date +%s) + TIMEOUT ))
while :; do
  st=$(sinfo -h -n "$NODE" -o '%t' 2>/dev/null | sort -u | tr '\n' ' ')
  # exactly idle/mix/alloc - "idle*" (not responding yet) does not count; after
  # a restart the saved state says idle before slurmd re-registers, so also
  # require SlurmdStartTime from this launch
  reg=$(scontrol -o show node "$NODE" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)
  reg=$(date -d "$reg" +%s 2>/dev/null || echo 0)
  [[ "$st" =~ ^(idle|mix|alloc)\ $ ]] && [ "$reg" -ge "$((slurmd_launch - 1))" ] && break
  case "$st" in *drain*|*inval*|*down*)  # e.g. after an unclean restart
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;; esac
  [ "$(date +%s)" -lt "$end" ] || die "node not idle (state: $st)"
  sleep 0.3
done
log "node $NODE $st- cluster ready"

# ---------------------------------------------------------------- slurmrestd (optional)
if [ "$RESTD" != 0 ]; then
  id "$RESTD_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$RESTD_USER"
  # slurmrestd refuses to run as root or SlurmUser
  if [ "$RESTD" = jwt ]; then
    # SLURM_JWT=daemon (set below) makes slurmrestd load auth/jwt itself;
    # without it every token gets "Rejecting thread config token" (HTTP 401)
    listen="127.0.0.1:$RESTD_PORT"; auth=rest_auth/jwt
    # slurmrestd rejects tokens for root/SlurmUser - probe as the first CI user
    RESTD_PROBE_USER=${USERS%%:*}
    probe() { curl -sf -H "X-SLURM-USER-NAME: $RESTD_PROBE_USER" -H "X-SLURM-USER-TOKEN: $(scontrol token username=$RESTD_PROBE_USER lifespan=60 | cut -d= -f2)" "http://$listen/slurm/v0.0.38/ping"; }
  else
    mkdir -p "$D/restd"; chown "$RESTD_USER" "$D/restd"; chmod 755 "$D/restd"
    listen="unix:$D/restd/slurmrestd.sock"; auth=rest_auth/local
    probe() { curl -sf --unix-socket "$D/restd/slurmrestd.sock" http://localhost/slurm/v0.0.38/ping; }
  fi
  start_bg slurmrestd setpriv --reuid="$RESTD_USER" --regid="$(id -g "$RESTD_USER")" --clear-groups \
    env $( [ "$RESTD" = jwt ] && echo SLURM_JWT=daemon ) slurmrestd -a "$auth" -s openapi/v0.0.38,openapi/dbv0.0.38 "$listen"
  wait_for slurmrestd 30 probe
fi
echo "export SLURM_CONF=$SLURM_CONF"
