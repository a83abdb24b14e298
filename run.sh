#!/usr/bin/env bash
# Starts an SSM On-Prem node on http://127.0.0.1:8443 with its own PostgreSQL under .data/.
# Installs PostgreSQL if missing. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

ROOT=$(pwd)
DATA=$ROOT/.data
PG_DIR=$DATA/pg-node
PG_PORT=${SSM_PG_PORT:-54311}
LISTEN=${SSM_LISTEN:-http://127.0.0.1:8443}
APP=$DATA/app

ensure_dotnet
ensure_postgres
mkdir -p "$DATA"

NODE_PID=
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    log "Stopping the node (pid $NODE_PID)"
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
  fi
  log "Stopping PostgreSQL"
  pg_stop "$PG_DIR"
}
trap cleanup INT TERM EXIT

first_run=false
if [ ! -f "$DATA/pg-password" ]; then
  random_secret > "$DATA/pg-password"
  chmod 600 "$DATA/pg-password"
fi
PG_PASSWORD=$(cat "$DATA/pg-password")
if [ ! -f "$PG_DIR/PG_VERSION" ]; then
  log "Creating the node's database cluster in $PG_DIR"
  pg_init "$PG_DIR" "$PG_PASSWORD"
  first_run=true
fi
pg_start "$PG_DIR" "$PG_PORT"
PGPASSWORD=$PG_PASSWORD pg_psql "$PG_DIR" "$PG_PORT" -d postgres -c "select 1 from pg_database where datname='ssm'" | grep -q 1 \
  || PGPASSWORD=$PG_PASSWORD pg_psql "$PG_DIR" "$PG_PORT" -d postgres -c "create database ssm"
DB="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=ssm"

log "Building the node (Release)"
dotnet publish Ssm.Web/Ssm.Web.csproj -c Release -o "$APP" --nologo -v quiet >/dev/null

if $first_run; then
  SSM_ADMIN_PASSWORD=$(random_secret)
  export SSM_ADMIN_PASSWORD
fi

"$APP/ssm" node --name "${SSM_NODE_NAME:-node-1}" --listen "$LISTEN" --db "$DB" --data "$DATA/node" &
NODE_PID=$!

for _ in $(seq 1 120); do
  curl -fs "$LISTEN/health/ready" >/dev/null 2>&1 && break
  kill -0 "$NODE_PID" 2>/dev/null || die "the node exited; see its log above"
  sleep 0.5
done
cat <<MSG

  SSM On-Prem is running:  $LISTEN/
MSG
if $first_run; then
  cat <<MSG
  Log in as:               admin
  First admin password:    $SSM_ADMIN_PASSWORD
                           (shown once; change it with the command below)
MSG
else
  cat <<MSG
  Log in as admin with the password shown at the first start.
MSG
fi
cat <<MSG
  Set a password:          $APP/ssm admin set-password --user admin --db "$DB"
  Add a read-only user:    $APP/ssm admin set-password --user alice --role viewer --db "$DB"
  Stop:                    Ctrl-C

MSG
wait "$NODE_PID"
