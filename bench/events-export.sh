#!/usr/bin/env bash
# Event Log export benchmark of one `ssm node` against a throwaway PostgreSQL cluster:
#   seeds BENCH_EVENTS entries (default 1,000,000) straight into the Event Log table, then downloads
#   GET /api/events.csv (all of them, newest first) and prints rows/s, MB/s, time to the first byte and the node's
#   resident memory before and at its peak during the download, next to a raw baseline of the same run
#   (PostgreSQL's own COPY ... TO STDOUT of the same rows as CSV).
# Usage: bench/events-export.sh        (env: BENCH_EVENTS=1000000; BENCH_APP=DIR reuses a published node)
# Everything lives in a temp folder that is removed at the end; only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

EVENTS=${BENCH_EVENTS:-1000000}

ensure_dotnet
ensure_postgres

bench_work events
APP=${BENCH_APP:-$WORK/app}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_postgres "$WORK/pg"
bench_publish "$WORK" "$APP"

bench_admin_password

NODE_PORT=$(free_port)
HTTPS_PORT=$(free_port)
while [ "$HTTPS_PORT" = "$NODE_PORT" ]; do HTTPS_PORT=$(free_port); done
bench_header 'Event Log export'

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD PGPASSWORD=$PG_PASSWORD python3 bench/events_export.py \
  --app "$APP/ssm" --port "$NODE_PORT" --https-port "$HTTPS_PORT" --db "$DB" --data "$WORK/node" \
  --log "$WORK/node.log" --pid-file "$WORK/pids/node.pid" --psql "$PG_BIN/psql" --pg-port "$PG_PORT" \
  --events "$EVENTS"
