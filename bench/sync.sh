#!/usr/bin/env bash
# CSC synchronization benchmark of one standalone `ssm node` against the CSC emulator and a throwaway PostgreSQL:
#   - full sync of BENCH_INSTANCES product instances + BENCH_USAGE usage records of one account, seeded straight
#     into PostgreSQL (generate_series; seeding time printed apart)
#   - incremental sync after BENCH_CHANGE_PERCENT % new items
#   for each: wall time (POST /api/sync to the first 100 ms poll that sees the run ended), items/s, the run's own
#   startedAt->endedAt, the node's VmRSS (idle, peak sampled every 100 ms) and VmHWM; CSC's counts checked (PASS/FAIL)
#   - baselines of the same run: COPY of the documents' JSON out of PostgreSQL, one NDJSON POST straight to the
#     emulator (BENCH_RAW_UPLOAD lines); the report gives sync/raw ratios
# Targets (issue): full <= 30 s, incremental <= 2 s, memory bounded (streamed, not loaded whole).
# Usage: bench/sync.sh      (env: BENCH_INSTANCES=100000 BENCH_USAGE=1000000 BENCH_CHANGE_PERCENT=1
#                            BENCH_RAW_UPLOAD=100000 BENCH_TIMEOUT=1800 BENCH_KEEP_LOGS=DIR BENCH_APP=DIR)
#   The node is published from a copy of HEAD (git archive) in the temp folder, so a build running in the
#   repository at the same time is neither disturbed nor measured (uncommitted changes are not included).
#   BENCH_APP=DIR      uses an `ssm` already published in DIR instead (debugging the benchmark itself).
#   BENCH_KEEP_LOGS    copies the node, emulator and PostgreSQL logs there before the temp folder is removed.
#   BENCH_PG_SLOW_MS   logs PostgreSQL statements slower than that many ms (with BENCH_KEEP_LOGS: postgresql.log).
#   BENCH_TIMEOUT      seconds a single sync may run before the benchmark gives up.
# Everything lives in a temp folder that is removed at the end; only 127.0.0.1 is used.
# Progress goes to stderr, the report to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

INSTANCES=${BENCH_INSTANCES:-100000}
USAGE=${BENCH_USAGE:-1000000}
CHANGE_PERCENT=${BENCH_CHANGE_PERCENT:-1}
RAW_UPLOAD=${BENCH_RAW_UPLOAD:-100000}
TIMEOUT=${BENCH_TIMEOUT:-1800}

ensure_dotnet
ensure_postgres

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-sync.XXXXXX")
PG_DIR=$WORK/pg
APP=${BENCH_APP:-$WORK/app}
NODE_PID_FILE=$WORK/node.pid
CSC_PID_FILE=$WORK/csc.pid
PG_STARTED=false

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The node and the CSC emulator, each by the pid file beside it, if that pid still runs a program of APP.
  stop_own_pids "$WORK" "$APP/"
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
    mkdir -p "$BENCH_KEEP_LOGS"
    cp -f "$WORK"/node.log "$WORK"/csc.log "$BENCH_KEEP_LOGS"/ 2>/dev/null || true
    cp -f "$PG_DIR"/server.log "$BENCH_KEEP_LOGS"/postgresql.log 2>/dev/null || true
  fi
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
# Roomier than the defaults for the 1.1M-row seeding; the node's own statements are what is measured.
PG_OPTIONS=(-c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=30min)
[ -n "${BENCH_PG_SLOW_MS:-}" ] && PG_OPTIONS+=(-c "log_min_duration_statement=$BENCH_PG_SLOW_MS")
pg_start "$PG_DIR" "$PG_PORT" "${PG_OPTIONS[@]}"
PGPASSWORD=$PG_PASSWORD pg_psql "$PG_DIR" "$PG_PORT" -d postgres -c "create database ssm"
DB="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=ssm"

bench_publish "$WORK" "$APP"

ADMIN_PASSWORD=$(random_secret)
while [ ${#ADMIN_PASSWORD} -lt 12 ]; do ADMIN_PASSWORD=$(random_secret); done
OPERATOR_PASSWORD=$(random_secret)

NODE_PORT=$(free_port)
CSC_PORT=$(free_port)
while [ "$CSC_PORT" = "$NODE_PORT" ]; do CSC_PORT=$(free_port); done
HTTPS_PORT=$(free_port)
while [ "$HTTPS_PORT" = "$NODE_PORT" ] || [ "$HTTPS_PORT" = "$CSC_PORT" ]; do HTTPS_PORT=$(free_port); done
printf 'ssm sync benchmark  commit %s%s  %s cores  dotnet %s  %s\n' \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "$( [ -n "${BENCH_APP:-}" ] && echo " (app from $BENCH_APP)" )" \
  "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)"
printf 'sizes: %s instances, %s usage records, change %s %%\n' "$INSTANCES" "$USAGE" "$CHANGE_PERCENT"

PGPASSWORD=$PG_PASSWORD SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD CSC_OPERATOR_PASSWORD=$OPERATOR_PASSWORD python3 bench/sync.py \
  --app "$APP/ssm" --port "$NODE_PORT" --https-port "$HTTPS_PORT" --csc-port "$CSC_PORT" --pg-port "$PG_PORT" --db "$DB" --work "$WORK" \
  --psql "$PG_BIN/psql" --node-pid-file "$NODE_PID_FILE" --csc-pid-file "$CSC_PID_FILE" \
  --instances "$INSTANCES" --usage "$USAGE" --change-percent "$CHANGE_PERCENT" --raw-upload "$RAW_UPLOAD" \
  --timeout "$TIMEOUT"
