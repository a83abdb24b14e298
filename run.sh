#!/usr/bin/env bash
# Starts the whole SSM On-Prem HA cluster on this machine, on the addresses of the seed's demonstration:
#   primary 127.0.0.11, secondary 127.0.0.9, VIP 127.0.0.14 (loopback provider: nftables as root), HTTPS port 8443 (dashboard, API,
#   Smart Transport, as SSM On-Prem), port 8444 (the nodes' peer and console calls: mutual TLS with certificates of
#   the cluster's own CA, docs/security.md) and HTTP port 8080 (health; it redirects pages to HTTPS),
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
PEER_PORT=8444
PG_PORT=15432
KEYS=$DATA/cluster-keys
CSC=127.0.0.15
CSC_URL=https://$CSC:9443

ensure_dotnet
ensure_postgres
# The loopback VIP as the kernel's redirect (decision 0019); without root the nodes relay it themselves.
if [ "$(id -u)" = 0 ]; then ensure_package nft nftables; fi
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
  # The VIP's redirect outlives the nodes on purpose (a crashed active's clients are refused, not misrouted).
  if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then nft delete table ip "ssm_vip_${VIP//./_}" 2>/dev/null || true; fi
  log "Stopped"
}
trap cleanup INT TERM EXIT

log "Building the node (Release)"
publish_node "$APP" >"$DATA/publish.log" 2>&1 || { tail -20 "$DATA/publish.log"; die "build failed"; }
SSM="$APP/ssm"

# The data folder is ours alone; as root, PostgreSQL (user postgres) may only pass through it to its own folders.
if [ "$(id -u)" = 0 ]; then chgrp postgres "$DATA" && chmod 710 "$DATA"; else chmod 700 "$DATA"; fi
# The cluster's own CA: both nodes (and the console verbs) use this folder; on two machines, copy it (scp) to the other.
[ -f "$KEYS/ca.key" ] || "$SSM" ha_generate_keys --out "$KEYS" >/dev/null

# A witness from before the cluster CA (password login, no TLS) holds only a lease: start it afresh.
if [ -f "$DATA/witness/PG_VERSION" ] && [ ! -f "$DATA/witness/server.crt" ]; then
  log "Replacing the old witness (password login) with one that speaks TLS and admits nodes by certificate"
  pg_stop "$DATA/witness"; rm -rf "$DATA/witness" "$DATA/witness-password"
fi
WITNESS_DB=$("$SSM" ha_witness_init --data "$DATA/witness" --keys "$KEYS" --address "$WITNESS" --port "$PG_PORT") || die "the witness could not be prepared"
pg_start "$DATA/witness" "$PG_PORT" "-c listen_addresses=$WITNESS"

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
    --cluster-keys "$KEYS" --peer-port "$PEER_PORT" --witness "$WITNESS_DB" --https-port "$HTTPS_PORT" --csc "$CSC_URL" --csc-root "$DATA/csc/csc-root.pem" >>"$DATA/$name.log" 2>&1 &
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

export SSM_CLUSTER_KEYS=$KEYS
if ! "$SSM" ha_status --node "https://$PRIMARY:$PEER_PORT" >/dev/null 2>&1 && \
   ! "$SSM" ha_status --node "https://$SECONDARY:$PEER_PORT" >/dev/null 2>&1; then
  "$SSM" ha_deploy --node "https://$PRIMARY:$PEER_PORT" --peer "https://$SECONDARY:$PEER_PORT" --vip "$VIP"
fi
"$SSM" ha_status --node "https://$PRIMARY:$PEER_PORT" || true

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
    export SSM_CLUSTER_KEYS=$KEYS
    $SSM ha_status        --node https://$PRIMARY:$PEER_PORT
    $SSM ha_cluster_stop  --node https://$PRIMARY:$PEER_PORT     # failover: the secondary takes over
    $SSM ha_cluster_start --node https://$PRIMARY:$PEER_PORT     # the primary rejoins as standby
    $SSM ha_cluster_stop  --node https://$SECONDARY:$PEER_PORT   # failback: the primary is active again
    $SSM ha_cluster_start --node https://$SECONDARY:$PEER_PORT
    kill -9 \$(cat $DATA/primary.pid) \$(head -1 $DATA/primary/pg/postmaster.pid)   # crash: the secondary takes over within ~1.5 s
    $SSM node --name primary --listen http://$PRIMARY:$PORT --data $DATA/primary --manage-db --pg-port $PG_PORT --cluster-keys $KEYS --peer-port $PEER_PORT --witness "$WITNESS_DB" --https-port $HTTPS_PORT --csc $CSC_URL --csc-root $DATA/csc/csc-root.pem >>$DATA/primary.log 2>&1 & echo \$! > $DATA/primary.pid
                                                            # restart the crashed primary: it rejoins as standby by itself
    kill -STOP \$(cat $DATA/primary.pid)   # freeze the active: the secondary takes over and the VIP follows it (as root)
    kill -CONT \$(cat $DATA/primary.pid)   # thawed, the old active finds itself fenced and rejoins as standby
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
