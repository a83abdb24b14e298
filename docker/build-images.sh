#!/usr/bin/env bash
# Builds the images of compose.yaml and of the tests' Testcontainers path from nothing but Debian's mirror and NuGet
# (no image registry needed; decision 0026), with podman or docker, whichever is here (podman is installed from Debian
# when neither is), and tags them locally:
#   localhost/ssm-debian:bookworm      Debian 12 from `debootstrap --variant=minbase`, imported (kept once built)
#   localhost/ssm-postgres:15          + Debian's PostgreSQL, with an entrypoint that answers POSTGRES_USER/_PASSWORD/_DB
#                                      as the official image does (Testcontainers.PostgreSql runs it)
#   localhost/ssm-node:latest          + ssm, published self-contained (no .NET image, no runtime download), the ip tools,
#                                      curl, socat: the nodes, the witness, keys, deploy and the vip relay of compose.yaml
#   localhost/ssm-csc-emulator:latest  the CSC emulator, self-contained, on the Debian base
# An image whose inputs did not change is kept (label ssm.inputs); --rebuild builds all again, --base too;
# --base-only makes (or keeps) the base image and checks that the engine runs a container from it, nothing more.
# SSM_DEBIAN_MIRROR (default http://deb.debian.org/debian) is where debootstrap and apt fetch packages.
# Prints each step's time and, at the end, the images' sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

REBUILD=false REBUILD_BASE=false BASE_ONLY=false
for arg in "$@"; do
  case $arg in
    --rebuild) REBUILD=true ;;
    --base) REBUILD_BASE=true ;;
    --base-only) BASE_ONLY=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see $0 --help)" ;;
  esac
done

BASE_IMAGE=localhost/ssm-debian:bookworm
PG_IMAGE=localhost/ssm-postgres:15
NODE_IMAGE=localhost/ssm-node:latest
CSC_IMAGE=localhost/ssm-csc-emulator:latest
MIRROR=${SSM_DEBIAN_MIRROR:-http://deb.debian.org/debian}

ensure_dotnet
ensure_engine || die "no container engine: $ENGINE_MISSING"
log "Container engine: $ENGINE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssm-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

step_started=0
step() { step_started=$(date +%s); log "$*"; }
step_done() { log "  done in $(( $(date +%s) - step_started )) s"; }

# label IMAGE: the image's ssm.inputs label (empty when the image is missing).
label() { $ENGINE image inspect --format '{{ index .Config.Labels "ssm.inputs" }}' "$1" 2>/dev/null || true; }
image_id() { $ENGINE image inspect --format '{{ .Id }}' "$1" 2>/dev/null || true; }
# inputs PATH...: a digest of these files as they are now (committed or not).
inputs() { { git ls-files -s -- "$@"; git diff HEAD -- "$@"; git ls-files -o --exclude-standard -- "$@" | xargs -r sha256sum; } | sha256sum | cut -c1-16; }
# build IMAGE INPUTS CONTEXT DOCKERFILE: the engine's build, on the host's network (apt reaches the mirror as the host does).
# The image the tag named before is removed when nothing uses it any more (only that one: other images are left alone).
build() {
  local before; before=$(image_id "$1")
  $ENGINE build --network host --label "ssm.inputs=$2" -t "$1" -f "$4" "$3" || return 1
  if [ -n "$before" ] && [ "$before" != "$(image_id "$1")" ]; then $ENGINE rmi "$before" >/dev/null 2>&1 || true; fi
}

# 1. The Debian base: debootstrap into a folder, then import it as an image. Kept once built (1 to 4 minutes).
if $REBUILD_BASE || [ -z "$(image_id "$BASE_IMAGE")" ]; then
  step "Base image $BASE_IMAGE: debootstrap --variant=minbase bookworm from $MIRROR"
  command -v debootstrap >/dev/null || apt_install debootstrap || die "could not install debootstrap"
  rootfs=$WORK/rootfs
  base_before=$(image_id "$BASE_IMAGE")
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SOURCES
  # No documentation or package cache in the image; apt in a build step leaves no lists behind either.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | $ENGINE import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >"$WORK/import.log" 2>&1 \
    || { cat "$WORK/import.log" >&2; die "$ENGINE import failed"; }
  rm -rf "$rootfs"
  if [ -n "$base_before" ]; then $ENGINE rmi "$base_before" >/dev/null 2>&1 || true; fi
  step_done
else
  log "Base image $BASE_IMAGE: kept"
fi

if $BASE_ONLY; then
  $ENGINE run --rm --network none "$BASE_IMAGE" true || die "$ENGINE cannot run a container of $BASE_IMAGE"
  log "$ENGINE runs containers of $BASE_IMAGE"
  exit 0
fi

# 2. PostgreSQL from Debian's packages on the base.
pg_inputs="$(image_id "$BASE_IMAGE" | cut -c1-16)-$(inputs docker/postgres)"
if $REBUILD || [ "$(label "$PG_IMAGE")" != "$pg_inputs" ]; then
  step "PostgreSQL image $PG_IMAGE"
  build "$PG_IMAGE" "$pg_inputs" docker/postgres docker/postgres/Dockerfile >"$WORK/pg.log" 2>&1 || { tail -30 "$WORK/pg.log" >&2; die "building $PG_IMAGE failed"; }
  step_done
else
  log "PostgreSQL image $PG_IMAGE: kept"
fi

# 3. The node and the CSC emulator, published self-contained from a copy of the working tree (its bin/ and obj/ stay
# as they are: the tests' Release build is not disturbed), each into the build context of its image.
node_paths=(Ssm.Domain Ssm.Application Ssm.Infrastructure Ssm.Web docker/node-entrypoint.sh docker/claim-address.sh
            global.json Directory.Build.props Directory.Packages.props .editorconfig)
csc_paths=(tools/Ssm.CscEmulator docker/claim-address.sh global.json Directory.Build.props Directory.Packages.props .editorconfig)
node_inputs="$(image_id "$PG_IMAGE" | cut -c1-16)-$(inputs "${node_paths[@]}")"
csc_inputs="$(image_id "$BASE_IMAGE" | cut -c1-16)-$(inputs "${csc_paths[@]}")"
build_node=false build_csc=false
if $REBUILD || [ "$(label "$NODE_IMAGE")" != "$node_inputs" ]; then build_node=true; fi
if $REBUILD || [ "$(label "$CSC_IMAGE")" != "$csc_inputs" ]; then build_csc=true; fi

if $build_node || $build_csc; then
  step "Publishing self-contained (Release) from a copy of the working tree"
  mkdir -p "$WORK/src"
  git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$WORK/src"
  publish() { # OUT PROJECT [extra]
    local out=$1 project=$2; shift 2
    DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet publish "$WORK/src/$project" -c Release -o "$out" --nologo \
      --use-current-runtime --self-contained true "$@" >>"$WORK/publish.log" 2>&1 \
      || { tail -30 "$WORK/publish.log" >&2; die "dotnet publish $project failed"; }
  }
  if $build_node; then
    mkdir -p "$WORK/node"
    publish "$WORK/node/app" Ssm.Web/Ssm.Web.csproj -p:PublishReadyToRun=true
    cp docker/node-entrypoint.sh docker/claim-address.sh "$WORK/node/"
  fi
  if $build_csc; then
    mkdir -p "$WORK/csc"
    publish "$WORK/csc/app" tools/Ssm.CscEmulator/Ssm.CscEmulator.csproj
    cp docker/claim-address.sh "$WORK/csc/"
  fi
  step_done
fi

if $build_node; then
  step "Node image $NODE_IMAGE"
  build "$NODE_IMAGE" "$node_inputs" "$WORK/node" Ssm.Web/Dockerfile >"$WORK/node.log" 2>&1 || { tail -30 "$WORK/node.log" >&2; die "building $NODE_IMAGE failed"; }
  step_done
else
  log "Node image $NODE_IMAGE: kept"
fi
if $build_csc; then
  step "CSC emulator image $CSC_IMAGE"
  build "$CSC_IMAGE" "$csc_inputs" "$WORK/csc" tools/Ssm.CscEmulator/Dockerfile >"$WORK/csc.log" 2>&1 || { tail -30 "$WORK/csc.log" >&2; die "building $CSC_IMAGE failed"; }
  step_done
else
  log "CSC emulator image $CSC_IMAGE: kept"
fi

log "Images:"
for image in "$BASE_IMAGE" "$PG_IMAGE" "$NODE_IMAGE" "$CSC_IMAGE"; do
  printf '  %-36s %s MB\n' "$image" "$(( $($ENGINE image inspect --format '{{ .Size }}' "$image") / 1000000 ))" >&2
done
