#!/usr/bin/env bash
# Entry point of the node image (Ssm.Web/Dockerfile). Every ssm verb passes straight through to /app/ssm;
# four words add what run.sh does around the verbs, for compose.yaml:
#   node ARGS...              ssm node ARGS, and on a stop of the container also a clean stop of the node's
#                             PostgreSQL (the node leaves it running on exit: a crash must look like a crash)
#   ha_generate_keys_once ARGS...   ssm ha_generate_keys ARGS unless the --out folder holds a cluster CA already
#   witness ARGS...           ssm ha_witness_init ARGS (--data DIR --keys KEYS --address IP --port P), then
#                             PostgreSQL on DIR in the foreground, as the postgres user
#   ha_deploy_once ARGS...    ssm ha_deploy ARGS unless --node or --peer already runs the cluster
# Compose programs that start every service at once, without waiting for depends_on's conditions (Debian's
# podman-compose 1.0.3), find the same order here: node and witness wait for the files they read (the cluster CA, the
# CSC root), ha_deploy_once for both nodes to answer. First of all, claim-address.sh puts the service's fixed address
# (SSM_ADDRESS) on eth0 when the compose program did not (decision 0027).
set -euo pipefail
SSM=/app/ssm
SELF=$(dirname "$0")
"$SELF/claim-address.sh"

# arg NAME ARGS...: the value after NAME in ARGS (empty if absent).
arg() {
  local name=$1; shift
  while [ $# -gt 1 ]; do
    [ "$1" = "$name" ] && { printf '%s' "$2"; return 0; }
    shift
  done
}

# wait_for_file FILE SECONDS: until FILE exists (a service started before the one that writes it); fails after SECONDS.
wait_for_file() {
  local file=$1 seconds=$2 i
  for ((i = 0; i < seconds * 2; i++)); do
    [ -e "$file" ] && return 0
    [ "$i" = 0 ] && echo "Waiting for $file" >&2
    sleep 0.5
  done
  echo "$file did not appear within $seconds s" >&2
  return 1
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }; done
  return 1
}

case "${1:-}" in
  node)
    data=$(arg --data "$@"); data=${data:-/data}
    keys=$(arg --cluster-keys "$@"); csc_root=$(arg --csc-root "$@")
    if [ -n "$keys" ]; then wait_for_file "$keys/ca.crt" 120; fi
    if [ -n "$csc_root" ]; then wait_for_file "$csc_root" 120; fi
    "$SSM" "$@" &
    pid=$!
    trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT
    status=0
    wait "$pid" || status=$?
    # A trapped signal ends the first wait early: wait for ssm itself to finish.
    while kill -0 "$pid" 2>/dev/null; do wait "$pid" || status=$?; done
    if [ -f "$data/pg/postmaster.pid" ] && bin=$(pg_bin); then
      runuser -u postgres -- "$bin/pg_ctl" -D "$data/pg" -m fast -w -t 20 stop >/dev/null 2>&1 || true
    fi
    exit "$status"
    ;;
  ha_generate_keys_once)
    shift
    out=$(arg --out "$@")
    # As run.sh: a CA exists already (ha_generate_keys would refuse it anyway; a new one would split the cluster).
    if [ -n "$out" ] && [ -f "$out/ca.key" ]; then
      echo "Cluster CA in $out exists; keeping it."
      exit 0
    fi
    exec "$SSM" ha_generate_keys "$@"
    ;;
  witness)
    shift
    data=$(arg --data "$@")
    [ -n "$data" ] || { echo "witness: --data DIR is required" >&2; exit 2; }
    bin=$(pg_bin) || { echo "witness: no PostgreSQL in /usr/lib/postgresql" >&2; exit 1; }
    keys=$(arg --keys "$@")
    if [ -n "$keys" ]; then wait_for_file "$keys/ca.crt" 120; fi
    # As run.sh: a witness from before the cluster CA (password login, no TLS) holds only a lease: start it
    # afresh. DIR may be a volume's mount point: empty it, do not remove it.
    if [ -f "$data/PG_VERSION" ] && [ ! -f "$data/server.crt" ]; then
      echo "Replacing the old witness in $data (password login) with one that speaks TLS and admits nodes by certificate"
      find "$data" -mindepth 1 -delete
    fi
    # At every start: the first makes the database, later ones renew the certificate from the cluster CA.
    connection=$("$SSM" ha_witness_init "$@")
    echo "Witness ready; the nodes' --witness: $connection"
    # exec, and setpriv rather than runuser: runuser stays as the parent, answers a stop with SIGTERM, then
    # SIGKILL 2 s later; PostgreSQL itself must get the container's stop signal (compose: SIGINT, fast shutdown).
    # Its socket in DIR, as run.sh's pg_start (no need for /run/postgresql).
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" -D "$data" -k "$data"
    ;;
  ha_deploy_once)
    shift
    # As run.sh: a second `docker compose up` finds the cluster running and must not deploy it again.
    # ha_status asks the node's peer URL over mutual TLS with the keys of SSM_CLUSTER_KEYS (the environment): 0, the
    # cluster runs; 3, the node answers but runs no cluster; 4, it does not answer yet (up to 180 s for both).
    for ((i = 0; i < 360; i++)); do
      answered=0
      for url in "$(arg --node "$@")" "$(arg --peer "$@")"; do
        [ -n "$url" ] || continue
        status=0; "$SSM" ha_status --node "$url" >/dev/null 2>&1 || status=$?
        if [ "$status" = 0 ]; then
          echo "The cluster already runs:"
          exec "$SSM" ha_status --node "$url"
        fi
        [ "$status" = 4 ] || answered=$((answered + 1))
      done
      [ "$answered" = 2 ] && break
      [ "$i" = 0 ] && echo "Waiting for both nodes to answer"
      sleep 0.5
    done
    exec "$SSM" ha_deploy "$@"
    ;;
  *)
    exec "$SSM" "$@"
    ;;
esac
