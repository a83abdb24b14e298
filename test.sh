#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL and a real Chromium; ends with "N passed, N failed, N skipped".
# PostgreSQL: $SSM_TEST_POSTGRES if set (a connection string allowed to create databases); else a throwaway
# local cluster (installed with apt-get if missing); else Testcontainers when a Docker engine answers.
set -uo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

ensure_dotnet
if [ -z "${SSM_TEST_POSTGRES:-}" ] && ! pg_bin >/dev/null; then
  if [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; then
    log "No local PostgreSQL: the tests will use Testcontainers"
  else
    ensure_postgres
  fi
fi
ensure_chromium
# The network-namespace cluster test: ip (iproute2), gratuitous ARP (arping), its client (python3); the loopback sniffer of the security tests (tcpdump);
# the loopback VIP's kernel redirect (nftables, decision 0021).
if [ "$(id -u)" = 0 ]; then ensure_package ip iproute2; ensure_package arping iputils-arping; ensure_package python3 python3; ensure_package tcpdump tcpdump; ensure_package nft nftables; fi
# The notification tests' SMTP relay: Debian's aiosmtpd, run by Debian's own python3.
ensure_python_module /usr/bin/python3 aiosmtpd python3-aiosmtpd

log "Building (Release)"
dotnet build Ssm.sln -c Release --nologo -v quiet -clp:ErrorsOnly || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

log "Running the tests"
out=$(mktemp)
timeout 45m dotnet test --project Ssm.Tests/Ssm.Tests.csproj -c Release --no-build "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

count() { grep -E "^\s+$1: [0-9]+" "$out" | tail -1 | grep -oE '[0-9]+' || echo 0; }
passed=$(count succeeded); failed=$(count failed); skipped=$(count skipped)
rm -f "$out"
if [ "$status" -ne 0 ] && [ "$failed" = 0 ]; then
  failed=1   # the run itself broke (crash, timeout): never report that as green
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ]
