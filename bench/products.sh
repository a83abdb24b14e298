#!/usr/bin/env bash
# Product registration benchmark (issue 5, item 9) on the two-node cluster with synchronous replication, witness,
# loopback VIP and the CSC emulator (Host Common Name = the VIP, server certificate signed by CSC):
#   - registrations through the VIP's HTTPS port at concurrency BENCH_CONCURRENCY (one shared ProductClient,
#     keep-alive; every product's key pair and CSR made before the clock starts, as a device makes them at first
#     boot): registrations/s, p50/p99/max latency, errors by code
#   - baseline of the same run: raw Marten single-document inserts of ProductInstance documents (one
#     LightweightSession + Insert + SaveChangesAsync each) straight against the active node's PostgreSQL; ratio
#   - usage report ingestion from the registered products: usage records/s
#   - transport baselines: GET /health/live over HTTPS through the VIP relay and straight to the active node
#   - the Product Instances page with BENCH_INSTANCES instances (seeded with generate_series from the JSON of a real
#     registration): GET /api/product-instances if this build has it, else the equivalent Marten LINQ queries
#   - the active node's VmRSS/VmHWM after seeding and loading the pages
#   The load driver's idle thread-pool workers sleep instead of spinning, as the node's do (decision 0048): it shares the
#   cores with what it measures; its settings are printed in the notes.
#   For each load phase: CPU seconds per process (bench client, both nodes, both PostgreSQL servers) and the wait
#   events of PostgreSQL's client backends, which is what tells where the time goes.
# Targets (issue 17): >= 2,500 registrations/s and >= 1.5x the raw insert rate; >= 10,000 usage records/s; every page
# <= 50 ms, <= 1 KB per instance on disk and node VmRSS <= 500 MB with 1,000,000 instances.
# Usage: bench/products.sh   (env: BENCH_COUNT=20000 BENCH_CONCURRENCY=64 BENCH_REPORT_REQUESTS=20000
#                             BENCH_REPORTS_PER_REQUEST=10 BENCH_INSTANCES=1000000 BENCH_RATE_LIMIT=0
#                             BENCH_HEARTBEAT_MS=200 BENCH_FAILOVER_TIMEOUT_MS=5000
#                             BENCH_NET=127.0.92 BENCH_KEEP_LOGS=DIR BENCH_APP=DIR)
#   BENCH_FAILOVER_TIMEOUT_MS  the nodes' --failover-timeout-ms. Not the product's 1000 ms: at that value the active
#                      fences itself within seconds of this load on 2 busy cores (its own database probe, 5 round trips
#                      on the saturated thread pool, misses the 600 ms FenceAfter), and the benchmark measures a failover.
#   BENCH_RATE_LIMIT   SmartTransport:RequestsPerSecond of the nodes; 0 = off (the benchmark's products all connect
#                      from one address, so the default of 200/s per source would measure the limiter).
#   BENCH_APP=DIR      uses an `ssm` already published in DIR instead of publishing a copy of HEAD (uncommitted
#                      changes are not in a published HEAD).
#   BENCH_KEEP_LOGS    copies the node, emulator and PostgreSQL logs there before the temp folder is removed.
#   BENCH_TRACE=F.nettrace  a thread-time sample trace (dotnet-trace) of the active node for BENCH_TRACE_SECONDS (15) from the
#                      start of each phase in BENCH_TRACE_PHASES (Registrations; also "Usage"), one file per phase;
#                      BENCH_TRACE_NODE=standby traces the standby instead.
# Own loopback addresses (not run.sh's): primary NET.11, secondary NET.9, VIP NET.14, witness NET.13, CSC NET.15.
# Everything lives in a temp folder that is removed at the end. Progress goes to stderr, the report to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

COUNT=${BENCH_COUNT:-20000}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
REPORT_REQUESTS=${BENCH_REPORT_REQUESTS:-20000}
REPORTS_PER_REQUEST=${BENCH_REPORTS_PER_REQUEST:-10}
INSTANCES=${BENCH_INSTANCES:-1000000}
RATE_LIMIT=${BENCH_RATE_LIMIT:-0}
HEARTBEAT_MS=${BENCH_HEARTBEAT_MS:-200}
FAILOVER_TIMEOUT_MS=${BENCH_FAILOVER_TIMEOUT_MS:-5000}
NET=${BENCH_NET:-127.0.92}
PRIMARY=$NET.11
SECONDARY=$NET.9
VIP=$NET.14
WITNESS=$NET.13
CSC=$NET.15
case "$NET." in 127.*) ;; *) die "BENCH_NET must be a 127.x.y loopback prefix, not $NET" ;; esac

ensure_dotnet
ensure_postgres

bench_work products
APP=${BENCH_APP:-$WORK/app}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_cluster_ports 8443 8444 8445
CSC_PORT=$(pick_port 9443 "$CSC")

bench_publish "$WORK" "$APP"
SSM=$APP/ssm
bench_cluster_keys

bench_admin_password
OPERATOR_PASSWORD=$(random_secret)

printf 'ssm products benchmark  commit %s%s  %s cores  dotnet %s  %s  load average %s\n' \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$( [ -n "${BENCH_APP:-}" ] && echo " (app from $BENCH_APP)" )" \
  "$(nproc)" "$(dotnet --version)" "$("$PG_BIN/postgres" --version)" "$(cut -d' ' -f1-3 /proc/loadavg)"

SSM_ADMIN_PASSWORD=$ADMIN_PASSWORD CSC_OPERATOR_PASSWORD=$OPERATOR_PASSWORD python3 bench/products.py \
  --app "$SSM" --key "$KEY" --work "$WORK" \
  --primary "$PRIMARY" --secondary "$SECONDARY" --vip "$VIP" --witness "$WITNESS_DB" --csc "$CSC" \
  --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --peer-port "$PEER_PORT" --pg-port "$PG_PORT" --csc-port "$CSC_PORT" \
  --count "$COUNT" --concurrency "$CONCURRENCY" --report-requests "$REPORT_REQUESTS" \
  --reports-per-request "$REPORTS_PER_REQUEST" --instances "$INSTANCES" --rate-limit "$RATE_LIMIT" \
  --heartbeat-ms "$HEARTBEAT_MS" --failover-timeout-ms "$FAILOVER_TIMEOUT_MS"
