#!/usr/bin/env bash
# A frozen active (SIGSTOP for 10 s) while a client writes through the one-machine VIP (decision 0021): runs the
# frozen-node and the frozen-database cluster tests RUNS times each (needs root and nftables) and prints the
# longest gap in acknowledged writes. The tests themselves assert no lost write and never two writable databases.
# Usage: sudo bench/frozen-active.sh        (env RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || die "the kernel redirect of the loopback VIP needs root"
ensure_dotnet; ensure_postgres; ensure_package nft nftables; ensure_package python3 python3
dotnet build Ssm.sln -c Release --nologo -v quiet -clp:ErrorsOnly
out=$(mktemp)
failures=${FAILURES:-/tmp/frozen-active-failures.log}; : >"$failures"; failed=0
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$RUNS"); do
  for test in Freezing_the_active_node_process Freezing_the_active_database; do
    log "run $i/$RUNS: $test"
    # A failed run is kept and counted, not hidden: its output goes to $failures.
    SSM_MEASUREMENTS=$out dotnet test --project Ssm.Tests/Ssm.Tests.csproj -c Release --no-build -- \
      --filter-method "*$test*" >"$out.log" 2>&1 || { failed=$((failed + 1)); { echo "=== run $i $test"; cat "$out.log"; } >>"$failures"; log "run $i of $test FAILED"; }
  done
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for key, what, target in [("frozen_node_gap_ms", "node process frozen 10 s", "median <= 2000 ms"),
                          ("frozen_database_gap_ms", "its PostgreSQL frozen 10 s", "database timeout 3 s + failover 1 s")]:
    values = sorted(int(v) for k, v in rows if k == key)
    if values:
        print(f"{what}: longest gap in acknowledged writes through the VIP, {len(values)} runs:")
        print(f"  min {values[0]} ms  median {statistics.median(values):.0f} ms  max {values[-1]} ms   (budget: {target})")
print("  runs that passed: 0 samples with two databases able to acknowledge a write, 0 acknowledged writes lost (asserted by the tests)")
PY
rm -f "$out" "$out.log"
if [ "$failed" -gt 0 ]; then die "$failed run(s) failed: see $failures (a run that failed after measuring is counted above)"; fi
