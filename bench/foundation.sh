#!/usr/bin/env bash
# Foundation benchmark of one `ssm node` against a throwaway PostgreSQL cluster:
#   - start-to-ready time (process start to /health/ready = 200), BENCH_STARTS restarts
#   - resident memory (VmRSS) idle after ready, and after creating BENCH_COUNT accounts
#   - create-account latency over HTTP vs. a GET /health/live baseline on the same kind of connection
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-bench.XXXXXX")
PG_DIR=$WORK/pg
APP=$WORK/app
NODE_PID_FILE=$WORK/node.pid
PG_STARTED=false

# Stops what this script started: the node (if the helper left it running) by its pid, then PostgreSQL.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Only if that pid still is our node (its command line names our temp folder).
  stop_own_pids "$WORK" "$APP/ssm"
  if $PG_STARTED; then
    log "Stopping PostgreSQL"
    pg_stop "$PG_DIR"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_PORT=$(free_port)
PG_PASSWORD=$(random_secret)
log "Creating a throwaway PostgreSQL cluster in $PG_DIR (port $PG_PORT)"
pg_init "$PG_DIR" "$PG_PASSWORD"
PG_STARTED=true
pg_start "$PG_DIR" "$PG_PORT"
PGPASSWORD=$PG_PASSWORD pg_psql "$PG_DIR" "$PG_PORT" -d postgres -c "create database ssm"
DB="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=ssm"

log "Publishing the node (Release) to $APP"
if ! publish_node "$APP" >"$WORK/publish.log" 2>&1; then
  tail -30 "$WORK/publish.log" >&2
  die "dotnet publish failed"
fi

ADMIN_PASSWORD=$(random_secret)
while [ ${#ADMIN_PASSWORD} -lt 12 ]; do ADMIN_PASSWORD=$(random_secret); done

NODE_PORT=$(free_port)
HTTPS_PORT=$(free_port)
while [ "$HTTPS_PORT" = "$NODE_PORT" ]; do HTTPS_PORT=$(free_port); done
printf 'ssm foundation benchmark  commit %s%s  %s cores  dotnet %s  %s\n' \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')" \
  "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)"

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD python3 bench/foundation.py \
  --app "$APP/ssm" --port "$NODE_PORT" --https-port "$HTTPS_PORT" --db "$DB" --data "$WORK/node" \
  --log "$WORK/node.log" --pid-file "$NODE_PID_FILE" \
  --starts "$STARTS" --count "$COUNT" --idle-seconds "$IDLE_SECONDS"
