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
# its PostgreSQL 8 s), witness (witness stopped 3 s, the active killed 0.5 s in), both (both nodes and PostgreSQL killed),
# linkcut (BENCH_NETNS=1 only: the active's switch port down 5 s, then up).
# Usage: bench/failover.sh    (env: CYCLES=5 SCENARIOS=planned,crash HEARTBEAT_MS=200 FAILOVER_TIMEOUT_MS=1000
#                              BENCH_NET=127.0.91  BENCH_NETNS=0  BENCH_SUBNET=10.231.X  BENCH_SNAPSHOT=0  BENCH_KEEP_LOGS=DIR)
#   BENCH_NETNS=1     (root) hosts of their own: network namespaces on a bridge, on a private /24 (BENCH_SUBNET, picked
#                     among 10.231.X unless set) that exists only inside them; each node (and the PostgreSQL it starts)
#                     in its own namespace, the witness in one, and the driver (client, sampler, CLI) in a client
#                     namespace; the VIP moved by the `ip` provider with gratuitous ARP, as on real hosts. The namespaces,
#                     the bridge and the veths are deleted at the end and on Ctrl-C.
#   BENCH_SNAPSHOT=1  publishes from a copy of the working tree in the temp folder, so that a build running
#                     in the repository at the same time is not disturbed (slower: a full build).
#   BENCH_KEEP_LOGS   copies the node and PostgreSQL logs there before the temp folder is removed.
# Own loopback addresses (not run.sh's): primary NET.11, secondary NET.9, VIP NET.14, witness NET.13 (with BENCH_NETNS=1
# the same host numbers in BENCH_SUBNET, and the client .50).
# Everything lives in a temp folder that is removed at the end. Progress goes to stderr, the report to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CYCLES=${CYCLES:-5}
HEARTBEAT_MS=${HEARTBEAT_MS:-200}
FAILOVER_TIMEOUT_MS=${FAILOVER_TIMEOUT_MS:-1000}
NETNS=${BENCH_NETNS:-0}
NET=${BENCH_NET:-127.0.91}
case "$NET." in 127.*) ;; *) die "BENCH_NET must be a 127.x.y loopback prefix, not $NET" ;; esac

ensure_dotnet
ensure_postgres
if [ "$NETNS" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "BENCH_NETNS=1 needs root (network namespaces)"
  command -v ip >/dev/null || die "the ip command (iproute2) is missing"
  ensure_package arping iputils-arping
fi

bench_work failover
APP=$WORK/app
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RUN_IN=()
if [ "$NETNS" = 1 ]; then
  # Namespaces ssmfo<pid>-sw (the bridge), -p, -s, -w, -c; each host's veth is eth0 inside and v<host> on the bridge.
  NS=ssmfo$$
  bench_netns_create "$NS" p=11 s=9 w=13 c=50
  NET=$BENCH_SUBNET
  log "Network namespaces $NS-{sw,p,s,w,c} on $NET.0/24 (bridge in $NS-sw; primary .11, secondary .9, witness .13, client .50, VIP .14)"
  BENCH_WITNESS_NETNS=$NS-w
  RUN_IN=(ip netns exec "$NS-c")
fi
PRIMARY=$NET.11
SECONDARY=$NET.9
VIP=$NET.14
WITNESS=$NET.13

if [ "$NETNS" = 1 ]; then
  # Fresh hosts: the usual ports are free on them.
  HTTP_PORT=8080 HTTPS_PORT=8443 PEER_PORT=8445 PG_PORT=15432 WITNESS_PORT=15432
else
  bench_cluster_ports 8080 8443 8445
fi

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

printf 'ssm failover benchmark  commit %s%s  %s cores  dotnet %s  %s  load average %s\n' \
  "$COMMIT" "$DIRTY_FLAG" "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)" "$(cut -d" " -f1-3 /proc/loadavg)"
[ -z "$DIRTY" ] || printf 'uncommitted changes built in: %s\n' "$DIRTY"

NETNS_ARGS=()
[ "$NETNS" = 1 ] && NETNS_ARGS=(--netns "$NS" --subnet "$NET")
SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD "${RUN_IN[@]}" python3 bench/failover.py "${NETNS_ARGS[@]}" \
  --app "$SSM" --key "$KEY" --work "$WORK" \
  --primary "$PRIMARY" --secondary "$SECONDARY" --vip "$VIP" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --peer-port "$PEER_PORT" --pg-port "$PG_PORT" \
  --witness "$WITNESS_DB" --heartbeat-ms "$HEARTBEAT_MS" --failover-timeout-ms "$FAILOVER_TIMEOUT_MS" \
  --cycles "$CYCLES" --witness-data "$WORK/witness" --scenarios "${SCENARIOS:-planned,crash}"
