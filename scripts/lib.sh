# Shared by run.sh, test.sh and .ci/run: install what is missing, run a private PostgreSQL.
# Source it; it defines functions only.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null && { dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0; }
  return 1
}

ensure_postgres() {
  if ! pg_bin >/dev/null; then
    log "PostgreSQL not found: installing it with apt-get"
    apt_install postgresql || die "could not install PostgreSQL; install the 'postgresql' package and retry"
  fi
  PG_BIN=$(pg_bin)
  export PG_BIN
}

ensure_chromium() {
  command -v chromium >/dev/null && return 0
  log "Chromium not found: installing Debian's chromium for the browser tests"
  apt_install chromium || die "could not install Chromium; install the 'chromium' package and retry"
}

# ensure_package COMMAND PACKAGE: install a Debian package when its command is missing.
ensure_package() {
  command -v "$1" >/dev/null && return 0
  log "$1 not found: installing Debian's $2"
  apt_install "$2" || die "could not install $2"
}

# ensure_python_module PYTHON MODULE PACKAGE: install a Debian package when PYTHON cannot import MODULE.
ensure_python_module() {
  [ -x "$1" ] && "$1" -c "import $2" 2>/dev/null && return 0
  log "$1 cannot import $2: installing Debian's $3"
  apt_install "$3" || die "could not install $3"
}

ensure_dotnet() {
  command -v dotnet >/dev/null || die "the .NET SDK 10 is needed (https://learn.microsoft.com/dotnet/core/install/linux-debian)"
}

# publish_node OUT [PROJECT]: the `ssm` executable, precompiled (ReadyToRun) for this machine: a node that
# restarts after a crash is up about 0.45 s sooner (measured: 1.9 s -> 1.45 s to ready), which is rejoin time.
publish_node() {
  DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet publish "${2:-Ssm.Web/Ssm.Web.csproj}" -c Release -o "$1" --nologo \
    --use-current-runtime --self-contained false -p:PublishReadyToRun=true
}

# publish_tool OUT PROJECT: a tool under tools/ (the CSC emulator, the product simulator), each in a folder of its own.
publish_tool() {
  DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet publish "$2" -c Release -o "$1" --nologo --use-current-runtime --self-contained false
}

# PostgreSQL refuses to run as root: run its programs as the postgres user then.
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_init DIR PASSWORD: a new database cluster in DIR (nothing if it exists), ready for replication and rewind.
pg_init() {
  local dir=$1 password=$2
  [ -f "$dir/PG_VERSION" ] && return 0
  mkdir -p "$dir"
  chmod 700 "$dir"
  local pwfile; pwfile=$(mktemp)
  printf '%s\n' "$password" > "$pwfile"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir" "$pwfile"; chmod o+x "$(dirname "$dir")"; fi
  pg_run "$PG_BIN/initdb" -D "$dir" -U postgres -A scram-sha-256 --pwfile="$pwfile" --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null \
    || { rm -f "$pwfile"; die "initdb failed for $dir"; }
  rm -f "$pwfile"
  cat >> "$dir/postgresql.conf" <<CONF
wal_log_hints = on
wal_level = replica
max_wal_senders = 10
hot_standby = on
fsync = on
CONF
}

# pg_start DIR PORT [extra postgres options]; with PG_NETNS set, the server runs in that network namespace (as root).
pg_start() {
  local dir=$1 port=$2; shift 2
  local run=(pg_run)
  [ -z "${PG_NETNS:-}" ] || run=(ip netns exec "$PG_NETNS" runuser -u postgres --)
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null \
    || { tail -20 "$dir/server.log" >&2; die "PostgreSQL in $dir did not start"; }
}

pg_stop() {
  local dir=$1
  [ -f "$dir/postmaster.pid" ] || return 0
  pg_run "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_psql DIR PORT SQL...: run SQL as postgres over the cluster's own socket.
pg_psql() {
  local dir=$1 port=$2; shift 2
  PGPASSWORD=${PGPASSWORD:-} pg_run "$PG_BIN/psql" -h "$dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

random_secret() { head -c 18 /dev/urandom | base64 | tr -d '/+=' ; }

# A port free on every given address: the default if it is, else one the kernel hands out.
pick_port() {
  python3 - "$@" <<'PY'
import socket, sys
default, addresses = int(sys.argv[1]), sys.argv[2:]
def free(port):
    for address in addresses:
        s = socket.socket()
        try:
            s.bind((address, port))
        except OSError:
            return False
        finally:
            s.close()
    return True
port = default
while not free(port):
    s = socket.socket(); s.bind((addresses[0], 0)); port = s.getsockname()[1]; s.close()
print(port)
PY
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Stops every process named by a pid file in DIR whose command line still contains MARKER (so a recycled pid
# of someone else's process is never signalled): TERM, up to 10 s, then KILL.
stop_own_pids() {
  local dir=$1 marker=$2 file pid
  for file in "$dir"/*.pid; do
    [ -s "$file" ] || continue
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$marker"; then
      log "Stopping $(basename "$file" .pid) (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Stops the PostgreSQL of each data folder that a node left running (a crashed node must look like a crash,
# so nodes do not stop their database on exit); kills the postmaster of that folder if pg_ctl could not.
stop_node_postgres() {
  local dir pid
  for dir in "$@"; do
    [ -f "$dir/postmaster.pid" ] || continue
    log "Stopping PostgreSQL in $dir"
    pg_stop "$dir"
    pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# ---- The benchmarks' plumbing (bench/*.sh): a work folder, the programs, PostgreSQL, a cluster's ports and witness,
# and one cleanup that stops, each by its own pid, what a benchmark started. The drivers' side is bench/benchlib.py.

# bench_work NAME: a temp folder for one run ($WORK) with pids/ for the pid files of what it starts. PostgreSQL, run
# as postgres when we are root, must pass through it to its own folders (nothing in it is readable to others).
# The first line of every benchmark's report: what was measured, on what, and how busy the machine was.
bench_header() {
  local what=$1 notes
  notes=$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')
  [ -z "${BENCH_APP:-}" ] || notes="$notes (app from $BENCH_APP)"
  printf 'ssm %s benchmark  commit %s%s  %s cores  dotnet %s  %s  load average %s\n' "$what" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$notes" "$(nproc)" "$(dotnet --version)" \
    "$("$PG_BIN/postgres" --version)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-$1.XXXXXX")
  [ "$(id -u)" = 0 ] && chmod o+x "$WORK"
  mkdir -p "$WORK/pids"
}

# bench_publish WORK APP: the node and the tools published in APP (each tool in a folder of its own beside ssm),
# from a copy of HEAD, so that uncommitted changes are not what is measured; nothing when BENCH_APP names a folder
# published before.
bench_publish() {
  local work=$1 app=$2
  if [ -z "${BENCH_APP:-}" ]; then
    log "Publishing the node and the tools (Release) from a copy of HEAD to $app"
    mkdir -p "$work/src"
    git archive HEAD | tar -x -C "$work/src"
    if ! (cd "$work/src" && publish_node "$app" \
          && publish_tool "$app/csc-emulator" tools/Ssm.CscEmulator/Ssm.CscEmulator.csproj \
          && publish_tool "$app/product-simulator" tools/Ssm.ProductSimulator/Ssm.ProductSimulator.csproj) >"$work/publish.log" 2>&1; then
      tail -30 "$work/publish.log" >&2
      die "dotnet publish failed"
    fi
    rm -rf "$work/src"
  fi
  [ -x "$app/ssm" ] || die "no ssm executable in $app"
}

# The PostgreSQL servers a benchmark started itself (a throwaway one, the witness): bench_cleanup stops them.
BENCH_PG_DIRS=()

# bench_cleanup: the EXIT trap of a benchmark (`trap bench_cleanup EXIT; trap 'exit 130' INT TERM`). Stops every
# program of $APP named by a pid file in $WORK/pids, the PostgreSQL the cluster nodes left running (a crash must look
# like a crash, so nodes do not stop theirs), the servers of BENCH_PG_DIRS; copies every log to BENCH_KEEP_LOGS when
# set; removes the folder; keeps the exit status.
bench_cleanup() {
  local rc=$? dir file
  trap - EXIT INT TERM
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    stop_own_pids "$WORK/pids" "$APP/"
    stop_node_postgres "$WORK/primary/pg" "$WORK/secondary/pg"
    # The loopback VIP's kernel redirect outlives the nodes by design (decision 0021): the cluster's end removes it.
    if [ ${#BENCH_NETNS_NAMES[@]} -eq 0 ] && [ -n "${VIP:-}" ] && [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
      nft delete table ip "ssm_vip_${VIP//./_}" 2>/dev/null || true
    fi
    for dir in "${BENCH_PG_DIRS[@]}"; do
      log "Stopping PostgreSQL in $dir"
      pg_stop "$dir"
    done
    if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
      mkdir -p "$BENCH_KEEP_LOGS"
      # primary.log, primary/pg-run/postgresql.log -> primary-pg-run-postgresql.log, pg/server.log -> pg-server.log ...
      (cd "$WORK" && find . -maxdepth 3 -name '*.log' ! -path './src/*' -printf '%P\n') | while read -r file; do
        cp "$WORK/$file" "$BENCH_KEEP_LOGS/${file//\//-}" 2>/dev/null || true
      done
      log "Logs copied to $BENCH_KEEP_LOGS"
    fi
    rm -rf "$WORK"
  fi
  bench_netns_delete
  exit "$rc"
}

# ---- Hosts of their own for a benchmark (network namespaces; root only). Like Ssm.Tests/Support/NetworkLab: a bridge in a
# namespace of its own, one namespace per host joined to it by a veth pair (eth0 inside, v<host> on the bridge), on a private
# /24 that exists only inside these namespaces: nothing is added to the machine's own namespace, nothing there is a target.

# The namespaces this benchmark created, deleted by name at its end (bench_cleanup), after what ran in them was stopped.
BENCH_NETNS_NAMES=()

# bench_netns_create PREFIX HOST=NUMBER...: namespaces PREFIX-sw (the bridge br0) and PREFIX-HOST with eth0 at
# $BENCH_SUBNET.NUMBER/24 (BENCH_SUBNET: a 10.231.X prefix unused by this machine's own addresses, picked here unless set).
bench_netns_create() {
  local prefix=$1 host number ns sw; shift
  if [ -z "${BENCH_SUBNET:-}" ]; then
    for _ in $(seq 1 50); do
      BENCH_SUBNET=10.231.$((RANDOM % 250 + 1))
      ip -4 -o addr show | grep -qF " $BENCH_SUBNET." || break
    done
  fi
  case "$BENCH_SUBNET." in 10.*|172.*|192.168.*) ;; *) die "BENCH_SUBNET must be a private prefix, not $BENCH_SUBNET" ;; esac
  ! ip -4 -o addr show | grep -qF " $BENCH_SUBNET." || die "$BENCH_SUBNET.0/24 is in use on this machine: set BENCH_SUBNET to another prefix"
  sw=$prefix-sw
  bench_netns_add "$sw"
  ip netns exec "$sw" ip link add br0 type bridge
  ip netns exec "$sw" ip link set br0 up
  for host in "$@"; do
    number=${host#*=}; host=${host%%=*}; ns=$prefix-$host
    bench_netns_add "$ns"
    ip netns exec "$sw" ip link add "v$host" type veth peer name eth0 netns "$ns"
    ip netns exec "$sw" ip link set "v$host" master br0 up
    ip netns exec "$ns" ip addr add "$BENCH_SUBNET.$number/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
  done
}

bench_netns_add() {
  ip netns add "$1" || die "could not create the network namespace $1"
  BENCH_NETNS_NAMES+=("$1")
  ip netns exec "$1" ip link set lo up
}

# Deletes the namespaces of BENCH_NETNS_NAMES (their veths and the bridge go with them). A process still running in one
# would keep it alive unnamed: bench_cleanup stops them first, and anything left is listed here by pid.
bench_netns_delete() {
  local ns pids
  for ns in "${BENCH_NETNS_NAMES[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -z "$pids" ] || log "still running in $ns: pids $pids (not stopped: not started by this benchmark's pid files)"
    ip netns del "$ns" 2>/dev/null || true
  done
  BENCH_NETNS_NAMES=()
}

# bench_postgres DIR [SERVER OPTIONS...]: a throwaway PostgreSQL in DIR on a free loopback port, with a database ssm;
# sets PG_PORT, PG_PASSWORD and DB (the node's connection string).
bench_postgres() {
  local dir=$1; shift
  PG_PORT=$(free_port)
  PG_PASSWORD=$(random_secret)
  log "Creating a throwaway PostgreSQL cluster in $dir (port $PG_PORT)"
  pg_init "$dir" "$PG_PASSWORD"
  BENCH_PG_DIRS+=("$dir")
  pg_start "$dir" "$PG_PORT" "$@"
  PGPASSWORD=$PG_PASSWORD pg_psql "$dir" "$PG_PORT" -d postgres -c "create database ssm"
  DB="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=ssm"
}

# bench_cluster_ports HTTP HTTPS PEER: the ports of a two-node cluster on $PRIMARY, $SECONDARY, $VIP and $WITNESS,
# the given ones where they are free, all different; sets HTTP_PORT, HTTPS_PORT, PEER_PORT, PG_PORT, WITNESS_PORT.
bench_cluster_ports() {
  HTTP_PORT=$(pick_port "$1" "$PRIMARY" "$SECONDARY" "$VIP")
  HTTPS_PORT=$(pick_port "$2" "$PRIMARY" "$SECONDARY" "$VIP")
  while [ "$HTTPS_PORT" = "$HTTP_PORT" ]; do HTTPS_PORT=$(pick_port $((HTTP_PORT + 2)) "$PRIMARY" "$SECONDARY" "$VIP"); done
  PEER_PORT=$(pick_port "$3" "$PRIMARY" "$SECONDARY")
  while [ "$PEER_PORT" = "$HTTP_PORT" ] || [ "$PEER_PORT" = "$HTTPS_PORT" ]; do PEER_PORT=$(pick_port $((HTTPS_PORT + 3)) "$PRIMARY" "$SECONDARY"); done
  PG_PORT=$(pick_port 15432 "$PRIMARY" "$SECONDARY")
  WITNESS_PORT=$(pick_port 15432 "$WITNESS")
}

# bench_cluster_keys: the cluster CA in $WORK/cluster-keys ($KEY) and the benchmark's own certificate for the console API
# (mutual TLS), as the console verbs make one for each call; then the witness PostgreSQL on $WITNESS:$WITNESS_PORT,
# which admits nodes by certificate (in the network namespace BENCH_WITNESS_NETNS when set); sets WITNESS_DB.
bench_cluster_keys() {
  KEY=$WORK/cluster-keys
  "$SSM" ha_generate_keys --out "$KEY" >/dev/null
  "$SSM" ha_generate_keys --out "$KEY" --issue bench-console --role console >/dev/null
  log "Starting the witness PostgreSQL on $WITNESS:$WITNESS_PORT (TLS, nodes admitted by cluster certificate)"
  WITNESS_DB=$("$SSM" ha_witness_init --data "$WORK/witness" --keys "$KEY" --address "$WITNESS" --port "$WITNESS_PORT")
  BENCH_PG_DIRS+=("$WORK/witness")
  PG_NETNS=${BENCH_WITNESS_NETNS:-} pg_start "$WORK/witness" "$WITNESS_PORT" "-c listen_addresses=$WITNESS"
}

# bench_admin_password: a random first-admin password of 12 characters or more ($ADMIN_PASSWORD).
bench_admin_password() {
  ADMIN_PASSWORD=$(random_secret)
  while [ ${#ADMIN_PASSWORD} -lt 12 ]; do ADMIN_PASSWORD=$(random_secret); done
}

# ---- Containers (docker/build-images.sh, docker/scenario.sh, .ci/run's container phase; decision 0026) ----

# The engine that runs containers here: podman if installed, else docker when its daemon answers; else, as root with apt,
# Debian's podman (with runc) installed. Sets ENGINE (podman or docker); returns 1, with the reason in ENGINE_MISSING, when
# none can be had.
ensure_engine() {
  ENGINE=; ENGINE_MISSING=
  if command -v podman >/dev/null; then
    ENGINE=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker; return 0
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "No container engine: installing Debian's podman with runc"
    if ! apt_install podman runc catatonit; then
      ENGINE_MISSING="podman could not be installed with apt-get (no Debian mirror?)"; return 1
    fi
    ENGINE=podman
  else
    ENGINE_MISSING="neither podman nor a running docker, and no root with apt-get to install podman"; return 1
  fi
  # podman: runc (crun fails on hybrid cgroups here), catatonit for `init: true`, and the settings this kind of machine needs.
  command -v runc >/dev/null || apt_install runc || { ENGINE_MISSING="runc could not be installed"; return 1; }
  [ -x /usr/libexec/podman/catatonit ] || apt_install catatonit || { ENGINE_MISSING="catatonit could not be installed"; return 1; }
  podman_config
}

# apt_install PACKAGE...: Debian packages, with one apt-get update when the lists are stale.
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { as_root apt-get update >/dev/null 2>&1 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
}

# /etc/containers/containers.conf for podman, only when absent: runc as the runtime (Debian's crun fails here: "cgroups in
# hybrid mode not supported"), no default ulimits and no pids limit (a container may not set them: "setrlimit
# RLIMIT_NOFILE: Operation not permitted"). An existing file is left as it is.
podman_config() {
  local conf=/etc/containers/containers.conf
  [ -e "$conf" ] && return 0
  [ "$(id -u)" = 0 ] || { log "no $conf and not root: podman keeps its defaults"; return 0; }
  log "Writing $conf (runc; no default ulimits, no pids limit)"
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
# Written by SSM On-Prem HA's scripts/lib.sh (podman_config): what podman needs on this kind of machine.
[containers]
default_ulimits = []
pids_limit = 0

[engine]
runtime = "runc"
CONF
}

# compose_cmd: the compose program for ENGINE (podman-compose, installed from Debian when missing; docker compose).
compose_cmd() {
  if [ "$ENGINE" = podman ]; then
    command -v podman-compose >/dev/null || apt_install podman-compose || return 1
    COMPOSE=(podman-compose)
  else
    docker compose version >/dev/null 2>&1 || return 1
    COMPOSE=(docker compose)
  fi
}
