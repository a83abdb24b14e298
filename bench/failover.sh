#!/usr/bin/env bash
# Failover benchmark of the two-node cluster, with a client writing through the VIP the whole time:
#   - planned handover (ha_cluster_stop on the active, then ha_cluster_start to rejoin), CYCLES times
#   - crash failover (kill -9 of the active node and of its PostgreSQL postmaster, then restart), CYCLES times
# For each: RTO (event to first write acknowledged through the VIP), rejoin time (until the active is
# synchronous with a connected peer again), the raw promote time of the same run as baseline, writes
# acknowledged, acknowledged writes missing at the end (lost), and samples where both nodes' PostgreSQL
# were writable at once (two writers).
# SCENARIOS picks more fault kinds (mixed, in a shuffled order per round; see bench/chaos.sh): planned, crash,
# pgkill (kill -9 of the active's PostgreSQL alone), freeze (SIGSTOP of the active node 8 s), pgfreeze (SIGSTOP of
# its PostgreSQL 8 s), witness (witness stopped 3 s, the active killed 0.5 s in), both (both nodes and PostgreSQL killed).
# Usage: bench/failover.sh    (env: CYCLES=5 SCENARIOS=planned,crash HEARTBEAT_MS=200 FAILOVER_TIMEOUT_MS=1000
#                              BENCH_NET=127.0.91  BENCH_SNAPSHOT=0  BENCH_KEEP_LOGS=DIR)
#   BENCH_SNAPSHOT=1  publishes from a copy of the working tree in the temp folder, so that a build running
#                     in the repository at the same time is not disturbed (slower: a full build).
#   BENCH_KEEP_LOGS   copies the node and PostgreSQL logs there before the temp folder is removed.
# Own loopback addresses (not run.sh's): primary NET.11, secondary NET.9, VIP NET.14, witness NET.13.
# Everything lives in a temp folder that is removed at the end. Progress goes to stderr, the report to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CYCLES=${CYCLES:-5}
HEARTBEAT_MS=${HEARTBEAT_MS:-200}
FAILOVER_TIMEOUT_MS=${FAILOVER_TIMEOUT_MS:-1000}
NET=${BENCH_NET:-127.0.91}
PRIMARY=$NET.11
SECONDARY=$NET.9
VIP=$NET.14
WITNESS=$NET.13
case "$NET." in 127.*) ;; *) die "BENCH_NET must be a 127.x.y loopback prefix, not $NET" ;; esac

ensure_dotnet
ensure_postgres

bench_work failover
APP=$WORK/app
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_cluster_ports 8080 8443 8445

# What is built, read before publishing (read-only git calls that take no lock on the index).
COMMIT=$(git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo '?')
DIRTY_FLAG=$(git --no-optional-locks diff --quiet HEAD 2>/dev/null || echo ' (dirty)')
# Which uncommitted files the published node is built with (the benchmark's own files aside).
DIRTY=$(git --no-optional-locks status --porcelain 2>/dev/null | awk '{print $NF}' | grep -v '^bench/' | tr '\n' ' ' || true)

if [ "${BENCH_SNAPSHOT:-0}" = 1 ]; then
  log "Copying the working tree to $WORK/src"
  mkdir -p "$WORK/src"
  tar -c --exclude=./.git --exclude=./.data --exclude=./TestResults --exclude='bin' --exclude='obj' . | tar -x -C "$WORK/src"
  PROJECT=$WORK/src/Ssm.Web/Ssm.Web.csproj
else
  PROJECT=Ssm.Web/Ssm.Web.csproj
fi
log "Publishing the node (Release) to $APP"
if ! publish_node "$APP" "$PROJECT" >"$WORK/publish.log" 2>&1; then
  tail -30 "$WORK/publish.log" >&2
  die "dotnet publish failed"
fi
rm -rf "$WORK/src"
SSM=$APP/ssm
bench_cluster_keys

bench_admin_password

printf 'ssm failover benchmark  commit %s%s  %s cores  dotnet %s  %s\n' \
  "$COMMIT" "$DIRTY_FLAG" "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)"
[ -z "$DIRTY" ] || printf 'uncommitted changes built in: %s\n' "$DIRTY"

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD python3 bench/failover.py \
  --app "$SSM" --key "$KEY" --work "$WORK" \
  --primary "$PRIMARY" --secondary "$SECONDARY" --vip "$VIP" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --peer-port "$PEER_PORT" --pg-port "$PG_PORT" \
  --witness "$WITNESS_DB" --heartbeat-ms "$HEARTBEAT_MS" --failover-timeout-ms "$FAILOVER_TIMEOUT_MS" \
  --cycles "$CYCLES" --witness-data "$WORK/witness" --scenarios "${SCENARIOS:-planned,crash}"
