#!/usr/bin/env bash
# Entry point of the node image (Ssm.Web/Dockerfile). Every ssm verb passes straight through to /app/ssm;
# three words add what run.sh does around the verbs, for compose.yaml:
#   node ARGS...              ssm node ARGS, and on a stop of the container also a clean stop of the node's
#                             PostgreSQL (the node leaves it running on exit: a crash must look like a crash)
#   ha_generate_keys_once ARGS...   ssm ha_generate_keys ARGS unless the --out file exists already
#   ha_deploy_once ARGS...    ssm ha_deploy ARGS unless --node or --peer already runs the cluster
set -euo pipefail
SSM=/app/ssm

# arg NAME ARGS...: the value after NAME in ARGS (empty if absent).
arg() {
  local name=$1; shift
  while [ $# -gt 1 ]; do
    [ "$1" = "$name" ] && { printf '%s' "$2"; return 0; }
    shift
  done
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }; done
  return 1
}

case "${1:-}" in
  node)
    data=$(arg --data "$@"); data=${data:-/data}
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
    if [ -n "$out" ] && [ -f "$out" ]; then
      echo "Cluster key $out exists; keeping it."
      exit 0
    fi
    exec "$SSM" ha_generate_keys "$@"
    ;;
  ha_deploy_once)
    shift
    # As run.sh: a second `docker compose up` finds the cluster running and must not deploy it again.
    for url in "$(arg --node "$@")" "$(arg --peer "$@")"; do
      if [ -n "$url" ] && "$SSM" ha_status --node "$url" >/dev/null 2>&1; then
        echo "The cluster already runs:"
        exec "$SSM" ha_status --node "$url"
      fi
    done
    exec "$SSM" ha_deploy "$@"
    ;;
  *)
    exec "$SSM" "$@"
    ;;
esac
