#!/usr/bin/env bash
# Starts the whole SSM On-Prem HA cluster on this machine, on the addresses of the seed's demonstration:
#   primary 127.0.0.11, secondary 127.0.0.9, VIP 127.0.0.14 (loopback provider: nftables as root), HTTPS port 8443 (dashboard, API
#   toolkit, and products too), HTTPS port 443 for products only (Smart Transport, as SSM On-Prem: devices are configured
#   without a port; as root, or where unprivileged ports start at 443 or lower), port 8444 (the nodes' peer and console calls: mutual TLS with certificates of
#   the cluster's own CA, docs/security.md) and HTTP port 8080 (health; it redirects pages to HTTPS),
#   each node with its own PostgreSQL, a witness PostgreSQL on 127.0.0.13, and the CSC emulator
#   (the stand-in for Cisco Software Central, docs/csc-api.md) on https://127.0.0.15:9443.
# Installs PostgreSQL if missing. Ctrl-C stops everything it started.
#
# After `ha_teardown` it starts only the standalone node (the discarded one refuses to rejoin) and says so;
#   ./run.sh --fresh-secondary   wipes the discarded node's data, starts it empty and runs ha_deploy from the
#                                standalone node, whose data the new cluster keeps.
# SSM_DATA (default .data), SSM_PRIMARY, SSM_SECONDARY, SSM_VIP, SSM_WITNESS, SSM_CSC (addresses), SSM_HTTP_PORT,
# SSM_HTTPS_PORT, SSM_PRODUCT_PORT (0: none), SSM_PEER_PORT, SSM_PG_PORT, SSM_CSC_PORT change where it runs; SSM_APP=DIR runs the `ssm` already
# built in DIR instead of publishing one (the tests run it so, beside other clusters).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

FRESH_SECONDARY=false
for arg in "$@"; do
  case $arg in
    --fresh-secondary) FRESH_SECONDARY=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see ./run.sh --help)" ;;
  esac
done

ROOT=$(pwd)
DATA=${SSM_DATA:-$ROOT/.data}
APP=${SSM_APP:-$DATA/app}
PORT=8080
HTTPS_PORT=8443
PRODUCT_PORT=443
PRIMARY=127.0.0.11
SECONDARY=127.0.0.9
VIP=127.0.0.14
WITNESS=127.0.0.13
PEER_PORT=8444
PG_PORT=15432
CSC=127.0.0.15
CSC_PORT=9443
# Elsewhere, if the environment says so (see --help).
PRIMARY=${SSM_PRIMARY:-$PRIMARY} SECONDARY=${SSM_SECONDARY:-$SECONDARY} VIP=${SSM_VIP:-$VIP} WITNESS=${SSM_WITNESS:-$WITNESS} CSC=${SSM_CSC:-$CSC}
PORT=${SSM_HTTP_PORT:-$PORT} HTTPS_PORT=${SSM_HTTPS_PORT:-$HTTPS_PORT} PRODUCT_PORT=${SSM_PRODUCT_PORT:-$PRODUCT_PORT} PEER_PORT=${SSM_PEER_PORT:-$PEER_PORT} PG_PORT=${SSM_PG_PORT:-$PG_PORT} CSC_PORT=${SSM_CSC_PORT:-$CSC_PORT}
KEYS=$DATA/cluster-keys
CSC_URL=https://$CSC:$CSC_PORT
# A port below 1024 needs root (or a lowered net.ipv4.ip_unprivileged_port_start): without, products use the HTTPS port.
if [ "$PRODUCT_PORT" != 0 ] && [ "$(id -u)" != 0 ] && [ "$PRODUCT_PORT" -lt "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)" ]; then
  log "Not root: no product port $PRODUCT_PORT (products use https://<VIP>:$HTTPS_PORT/ instead)"
  PRODUCT_PORT=0
fi
# product_url HOST: where products are pointed: no port on 443, as devices are configured.
product_url() {
  case $PRODUCT_PORT in 0) echo "https://$1:$HTTPS_PORT/" ;; 443) echo "https://$1/" ;; *) echo "https://$1:$PRODUCT_PORT/" ;; esac
}

ensure_dotnet
ensure_postgres
# The loopback VIP as the kernel's redirect (decision 0021); without root the nodes relay it themselves.
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
# Ctrl-C ends with the shell's usual 130 (TERM 143); a failure keeps its own exit code.
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

if [ -n "${SSM_APP:-}" ]; then
  [ -x "$APP/ssm" ] || die "SSM_APP=$APP holds no ssm executable"
else
  log "Building the node (Release)"
  publish_node "$APP" >"$DATA/publish.log" 2>&1 || { tail -20 "$DATA/publish.log"; die "build failed"; }
fi
SSM="$APP/ssm"
publish_tool "$DATA/csc-emulator" tools/Ssm.CscEmulator/Ssm.CscEmulator.csproj >>"$DATA/publish.log" 2>&1 || { tail -20 "$DATA/publish.log"; die "build failed"; }
CSC_EMULATOR="$DATA/csc-emulator/csc-emulator"
publish_tool "$DATA/product-simulator" tools/Ssm.ProductSimulator/Ssm.ProductSimulator.csproj >>"$DATA/publish.log" 2>&1 || { tail -20 "$DATA/publish.log"; die "build failed"; }
PRODUCT="$DATA/product-simulator/product-simulator"

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
CSC_OPERATOR_PASSWORD=$CSC_PASSWORD "$CSC_EMULATOR" --listen "$CSC_URL" --data "$DATA/csc" >>"$DATA/csc.log" 2>&1 &
PIDS+=($!)
echo $! > "$DATA/csc.pid"
for _ in $(seq 1 120); do
  [ -f "$DATA/csc/csc-root.pem" ] && curl -s -o /dev/null --cacert "$DATA/csc/csc-root.pem" "$CSC_URL/csc/v1/root" && break
  sleep 0.25
done
[ -f "$DATA/csc/csc-root.pem" ] || die "the CSC emulator did not start; see $DATA/csc.log"

# node_state NAME: what the node's own state file (its data folder) says: new (never in a cluster), member,
# discarded, or torn-down (standalone after it ran ha_teardown; then also who, when and which node was discarded).
node_state() {
  python3 - "$DATA/$1/ha-state.json" <<'PY'
import json, os, sys
path = sys.argv[1]
s = json.load(open(path)) if os.path.exists(path) else {}
if s.get("Intent") == "Discarded":
    print("discarded")
elif s.get("Deployed"):
    print("member", s.get("Identity", "Primary").lower())
elif s.get("TornDown"):
    t = s["TornDown"]
    print("torn-down", t["By"], t["At"][:19].replace("T", "_") + "_UTC", t["Discarded"])
else:
    print("new")
PY
}

# After ha_teardown: one node is standalone with the data (the survivor), the other discarded.
SURVIVOR=""
for name in primary secondary; do
  read -r state by at discarded <<<"$(node_state "$name")"
  if [ "$state" = torn-down ]; then
    SURVIVOR=$name TORN_BY=$by TORN_AT=${at//_/ } TORN_DISCARDED=$discarded
  fi
done
address_of() { if [ "$1" = primary ]; then echo "$PRIMARY"; else echo "$SECONDARY"; fi; }
if [ -n "$SURVIVOR" ]; then
  OTHER=$([ "$SURVIVOR" = primary ] && echo secondary || echo primary)
  SURVIVOR_ADDRESS=$(address_of "$SURVIVOR")
  OTHER_ADDRESS=$(address_of "$OTHER")
fi
MODE=cluster
if $FRESH_SECONDARY; then
  [ -n "$SURVIVOR" ] || die "--fresh-secondary rebuilds the cluster after ha_teardown, but no node in $DATA was torn down"
  log "Re-provisioning $OTHER: its data ($DATA/$OTHER, discarded at the teardown) is wiped; $SURVIVOR keeps all of its own"
  pg_stop "$DATA/$OTHER/pg"
  rm -rf "${DATA:?}/$OTHER" "$DATA/$OTHER.pid"
  MODE=redeploy
elif [ -n "$SURVIVOR" ]; then
  MODE=standalone
fi

first_run=false
if [ ! -f "$DATA/primary/ha-state.json" ] && [ ! -f "$DATA/secondary/ha-state.json" ]; then
  first_run=true
  SSM_ADMIN_PASSWORD=$(random_secret)
  export SSM_ADMIN_PASSWORD
fi

start_node() {
  local name=$1 address=$2
  "$SSM" node --name "$name" --listen "http://$address:$PORT" --data "$DATA/$name" --manage-db --pg-port "$PG_PORT" \
    --cluster-keys "$KEYS" --peer-port "$PEER_PORT" --witness "$WITNESS_DB" --https-port "$HTTPS_PORT" --product-port "$PRODUCT_PORT" --csc "$CSC_URL" --csc-root "$DATA/csc/csc-root.pem" >>"$DATA/$name.log" 2>&1 &
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

export SSM_CLUSTER_KEYS=$KEYS
if [ "$MODE" = standalone ]; then
  log "Starting $SURVIVOR ($SURVIVOR_ADDRESS) alone: the cluster was torn down and $OTHER is discarded"
  rm -f "$DATA/$OTHER.pid"
  start_node "$SURVIVOR" "$SURVIVOR_ADDRESS"
  wait_up "$SURVIVOR_ADDRESS"
  "$SSM" ha_status --node "https://$SURVIVOR_ADDRESS:$PEER_PORT" || true
  cat <<MSG

  SSM On-Prem is running STANDALONE: the HA cluster was torn down.
  Dashboard (the node's own address):  https://$SURVIVOR_ADDRESS:$HTTPS_PORT/
  Products:      $(product_url "$SURVIVOR_ADDRESS")Transportgateway/services/DeviceRequestHandler (or /SmartTransport)
  Torn down:     by ha_teardown on $TORN_BY at $TORN_AT; $TORN_DISCARDED was discarded
                 ($OTHER is not started: it refuses to rejoin). Nothing answers on the VIP $VIP any more.
  Log in as admin with the password shown at the first start.
  Node log:      $DATA/$SURVIVOR.log
  HTTPS: a certificate CSC signed for the VIP does not fit this address: set Security → Certificates → Host Common
         Name to $SURVIVOR_ADDRESS and synchronize (the seed's last step); products then trust $DATA/csc/csc-root.pem.
  CSC emulator:  $CSC_URL/  (operator login csc-operator / $CSC_PASSWORD; log $DATA/csc.log)

  Try it (another terminal, from $(pwd)):
    export SSM_CLUSTER_KEYS=$KEYS
    $SSM ha_status --node https://$SURVIVOR_ADDRESS:$PEER_PORT      # when and by whom the cluster was torn down
    $PRODUCT register --server $(product_url "$SURVIVOR_ADDRESS") --csc-root $DATA/csc/csc-root.pem --token TOKEN --sn FOC0001 --force
  Reset a password:  $SSM admin set-password --user admin --db "Host=$DATA/$SURVIVOR/pg-run;Port=$PG_PORT;Username=postgres;Database=ssm"

  Build the HA cluster again ($SURVIVOR keeps its data; $OTHER's discarded data is wiped and copied afresh from it):
    Ctrl-C here, then:   ./run.sh --fresh-secondary
  Stop everything:   Ctrl-C

MSG
  wait
  exit 0
fi

log "Starting primary ($PRIMARY) and secondary ($SECONDARY)"
mkdir -p "$DATA/primary" "$DATA/secondary"
start_node primary "$PRIMARY"
start_node secondary "$SECONDARY"
wait_up "$PRIMARY"
wait_up "$SECONDARY"

# deploy FROM TO: the node at FROM becomes the cluster's primary, with its data; TO, its secondary, gets a copy.
deploy() {
  local PRIMARY=$1 SECONDARY=$2
  "$SSM" ha_deploy --node "https://$PRIMARY:$PEER_PORT" --peer "https://$SECONDARY:$PEER_PORT" --vip "$VIP"
}
if [ "$MODE" = redeploy ]; then
  log "Deploying a new cluster from $SURVIVOR (its data) to the fresh $OTHER"
  deploy "$SURVIVOR_ADDRESS" "$OTHER_ADDRESS" || die "ha_deploy failed; see $DATA/$SURVIVOR.log and $DATA/$OTHER.log"
elif ! "$SSM" ha_status --node "https://$PRIMARY:$PEER_PORT" >/dev/null 2>&1 && \
   ! "$SSM" ha_status --node "https://$SECONDARY:$PEER_PORT" >/dev/null 2>&1; then
  deploy "$PRIMARY" "$SECONDARY"
fi
# The node deployed from (after a re-deploy from the secondary: the node named secondary) is the cluster's primary.
read -r _ identity <<<"$(node_state primary)"
if [ "${identity:-primary}" = secondary ]; then FIRST=$SECONDARY SECOND=$PRIMARY FIRST_NAME=secondary SECOND_NAME=primary
else FIRST=$PRIMARY SECOND=$SECONDARY FIRST_NAME=primary SECOND_NAME=secondary; fi
"$SSM" ha_status --node "https://$FIRST:$PEER_PORT" || true

cat <<MSG

  SSM On-Prem HA is running.   Dashboard (through the VIP):  https://$VIP:$HTTPS_PORT/
  Products (through the VIP):  $(product_url "$VIP")Transportgateway/services/DeviceRequestHandler (or /SmartTransport)
MSG
if [ "$MODE" = redeploy ]; then
  cat <<MSG
  A new cluster, deployed from $SURVIVOR with all its data; $OTHER was re-provisioned (a copy of it).
  The Host Common Name is still the one set while standalone: set it to $VIP and synchronize for products.
MSG
fi
if $first_run; then
  cat <<MSG
  Log in as admin, password:   $SSM_ADMIN_PASSWORD   (shown once)
MSG
else
  echo "  Log in as admin with the password shown at the first start."
fi
cat <<MSG
  Node logs:                   $DATA/primary.log, $DATA/secondary.log
  HTTPS (dashboard, API, products): self-signed until Security → Certificates has a Host Common Name and
                               a synchronization had CSC sign it; then trust $DATA/csc/csc-root.pem
  CSC emulator:                $CSC_URL/  (operator login csc-operator / $CSC_PASSWORD; log $DATA/csc.log)
                               Accounts → Request activation asks for that login; Synchronization syncs.

  Try it (another terminal, from $(pwd)):
    export SSM_CLUSTER_KEYS=$KEYS
    $SSM ha_status        --node https://$FIRST:$PEER_PORT
    $SSM ha_cluster_stop  --node https://$FIRST:$PEER_PORT     # failover: the secondary takes over
    $SSM ha_cluster_start --node https://$FIRST:$PEER_PORT     # the primary rejoins as standby
    $SSM ha_cluster_stop  --node https://$SECOND:$PEER_PORT   # failback: the primary is active again
    $SSM ha_cluster_start --node https://$SECOND:$PEER_PORT
    kill -9 \$(cat $DATA/$FIRST_NAME.pid) \$(head -1 $DATA/$FIRST_NAME/pg/postmaster.pid)   # crash: the secondary takes over within ~1.5 s
    $SSM node --name $FIRST_NAME --listen http://$FIRST:$PORT --data $DATA/$FIRST_NAME --manage-db --pg-port $PG_PORT --cluster-keys $KEYS --peer-port $PEER_PORT --witness "$WITNESS_DB" --https-port $HTTPS_PORT --product-port $PRODUCT_PORT --csc $CSC_URL --csc-root $DATA/csc/csc-root.pem >>$DATA/$FIRST_NAME.log 2>&1 & echo \$! > $DATA/$FIRST_NAME.pid
                                                            # restart the crashed primary: it rejoins as standby by itself
    kill -STOP \$(cat $DATA/primary.pid)   # freeze the active: the secondary takes over and the VIP follows it (as root)
    kill -CONT \$(cat $DATA/primary.pid)   # thawed, the old active finds itself fenced and rejoins as standby
  Products (Smart Transport, docs/smart-transport.md): set Security → Certificates → Host Common Name to $VIP,
  synchronize, create a token under Registration Tokens, then act as products:
    $PRODUCT register --server $(product_url "$VIP") --csc-root $DATA/csc/csc-root.pem --token TOKEN --sn FOC0001
    $PRODUCT report   --sn FOC0001 --csc-root $DATA/csc/csc-root.pem --count 3
                             # Product Instances and Licenses show them live; they keep reporting across a failover
  API toolkit for tools (docs/api-toolkit.md): Accounts → API clients, then POST https://$VIP:$HTTPS_PORT/backend/oauth/token;
                     registration tokens: /api/v1/accounts/{account}/virtual-accounts/DEFAULT/tokens.
  Reset a password:  $SSM admin set-password --user admin --db "Host=$DATA/$FIRST_NAME/pg-run;Port=$PG_PORT;Username=postgres;Database=ssm"
                     (against the active node's own database: use $SECOND_NAME/ when the secondary is active)
  Stop everything:   Ctrl-C

MSG
wait
