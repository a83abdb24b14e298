#!/usr/bin/env bash
# Foundation benchmark of one `ssm node` against a throwaway PostgreSQL cluster:
#   - start-to-ready time (process start to /health/ready = 200), BENCH_STARTS restarts
#   - resident memory (VmRSS) idle after ready, and after creating BENCH_COUNT accounts
#   - create-account latency over HTTP vs. a GET /health/live baseline on the same kind of connection
#   - the first requests after a restart and BENCH_IDLE_SECONDS idle (a new TLS connection, sign-in, two writes), with
#     the node's warm-up off and on, alternating BENCH_FIRST_ROUNDS times (default 3)
# Usage: bench/foundation.sh            (env: BENCH_COUNT=10000 BENCH_STARTS=3 BENCH_IDLE_SECONDS=5)
# Everything lives in a temp folder that is removed at the end; only 127.0.0.1 is used.
# Progress goes to stderr, the report to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

COUNT=${BENCH_COUNT:-10000}
STARTS=${BENCH_STARTS:-3}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}

ensure_dotnet
ensure_postgres

bench_work bench
APP=$WORK/app
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_postgres "$WORK/pg"

log "Publishing the node (Release) to $APP"
if ! publish_node "$APP" >"$WORK/publish.log" 2>&1; then
  tail -30 "$WORK/publish.log" >&2
  die "dotnet publish failed"
fi

bench_admin_password

NODE_PORT=$(free_port)
HTTPS_PORT=$(free_port)
while [ "$HTTPS_PORT" = "$NODE_PORT" ]; do HTTPS_PORT=$(free_port); done
bench_header 'foundation'

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD python3 bench/foundation.py \
  --app "$APP/ssm" --port "$NODE_PORT" --https-port "$HTTPS_PORT" --db "$DB" --data "$WORK/node" \
  --log "$WORK/node.log" --pid-file "$WORK/pids/node.pid" \
  --starts "$STARTS" --count "$COUNT" --idle-seconds "$IDLE_SECONDS"
