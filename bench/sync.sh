#!/usr/bin/env bash
# CSC synchronization benchmark of one standalone `ssm node` against the CSC emulator and a throwaway PostgreSQL:
#   - full sync of BENCH_INSTANCES product instances + BENCH_USAGE usage records of one account, seeded straight
#     into PostgreSQL (generate_series; seeding time printed apart)
#   - incremental sync after BENCH_CHANGE_PERCENT % new items
#   for each: wall time (POST /api/sync to the first 100 ms poll that sees the run ended), items/s, the run's own
#   startedAt->endedAt, the node's VmRSS (idle, peak sampled every 100 ms) and VmHWM; CSC's counts checked (PASS/FAIL)
#   - baselines of the same run: COPY of the documents' JSON out of PostgreSQL, one NDJSON POST straight to the
#     emulator (BENCH_RAW_UPLOAD lines); the report gives sync/raw ratios
# Targets (issue 17 item 4): full <= 15 s and <= 5x the same run's COPY, incremental <= 0.5 s, errors = 0 (nothing lost,
#   counted twice, called a duplicate by CSC or left unacknowledged), memory bounded (streamed, not loaded whole).
#   Also printed: the CPU seconds of the node, the emulator and the rest of the machine during each run.
# Usage: bench/sync.sh      (env: BENCH_INSTANCES=100000 BENCH_USAGE=1000000 BENCH_CHANGE_PERCENT=1
#                            BENCH_RAW_UPLOAD=100000 BENCH_TIMEOUT=1800 BENCH_KEEP_LOGS=DIR BENCH_APP=DIR)
#   The node is published from a copy of HEAD (git archive) in the temp folder, so a build running in the
#   repository at the same time is neither disturbed nor measured (uncommitted changes are not included).
#   BENCH_APP=DIR      uses an `ssm` already published in DIR instead (debugging the benchmark itself).
#   BENCH_KEEP_LOGS    copies the node, emulator and PostgreSQL logs there before the temp folder is removed.
#   BENCH_PG_SLOW_MS   logs PostgreSQL statements slower than that many ms (with BENCH_KEEP_LOGS: pg-server.log).
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

bench_work sync
APP=${BENCH_APP:-$WORK/app}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Roomier than the defaults for the 1.1M-row seeding; the node's own statements are what is measured.
PG_OPTIONS=(-c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=30min -c log_autovacuum_min_duration=0)
[ -n "${BENCH_PG_SLOW_MS:-}" ] && PG_OPTIONS+=(-c "log_min_duration_statement=$BENCH_PG_SLOW_MS")
bench_postgres "$WORK/pg" "${PG_OPTIONS[@]}"

bench_publish "$WORK" "$APP"

bench_admin_password
OPERATOR_PASSWORD=$(random_secret)

NODE_PORT=$(free_port)
CSC_PORT=$(free_port)
while [ "$CSC_PORT" = "$NODE_PORT" ]; do CSC_PORT=$(free_port); done
HTTPS_PORT=$(free_port)
while [ "$HTTPS_PORT" = "$NODE_PORT" ] || [ "$HTTPS_PORT" = "$CSC_PORT" ]; do HTTPS_PORT=$(free_port); done
bench_header 'sync'
printf 'sizes: %s instances, %s usage records, change %s %%\n' "$INSTANCES" "$USAGE" "$CHANGE_PERCENT"

PGPASSWORD=$PG_PASSWORD SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD CSC_OPERATOR_PASSWORD=$OPERATOR_PASSWORD python3 bench/sync.py \
  --app "$APP/ssm" --port "$NODE_PORT" --https-port "$HTTPS_PORT" --csc-port "$CSC_PORT" --pg-port "$PG_PORT" --db "$DB" --work "$WORK" \
  --psql "$PG_BIN/psql" --node-pid-file "$WORK/pids/node.pid" --csc-pid-file "$WORK/pids/csc.pid" \
  --instances "$INSTANCES" --usage "$USAGE" --change-percent "$CHANGE_PERCENT" --raw-upload "$RAW_UPLOAD" \
  --timeout "$TIMEOUT"
