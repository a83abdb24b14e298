#!/usr/bin/env bash
# Starts the whole SSM On-Prem HA cluster on this machine, on the addresses of the seed's demonstration:
#   primary 127.0.0.11, secondary 127.0.0.9, VIP 127.0.0.14 (loopback provider), HTTPS port 8443 (dashboard, API,
#   Smart Transport, as SSM On-Prem) and HTTP port 8080 (health, the nodes' peer and console calls; it redirects pages to HTTPS),
#   each node with its own PostgreSQL, a witness PostgreSQL on 127.0.0.13, and the CSC emulator
#   (the stand-in for Cisco Software Central, docs/csc-api.md) on https://127.0.0.15:9443.
# Installs PostgreSQL if missing. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

ROOT=$(pwd)
DATA=${SSM_DATA:-$ROOT/.data}
APP=$DATA/app
PORT=8080
HTTPS_PORT=8443
PRIMARY=127.0.0.11
SECONDARY=127.0.0.9
VIP=127.0.0.14
WITNESS=127.0.0.13
PG_PORT=15432
KEY=$DATA/cluster.key
CSC=127.0.0.15
CSC_URL=https://$CSC:9443

ensure_dotnet
ensure_postgres
mkdir -p "$DATA"

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  # Also a node restarted by hand with the printed command (it writes its pid file).
  # Only if that pid is still one of our nodes: a stale file must not name someone else's process.
  for f in "$DATA/primary.pid" "$DATA/secondary.pid" "$DATA/csc.pid"; do
    [ -f "$f" ] && tr '\0' ' ' < "/proc/$(cat "$f")/cmdline" 2>/dev/null | grep -q -- "--data $DATA/" && PIDS+=("$(cat "$f")")
  done
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  # Each node stops nothing of its PostgreSQL on exit (a crash must look like a crash); stop them here.
  for dir in "$DATA/primary/pg" "$DATA/secondary/pg" "$DATA/witness"; do pg_stop "$dir"; done
  log "Stopped"
}
trap cleanup INT TERM EXIT

log "Building the node (Release)"
publish_node "$APP" >"$DATA/publish.log" 2>&1 || { tail -20 "$DATA/publish.log"; die "build failed"; }
SSM="$APP/ssm"

[ -f "$KEY" ] || "$SSM" ha_generate_keys --out "$KEY" >/dev/null

if [ ! -f "$DATA/witness-password" ]; then random_secret > "$DATA/witness-password"; chmod 600 "$DATA/witness-password"; fi
WITNESS_PASSWORD=$(cat "$DATA/witness-password")
pg_init "$DATA/witness" "$WITNESS_PASSWORD"
pg_start "$DATA/witness" "$PG_PORT" "-c listen_addresses=$WITNESS"
WITNESS_DB="Host=$WITNESS;Port=$PG_PORT;Username=postgres;Password=$WITNESS_PASSWORD;Database=postgres"

if [ ! -f "$DATA/csc-operator-password" ]; then random_secret > "$DATA/csc-operator-password"; chmod 600 "$DATA/csc-operator-password"; fi
CSC_PASSWORD=$(cat "$DATA/csc-operator-password")
log "Starting the CSC emulator ($CSC_URL)"
CSC_OPERATOR_PASSWORD=$CSC_PASSWORD "$SSM" csc-emulator --listen "$CSC_URL" --data "$DATA/csc" >>"$DATA/csc.log" 2>&1 &
PIDS+=($!)
echo $! > "$DATA/csc.pid"
for _ in $(seq 1 120); do
  [ -f "$DATA/csc/csc-root.pem" ] && curl -s -o /dev/null --cacert "$DATA/csc/csc-root.pem" "$CSC_URL/csc/v1/root" && break
  sleep 0.25
done
[ -f "$DATA/csc/csc-root.pem" ] || die "the CSC emulator did not start; see $DATA/csc.log"

first_run=false
if [ ! -f "$DATA/primary/ha-state.json" ]; then
  first_run=true
  SSM_ADMIN_PASSWORD=$(random_secret)
  export SSM_ADMIN_PASSWORD
fi

start_node() {
  local name=$1 address=$2
  "$SSM" node --name "$name" --listen "http://$address:$PORT" --data "$DATA/$name" --manage-db --pg-port "$PG_PORT" \
    --cluster-key-file "$KEY" --https-port "$HTTPS_PORT" --csc "$CSC_URL" --csc-root "$DATA/csc/csc-root.pem" >>"$DATA/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! > "$DATA/$name.pid"
}

wait_up() {
  local address=$1
  for _ in $(seq 1 240); do
    curl -s -o /dev/null "http://$address:$PORT/health/live" && return 0
    sleep 0.25
  done
  die "the node on $address did not start; see $DATA/*.log"
}

log "Starting primary ($PRIMARY) and secondary ($SECONDARY)"
mkdir -p "$DATA/primary" "$DATA/secondary"
start_node primary "$PRIMARY"
start_node secondary "$SECONDARY"
wait_up "$PRIMARY"
wait_up "$SECONDARY"

export SSM_CLUSTER_KEY_FILE=$KEY
if ! "$SSM" ha_status --node "http://$PRIMARY:$PORT" >/dev/null 2>&1 && \
   ! "$SSM" ha_status --node "http://$SECONDARY:$PORT" >/dev/null 2>&1; then
  "$SSM" ha_deploy --node "http://$PRIMARY:$PORT" --peer "http://$SECONDARY:$PORT" --vip "$VIP" --witness "$WITNESS_DB"
fi
"$SSM" ha_status --node "http://$PRIMARY:$PORT" || true

cat <<MSG

  SSM On-Prem HA is running.   Dashboard (through the VIP):  https://$VIP:$HTTPS_PORT/
MSG
if $first_run; then
  cat <<MSG
  Log in as admin, password:   $SSM_ADMIN_PASSWORD   (shown once)
MSG
else
  echo "  Log in as admin with the password shown at the first start."
fi
cat <<MSG
  Node logs:                   $DATA/primary.log, $DATA/secondary.log
  HTTPS (dashboard, products, API): self-signed until Security → Certificates has a Host Common Name and
                               a synchronization had CSC sign it; then trust $DATA/csc/csc-root.pem
  CSC emulator:                $CSC_URL/  (operator login csc-operator / $CSC_PASSWORD; log $DATA/csc.log)
                               Accounts → Request activation asks for that login; Synchronization syncs.

  Try it (another terminal, from $(pwd)):
    export SSM_CLUSTER_KEY_FILE=$KEY
    $SSM ha_status        --node http://$PRIMARY:$PORT
    $SSM ha_cluster_stop  --node http://$PRIMARY:$PORT     # failover: the secondary takes over
    $SSM ha_cluster_start --node http://$PRIMARY:$PORT     # the primary rejoins as standby
    $SSM ha_cluster_stop  --node http://$SECONDARY:$PORT   # failback: the primary is active again
    $SSM ha_cluster_start --node http://$SECONDARY:$PORT
    kill -9 \$(cat $DATA/primary.pid) \$(head -1 $DATA/primary/pg/postmaster.pid)   # crash: the secondary takes over within ~1.5 s
    $SSM node --name primary --listen http://$PRIMARY:$PORT --data $DATA/primary --manage-db --pg-port $PG_PORT --cluster-key-file $KEY --https-port $HTTPS_PORT --csc $CSC_URL --csc-root $DATA/csc/csc-root.pem >>$DATA/primary.log 2>&1 & echo \$! > $DATA/primary.pid
                                                            # restart the crashed primary: it rejoins as standby by itself
  Products (Smart Transport, docs/smart-transport.md): set Security → Certificates → Host Common Name to $VIP,
  synchronize, create a token under Registration Tokens, then act as products:
    $SSM product register --server https://$VIP:$HTTPS_PORT/ --csc-root $DATA/csc/csc-root.pem --token TOKEN --sn FOC0001
    $SSM product report   --sn FOC0001 --csc-root $DATA/csc/csc-root.pem --count 3
                          # Product Instances and Licenses show them live; they keep reporting across a failover
  API toolkit for monitoring tools (docs/api-toolkit.md): Accounts → API clients, then POST /backend/oauth/token.
  Reset a password:  $SSM admin set-password --user admin --db "Host=$DATA/primary/pg-run;Port=$PG_PORT;Username=postgres;Database=ssm"
                     (against the active node's own database: use secondary/ when the secondary is active)
  Stop everything:   Ctrl-C

MSG
wait
