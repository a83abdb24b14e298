#!/usr/bin/env bash
# Chaos on real processes: the failover benchmark with every fault kind it knows, mixed in a shuffled order per round
# (CHAOS_SEED repeats an order), CYCLES rounds (default 8: 56 faults). A client writes through the VIP over HTTPS on
# keep-alive connections the whole time; the report gives per kind the client-seen gap in acknowledged writes
# (min/median/max), rejoin time, acknowledged writes lost, and samples where both servers were writable and where both
# could have acknowledged a commit. Link cuts need network namespaces: see bench/silent-failure.sh.
# Usage: bench/chaos.sh     (env: CYCLES=8 CHAOS_SEED=...; everything else as bench/failover.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export SCENARIOS=${SCENARIOS:-planned,crash,pgkill,freeze,pgfreeze,witness,both}
export CYCLES=${CYCLES:-8}
exec bench/failover.sh
