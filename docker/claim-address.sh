#!/usr/bin/env bash
# claim-address.sh [COMMAND ARGS...]: puts the service's fixed address of compose.yaml (SSM_ADDRESS, as 172.28.0.11/24)
# on its interface (SSM_ADDRESS_INTERFACE, default eth0) unless it is there already (decision 0027: Debian's
# podman-compose 1.0.3 cannot read ipv4_address, so compose.yaml gives none and this does it under any compose
# program), makes it the source of the subnet's traffic (the nodes admit their peer's replication by its address),
# announces it with gratuitous ARP (NET_RAW), then runs COMMAND. Needs NET_ADMIN when it adds the address.
set -euo pipefail

# to_int A.B.C.D / to_ip N: IPv4 address arithmetic for the subnet of the address.
to_int() { local IFS=.; set -- $1; echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 )); }
to_ip() { echo "$(( ($1 >> 24) & 255 )).$(( ($1 >> 16) & 255 )).$(( ($1 >> 8) & 255 )).$(( $1 & 255 ))"; }

claim() {
  local cidr=$1 dev=${SSM_ADDRESS_INTERFACE:-eth0}
  local ip=${cidr%/*} bits=${cidr#*/}
  [ "$bits" != "$cidr" ] || bits=24
  if ip -o -4 addr show dev "$dev" | grep -q " $ip/"; then
    return 0
  fi
  local mask=$(( (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF ))
  local net; net="$(to_ip $(( $(to_int "$ip") & mask )))/$bits"
  echo "claim-address: adding $ip/$bits to $dev" >&2
  ip addr add "$ip/$bits" dev "$dev"
  # On a network of that very subnet the engine's own address would stay the source: make it this one.
  ip route replace "$net" dev "$dev" proto kernel scope link src "$ip"
  if command -v arping >/dev/null; then
    arping -U -c 2 -I "$dev" "$ip" >/dev/null 2>&1 &
  fi
}

if [ -n "${SSM_ADDRESS:-}" ]; then
  claim "$SSM_ADDRESS"
fi
if [ $# -gt 0 ]; then
  exec "$@"
fi
