#!/usr/bin/env bash
# The seed's scenario on compose.yaml, with podman (Debian's podman-compose) or docker compose, through the VIP:
#   1 deploy    the compose cluster comes up and deploys itself: primary active with the VIP, replication sync
#   2 sync      Host Common Name = the VIP, an account activated with the CSC emulator, a sync; HTTPS through the VIP
#               then presents the certificate CSC signed (checked against the CSC root, by the VIP's address)
#   3 products  a registration token through the API toolkit (client credentials, /oauth/token, the virtual account's
#               token call); two products (tools/Ssm.ProductSimulator) register through the VIP on port 443 and report
#   4 failover  ha_cluster_stop on the primary: the secondary takes the role and the VIP; the products report on
#   5 failback  the primary rejoins, ha_cluster_stop on the secondary hands the role back; the secondary rejoins
#   6 crash     `kill` of the active node's container: the secondary takes over, the killed one comes back as standby;
#               both products are still there and report
# Traffic goes only to the compose network's addresses (172.28.0.0/24, a network namespace of the engine) and loopback.
# Needs the images of docker/build-images.sh. Everything it starts (containers, network, volumes) is removed at the
# end by id, failed or not. Prints each step's result and time, the failover gaps, and "N passed, N failed".
# Exit: 0 all passed, 1 a step failed, 3 no container engine could be had (nothing ran).
# SSM_SCENARIO_KEEP=1 leaves the cluster running (remove it with: podman-compose -p ssmscenario down -v).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ROOT=$(pwd)

PROJECT=ssmscenario
SUBNET=172.28.0.0/24
PRIMARY=172.28.0.11 SECONDARY=172.28.0.9 VIP=172.28.0.14
VIP_URL=https://$VIP:8443
# Products reach SSM On-Prem without a port (443), as devices are configured in the field.
PRODUCT_URL=https://$VIP
ensure_engine || { echo "scenario: no container engine: $ENGINE_MISSING" >&2; exit 3; }
compose_cmd || { echo "scenario: no compose program for $ENGINE" >&2; exit 3; }
for image in localhost/ssm-node:latest localhost/ssm-csc-emulator:latest; do
  $ENGINE image inspect "$image" >/dev/null 2>&1 || die "no image $image: run docker/build-images.sh first"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-scenario.XXXXXX")
export SSM_ADMIN_PASSWORD SSM_CSC_PASSWORD
SSM_ADMIN_PASSWORD=$(random_secret); while [ ${#SSM_ADMIN_PASSWORD} -lt 12 ]; do SSM_ADMIN_PASSWORD=$(random_secret); done
SSM_CSC_PASSWORD=$(random_secret)
NETWORK=${PROJECT}_cluster

# ---- Clean-up: the project's containers, its network and volumes, each by id; logs copied first when a step failed ----
project_containers() { $ENGINE ps -aq --filter "label=com.docker.compose.project=$PROJECT"; }
cleanup() {
  local rc=$? id
  trap - EXIT INT TERM
  if [ "${FAILED:-0}" != 0 ] || [ "$rc" != 0 ]; then
    for service in primary secondary witness csc deploy; do
      id=$(cid "$service")
      [ -n "$id" ] && { echo "--- $service (last 40 lines) ---"; $ENGINE logs --tail 40 "$id" 2>&1; } >&2
    done
  fi
  if [ -z "${SSM_SCENARIO_KEEP:-}" ]; then
    log "Removing the scenario's containers, network and volumes"
    for id in $(project_containers); do $ENGINE rm -f -t 2 "$id" >/dev/null 2>&1 || $ENGINE rm -f "$id" >/dev/null 2>&1 || true; done
    for id in $($ENGINE volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do $ENGINE volume rm -f "$id" >/dev/null 2>&1 || true; done
    # The network the scenario made, or podman-compose or docker compose made for the project (both label it).
    for id in $($ENGINE network ls --filter "label=com.docker.compose.project=$PROJECT" --format '{{.ID}}' 2>/dev/null); do
      $ENGINE network rm "$id" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cid SERVICE: the id of the service's container (podman-compose and docker compose both label it).
cid() { $ENGINE ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" | head -1; }
now_ms() { date +%s%3N; }

# ---- The steps' bookkeeping ----
PASSED=0 FAILED=0 RESULTS=()
# run_step NAME FUNCTION: runs it, records passed or failed with its time; a failed step ends the scenario (the
# later ones build on it).
run_step() {
  local name=$1 started; started=$(now_ms)
  log "Step: $name"
  if "$2"; then
    PASSED=$((PASSED + 1)); RESULTS+=("passed  $name  $(( ($(now_ms) - started) / 1000 )) s")
  else
    FAILED=$((FAILED + 1)); RESULTS+=("FAILED  $name  $(( ($(now_ms) - started) / 1000 )) s")
    summary; exit 1
  fi
}
GAPS=()
summary() {
  log "Scenario results"
  printf '  %s\n' "${RESULTS[@]}" >&2
  [ ${#GAPS[@]} -gt 0 ] && printf '  gap: %s\n' "${GAPS[@]}" >&2
  echo "scenario: $PASSED passed, $FAILED failed"
}
fail() { echo "scenario: $*" >&2; return 1; }

# ---- The cluster, as its operator sees it ----
# status NODE_SERVICE ADDRESS: ha_status --json of that node, asked inside its own container over mutual TLS.
status() {
  local id; id=$(cid "$1")
  [ -n "$id" ] && $ENGINE exec "$id" ssm ha_status --json --node "https://$2:8444" --keys /cluster/keys 2>/dev/null
}
# field JSON PATH: a value of the status (dotted path; empty when absent).
field() { python3 -c 'import json,sys
v=json.loads(sys.argv[1] or "{}")
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$1" "$2" 2>/dev/null; }
# wait_until SECONDS WHAT COMMAND...: polls COMMAND every half second.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { fail "timed out after $seconds s waiting for $what"; return 1; }
    sleep 0.5
  done
}
# is_active SERVICE ADDRESS: the node is active, holds the VIP and replicates synchronously to a connected peer.
is_active() {
  local s; s=$(status "$1" "$2") || return 1
  [ "$(field "$s" self.role)" = Active ] && [ "$(field "$s" vip.holder)" = "$1" ] \
    && [ "$(field "$s" replication.mode)" = Sync ] && [ "$(field "$s" heartbeat.connected)" = true ]
}
# is_active_alone SERVICE ADDRESS: active with the VIP (its peer may be gone).
is_active_alone() {
  local s; s=$(status "$1" "$2") || return 1
  [ "$(field "$s" self.role)" = Active ] && [ "$(field "$s" vip.holder)" = "$1" ]
}
is_standby() { local s; s=$(status "$1" "$2") || return 1; [ "$(field "$s" self.role)" = Standby ]; }
verb() { local id; id=$(cid "$1"); $ENGINE exec "$id" ssm "$3" --node "https://$2:8444" --keys /cluster/keys; }

# ---- The operator's API through the VIP (curl with a cookie jar; the CSRF guard wants X-Requested-With) ----
CACERT=$WORK/csc-root.pem
TRUST=(-k)   # until CSC signed the VIP's certificate: the node's own self-signed one
api() { # METHOD PATH [JSON]: prints the body; fails on a status >= 400
  local method=$1 path=$2 data=()
  [ $# -ge 3 ] && data=(--data "$3")
  curl -sS --fail-with-body --max-time 10 "${TRUST[@]}" -b "$WORK/cookies" -c "$WORK/cookies" -H 'X-Requested-With: ssm-scenario' \
    -H 'Content-Type: application/json' -X "$method" "${data[@]}" "$VIP_URL$path"
}
sign_in() { api POST /api/session "{\"userName\":\"admin\",\"password\":\"$SSM_ADMIN_PASSWORD\"}" >/dev/null; }
vip_answers() { curl -s -o /dev/null --max-time 2 "${TRUST[@]}" -w '%{http_code}' "$VIP_URL/health/live" | grep -q '^200$'; }

PRODUCT=(dotnet "$ROOT/tools/Ssm.ProductSimulator/bin/Release/net10.0/product-simulator.dll")
product() { "${PRODUCT[@]}" "$@" --csc-root "$CACERT"; }
report_both() {
  local sn
  for sn in FOC0001 FOC0002; do product report --sn "$sn" --state "$WORK/$sn.json" --count 2 >/dev/null || return 1; done
}
# Retries the reports while the VIP moves, as products do, for up to 30 s.
report_both_persist() { wait_until 30 "the products' reports through the VIP" report_both; }

# gap COMMAND...: runs COMMAND (a failover's trigger), then measures until the VIP answers again.
measure_gap() {
  local name=$1; shift
  local started; started=$(now_ms)
  "$@" || return 1
  wait_until 60 "the VIP to answer after $name" vip_answers || return 1
  GAPS+=("$name: VIP answered again $(( $(now_ms) - started )) ms after the trigger")
}

# ---- The steps ----
step_deploy() {
  if [ "$ENGINE" = podman ]; then
    # The network with its subnet first (podman-compose 1.0.3 would make one without): the host reaches the VIP.
    if ! $ENGINE network inspect "$NETWORK" >/dev/null 2>&1; then
      $ENGINE network create --subnet "$SUBNET" --gateway 172.28.0.1 --ip-range 172.28.0.128/25 \
        --label "com.docker.compose.project=$PROJECT" --label "io.podman.compose.project=$PROJECT" "$NETWORK" >/dev/null || return 1
    fi
    # The vip relay publishes 127.0.0.1:8080 and :8443: left out when another program holds them (the scenario goes to
    # the VIP directly).
    local services=(keys csc witness primary secondary deploy)
    if [ "$(pick_port 8080 127.0.0.1)" = 8080 ] && [ "$(pick_port 8443 127.0.0.1)" = 8443 ]; then services+=(vip); fi
    "${COMPOSE[@]}" -p "$PROJECT" up -d "${services[@]}" >"$WORK/up.log" 2>&1 || { tail -20 "$WORK/up.log" >&2; return 1; }
  else
    "${COMPOSE[@]}" -p "$PROJECT" up -d >"$WORK/up.log" 2>&1 || { tail -20 "$WORK/up.log" >&2; return 1; }
  fi
  wait_until 240 "the deployed cluster (primary active, sync replication)" is_active primary "$PRIMARY" || return 1
  wait_until 60 "the VIP to answer" vip_answers
}

step_sync() {
  $ENGINE exec "$(cid csc)" cat /csc/csc-root.pem > "$CACERT" || return 1
  wait_until 30 "sign-in through the VIP" sign_in || return 1
  api PUT /api/certificates/host-common-name "{\"name\":\"$VIP\"}" >/dev/null || return 1
  local account
  account=$(api POST /api/accounts '{"name":"LAB","description":"","contactEmail":"ops@example.com"}') || return 1
  ACCOUNT_ID=$(field "$account" id)
  api POST "/api/accounts/$ACCOUNT_ID/activation" "{\"user\":\"csc-operator\",\"password\":\"$SSM_CSC_PASSWORD\"}" >/dev/null || return 1
  local run id result
  run=$(api POST /api/sync "{\"accountId\":\"$ACCOUNT_ID\"}") || return 1
  id=$(field "$run" id)
  sync_ended() {
    result=$(api GET "/api/sync/runs?pageSize=50" | python3 -c 'import json,sys
for r in json.load(sys.stdin)["items"]:
    if r["id"] == sys.argv[1] and r["result"] != "Running": print(r["result"], r.get("error") or "")' "$id")
    [ -n "$result" ]
  }
  wait_until 60 "the sync run to end" sync_ended || return 1
  [ "${result%% *}" = Succeeded ] || { fail "sync: $result"; return 1; }
  # From here on the VIP's certificate is CSC's, checked by name (the VIP's address) against the CSC root.
  TRUST=(--cacert "$CACERT")
  wait_until 30 "HTTPS through the VIP with the certificate CSC signed" vip_answers
}

# toolkit METHOD PATH BEARER [JSON]: a call of the API toolkit as a script of the field makes it (no session, no extra header).
toolkit() {
  local data=()
  [ $# -ge 4 ] && data=(--data "$4")
  curl -sS --fail-with-body --max-time 10 "${TRUST[@]}" -X "$1" ${3:+-H "Authorization: Bearer $3"} "${data[@]}" "$VIP_URL$2"
}

step_products() {
  # The registration token as automation gets it: client credentials, a bearer token from the query-string form of
  # /oauth/token, then the toolkit's token call for the DEFAULT virtual account (docs/api-toolkit.md).
  local client bearer token
  client=$(api POST "/api/accounts/$ACCOUNT_ID/api-clients" '{"name":"scenario"}') || return 1
  bearer=$(toolkit POST "/oauth/token?grant_type=client_credentials&client_id=$(field "$client" client.clientId)&client_secret=$(field "$client" secret)" "") || return 1
  token=$(toolkit POST /api/v1/accounts/LAB/virtual-accounts/DEFAULT/tokens "$(field "$bearer" access_token)" \
    '{"description":"scenario","expiresAfterDays":30,"exportControlled":false}') || return 1
  TOKEN=$(field "$token" tokenInfo.token)
  [ -n "$TOKEN" ] || { fail "no token in the toolkit's answer: $token"; return 1; }
  if [ ! -f "${PRODUCT[1]}" ]; then
    dotnet build tools/Ssm.ProductSimulator/Ssm.ProductSimulator.csproj -c Release --nologo -v quiet -clp:ErrorsOnly >/dev/null || return 1
  fi
  local sn
  for sn in FOC0001 FOC0002; do
    product register --server "$PRODUCT_URL/" --token "$TOKEN" --sn "$sn" --state "$WORK/$sn.json" >/dev/null || return 1
  done
  report_both && instances_are 2
}
# instances_are N: the account's product instances, read through the VIP.
instances_are() {
  local total
  total=$(api GET "/api/product-instances?accountId=$ACCOUNT_ID&pageSize=100" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])') || return 1
  [ "$total" = "$1" ] || { fail "$total product instances, expected $1"; return 1; }
}

step_failover() {
  measure_gap "failover (ha_cluster_stop on the primary)" verb primary "$PRIMARY" ha_cluster_stop >/dev/null || return 1
  wait_until 60 "the secondary active with the VIP" is_active_alone secondary "$SECONDARY" || return 1
  report_both_persist
}

step_failback() {
  verb primary "$PRIMARY" ha_cluster_start >/dev/null || return 1
  wait_until 120 "the primary to rejoin as the synchronous standby" is_active secondary "$SECONDARY" || return 1
  measure_gap "failback (ha_cluster_stop on the secondary)" verb secondary "$SECONDARY" ha_cluster_stop >/dev/null || return 1
  wait_until 60 "the primary active with the VIP" is_active_alone primary "$PRIMARY" || return 1
  verb secondary "$SECONDARY" ha_cluster_start >/dev/null || return 1
  wait_until 120 "the secondary to rejoin as the synchronous standby" is_active primary "$PRIMARY" || return 1
  report_both_persist
}

step_crash() {
  local id; id=$(cid primary)
  local started; started=$(now_ms)
  # (podman's complaints that no systemd runs its health-check timers go to a file, not the CI log.)
  $ENGINE kill "$id" >/dev/null 2>"$WORK/kill.log" || { cat "$WORK/kill.log" >&2; return 1; }
  # A killed node answers nothing: the first answer through the VIP is the secondary's.
  wait_until 60 "the VIP to answer after the crash" vip_answers || return 1
  GAPS+=("crash (kill of the primary's container): VIP answered again $(( $(now_ms) - started )) ms after the kill")
  wait_until 60 "the secondary to take over from the killed primary" is_active_alone secondary "$SECONDARY" || return 1
  # The engine restarts it (restart: unless-stopped) unless it counts a kill as a stop by hand: then start it.
  running() { [ "$($ENGINE inspect --format '{{ .State.Running }}' "$id" 2>/dev/null)" = true ]; }
  wait_until 10 "the engine to restart the killed container" running 2>/dev/null || $ENGINE start "$id" >/dev/null || return 1
  wait_until 180 "the killed primary to rejoin as the synchronous standby" is_active secondary "$SECONDARY" || return 1
  is_standby primary "$PRIMARY" || { fail "the primary is not the standby"; return 1; }
  report_both_persist && sign_in && instances_are 2
}

log "Scenario on compose.yaml with $ENGINE (${COMPOSE[*]}), project $PROJECT"
run_step deploy step_deploy
run_step sync step_sync
run_step products step_products
run_step failover step_failover
run_step failback step_failback
run_step crash step_crash
summary
