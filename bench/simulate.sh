#!/usr/bin/env bash
# Deterministic simulation of the cluster supervisor (docs/cluster-simulation.md).
#   bench/simulate.sh N [FIRST]   runs N seeds from FIRST (default 10001: past the 10,000 that ./test.sh runs)
#   bench/simulate.sh --replay S  replays seed S and prints its whole trace
# Prints "N seeds, V violations"; each violation with its seed, which replays it exactly.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_dotnet

if [ "${1:-}" = "--replay" ]; then
  seeds=1; first=${2:?usage: bench/simulate.sh --replay SEED}
else
  seeds=${1:-10000}; first=${2:-10001}
fi
log "Building (Release)"
dotnet build Ssm.Tests/Ssm.Tests.csproj -c Release --nologo -v quiet -clp:ErrorsOnly >/dev/null || { echo "build failed"; exit 1; }
report=$(mktemp)
trap 'rm -f "$report"' EXIT
log "Simulating $seeds seed(s) from $first"
SIM_SEEDS=$seeds SIM_FIRST_SEED=$first SIM_REPORT=$report \
  dotnet test --project Ssm.Tests/Ssm.Tests.csproj -c Release --no-build \
  --filter-method "Ssm.Tests.Simulation.SimulationTests.Every_seed_keeps_one_writer_and_every_acknowledged_write" >/dev/null 2>&1
status=$?
if [ -s "$report" ]; then cat "$report"; else echo "the simulation did not report (exit $status)"; exit 1; fi
exit $status
