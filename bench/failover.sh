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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-failover.XXXXXX")
# PostgreSQL runs as postgres when we are root: it must pass through this folder to its own (nothing here is readable).
[ "$(id -u)" = 0 ] && chmod o+x "$WORK"
APP=$WORK/app
WITNESS_STARTED=false


# Stops what this script started, each by its own pid: the nodes, then every PostgreSQL, then the folder.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The nodes leave their PostgreSQL running when they exit (a crash must look like a crash): stop them here.
  stop_own_pids "$WORK/pids" "$APP/ssm"
  stop_node_postgres "$WORK/primary/pg" "$WORK/secondary/pg"
  if $WITNESS_STARTED; then
    log "Stopping the witness PostgreSQL"
    pg_stop "$WORK/witness"
  fi
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
    mkdir -p "$BENCH_KEEP_LOGS"
    for node in primary secondary; do
      cp "$WORK/$node.log" "$BENCH_KEEP_LOGS/$node.log" 2>/dev/null || true
      cp "$WORK/$node/pg-run/postgresql.log" "$BENCH_KEEP_LOGS/$node-postgresql.log" 2>/dev/null || true
    done
    cp "$WORK/witness/server.log" "$BENCH_KEEP_LOGS/witness-postgresql.log" 2>/dev/null || true
    log "Logs copied to $BENCH_KEEP_LOGS"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/pids"

HTTP_PORT=$(pick_port 8080 "$PRIMARY" "$SECONDARY" "$VIP")
HTTPS_PORT=$(pick_port 8443 "$PRIMARY" "$SECONDARY" "$VIP")
while [ "$HTTPS_PORT" = "$HTTP_PORT" ]; do HTTPS_PORT=$(pick_port $((HTTP_PORT + 2)) "$PRIMARY" "$SECONDARY" "$VIP"); done
PEER_PORT=$(pick_port 8445 "$PRIMARY" "$SECONDARY")
while [ "$PEER_PORT" = "$HTTP_PORT" ] || [ "$PEER_PORT" = "$HTTPS_PORT" ]; do PEER_PORT=$(pick_port $((HTTPS_PORT + 3)) "$PRIMARY" "$SECONDARY"); done
PG_PORT=$(pick_port 15432 "$PRIMARY" "$SECONDARY")
WITNESS_PORT=$(pick_port 15432 "$WITNESS")

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
KEY=$WORK/cluster-keys
"$SSM" ha_generate_keys --out "$KEY" >/dev/null
# The benchmark's own client of the console API (mutual TLS), as the console verbs make one for each call.
"$SSM" ha_generate_keys --out "$KEY" --issue bench-console --role console >/dev/null

log "Starting the witness PostgreSQL on $WITNESS:$WITNESS_PORT (TLS, nodes admitted by cluster certificate)"
WITNESS_DB=$("$SSM" ha_witness_init --data "$WORK/witness" --keys "$KEY" --address "$WITNESS" --port "$WITNESS_PORT")
WITNESS_STARTED=true
pg_start "$WORK/witness" "$WITNESS_PORT" "-c listen_addresses=$WITNESS"

ADMIN_PASSWORD=$(random_secret)
while [ ${#ADMIN_PASSWORD} -lt 12 ]; do ADMIN_PASSWORD=$(random_secret); done

printf 'ssm failover benchmark  commit %s%s  %s cores  dotnet %s  %s\n' \
  "$COMMIT" "$DIRTY_FLAG" "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)"
[ -z "$DIRTY" ] || printf 'uncommitted changes built in: %s\n' "$DIRTY"

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD python3 bench/failover.py \
  --app "$SSM" --key "$KEY" --work "$WORK" \
  --primary "$PRIMARY" --secondary "$SECONDARY" --vip "$VIP" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --peer-port "$PEER_PORT" --pg-port "$PG_PORT" \
  --witness "$WITNESS_DB" --heartbeat-ms "$HEARTBEAT_MS" --failover-timeout-ms "$FAILOVER_TIMEOUT_MS" \
  --cycles "$CYCLES" --witness-data "$WORK/witness" --scenarios "${SCENARIOS:-planned,crash}"
