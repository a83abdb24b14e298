#!/usr/bin/env bash
# Chaos on real processes: the failover benchmark with every fault kind it knows, mixed in a shuffled order per round
# (CHAOS_SEED repeats an order), CYCLES rounds (default 8: 64 faults on hosts of their own, 56 on loopback). A client
# writes through the VIP over HTTPS on keep-alive connections the whole time; the report gives per kind the client-seen
# gap in acknowledged writes (min/median/max), rejoin time, acknowledged writes lost, and samples where both servers were
# writable and where both could have acknowledged a commit.
# As root it runs on hosts of their own (BENCH_NETNS=1: network namespaces on a bridge, the `ip` VIP provider with
# gratuitous ARP) and adds the link cut (the active's switch port down 5 s); otherwise, or with BENCH_NETNS=0, on
# loopback addresses with the loopback VIP provider, without link cuts.
# Usage: sudo bench/chaos.sh     (env: CYCLES=8 CHAOS_SEED=... BENCH_NETNS=1|0; everything else as bench/failover.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
if [ -z "${BENCH_NETNS:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    BENCH_NETNS=1
  else
    log "Not root: chaos on loopback addresses with the loopback VIP, without link cuts (run it with sudo for network namespaces, the ip VIP provider and link cuts)"
    BENCH_NETNS=0
  fi
fi
[ "$BENCH_NETNS" = 0 ] || [ "$(id -u)" = 0 ] || die "BENCH_NETNS=1 needs root (network namespaces)"
export BENCH_NETNS
if [ "$BENCH_NETNS" = 1 ]; then
  export SCENARIOS=${SCENARIOS:-planned,crash,pgkill,freeze,pgfreeze,witness,both,linkcut}
else
  export SCENARIOS=${SCENARIOS:-planned,crash,pgkill,freeze,pgfreeze,witness,both}
fi
export CYCLES=${CYCLES:-8}
exec bench/failover.sh
