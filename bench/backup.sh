#!/usr/bin/env bash
# Backup and restore benchmark: seeds BENCH_INSTANCES product instances (default 1,000,000) into a throwaway
# PostgreSQL, then times `ssm backup` (online, encrypted) and `ssm restore` onto a second, empty database, and prints
# the time, the database's size, the file's size and the peak memory of each command.
# Usage: bench/backup.sh        (env: BENCH_INSTANCES=1000000; BENCH_APP=DIR reuses a published node)
# Everything lives in a temp folder that is removed at the end; only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

INSTANCES=${BENCH_INSTANCES:-1000000}

ensure_dotnet
ensure_postgres

bench_work backup
APP=${BENCH_APP:-$WORK/app}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_postgres "$WORK/pg"
bench_publish "$WORK" "$APP"
bench_admin_password

bench_header 'backup'

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD PGPASSWORD=$PG_PASSWORD python3 bench/backup.py \
  --app "$APP/ssm" --db "$DB" --work "$WORK" --psql "$PG_BIN/psql" --pg-port "$PG_PORT" --instances "$INSTANCES"
