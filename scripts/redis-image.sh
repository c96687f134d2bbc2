#!/usr/bin/env bash
# Build a minimal local Redis image from the Debian redis-server binary.
#
# Nothing can be pulled from a registry in CI, so instead of `redis:7-alpine` we
# assemble a rootfs from /usr/bin/redis-server (+ redis-cli), every shared library
# `ldd` lists for them and the dynamic loader, and `docker import` it.
#
# Usage: scripts/redis-image.sh [TAG]
#   TAG defaults to $REDIS_TEST_IMAGE, then token-usage-redis:local.
#   REDIS_IMAGE_REBUILD=1        rebuild even if the image already exists
#   REDIS_IMAGE_SKIP_VERIFY=1    skip the post-build smoke run of the image
#
# The image runs e.g.
#   docker run --rm --network host TAG redis-server --port P --bind 127.0.0.1 --save '' --appendonly no
# and also supports `--appendonly yes --dir /data` (/data and /tmp exist, WORKDIR /data;
# /data is deliberately not a VOLUME, so it lives in the container's writable layer and
# survives `docker restart`/container.restart() without leaking anonymous volumes).
# The default CMD binds to 127.0.0.1 only, because the image is meant for --network host.
set -euo pipefail

TAG="${1:-${REDIS_TEST_IMAGE:-token-usage-redis:local}}"
REDIS_SERVER_BIN="${REDIS_SERVER_BIN:-$(command -v redis-server || true)}"
REDIS_CLI_BIN="${REDIS_CLI_BIN:-$(command -v redis-cli || true)}"

log() { echo "[redis-image] $*"; }
die() { echo "[redis-image] ERROR: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (run scripts/start-docker.sh first)"

if [[ "${REDIS_IMAGE_REBUILD:-0}" != "1" ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG already exists; skipping build (REDIS_IMAGE_REBUILD=1 to force)"
  exit 0
fi

[[ -n "$REDIS_SERVER_BIN" && -x "$REDIS_SERVER_BIN" ]] \
  || die "redis-server binary not found (apt-get install -y redis-server)"
command -v ldd >/dev/null 2>&1 || die "ldd not found"

WORK="$(mktemp -d /tmp/token-usage-redis-image.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"/{usr/bin,etc,data,tmp,lib,lib64,usr/lib}
chmod 1777 "$ROOTFS/tmp"
chmod 0755 "$ROOTFS/data"

# Copy a file into the rootfs at the same absolute path, dereferencing symlinks.
# (Debian 12 is merged-/usr: /lib is a symlink to usr/lib on the host; in the
# rootfs we simply create real directories at the paths ldd reports.)
copy_in() {
  local src="$1" dest="$ROOTFS$1"
  mkdir -p "$(dirname "$dest")"
  cp -L "$src" "$dest"
}

# The binaries. Debian's /usr/bin/redis-server is a symlink to redis-check-rdb;
# redis picks its mode from argv[0], so copy it as a real file named redis-server.
cp -L "$REDIS_SERVER_BIN" "$ROOTFS/usr/bin/redis-server"
ln -s redis-server "$ROOTFS/usr/bin/redis-check-aof"
ln -s redis-server "$ROOTFS/usr/bin/redis-check-rdb"
bins=("$REDIS_SERVER_BIN")
if [[ -n "$REDIS_CLI_BIN" && -x "$REDIS_CLI_BIN" ]]; then
  cp -L "$REDIS_CLI_BIN" "$ROOTFS/usr/bin/redis-cli"
  bins+=("$REDIS_CLI_BIN")
fi

# Shared libraries + dynamic loader. ldd lines look like
#   libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)
#   /lib64/ld-linux-x86-64.so.2 (0x...)
#   linux-vdso.so.1 (0x...)          <- virtual, skipped
libs="$(for b in "${bins[@]}"; do ldd "$b"; done | awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)"
[[ -n "$libs" ]] || die "ldd reported no libraries for ${bins[*]}"
while IFS= read -r lib; do
  [[ -e "$lib" ]] || die "library $lib not found"
  copy_in "$lib"
done <<<"$libs"

# Minimal identity files (some libc paths look these up; harmless otherwise).
cat >"$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat >"$ROOTFS/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo "hosts: files dns" >"$ROOTFS/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOTFS/etc/hosts"

# Sanity check the rootfs before importing: run the copied binary with only the
# copied libraries (through the copied loader).
loader="$(ls "$ROOTFS"/lib64/ld-linux-*.so.* 2>/dev/null | head -n1 || true)"
if [[ -n "$loader" ]]; then
  "$loader" --library-path "$ROOTFS/lib/x86_64-linux-gnu:$ROOTFS/usr/lib/x86_64-linux-gnu:$ROOTFS/lib" \
    "$ROOTFS/usr/bin/redis-server" --version >/dev/null \
    || die "copied redis-server does not run with the copied libraries"
fi

tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
log "rootfs: $(du -sh "$WORK/rootfs.tar" | cut -f1) ($(wc -l <<<"$libs") libraries from ldd)"

old_id="$(docker image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
redis_version="$("$REDIS_SERVER_BIN" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /data' \
  --change 'EXPOSE 6379' \
  --change "LABEL org.opencontainers.image.title=token-usage-redis org.opencontainers.image.version=${redis_version:-unknown} org.opencontainers.image.description=redis-server-from-debian-package" \
  --change 'CMD ["/usr/bin/redis-server", "--bind", "127.0.0.1"]' \
  --message "redis-server ${redis_version:-?} from $REDIS_SERVER_BIN (Debian package)" \
  "$WORK/rootfs.tar" "$TAG" >/dev/null
log "built image $TAG (redis ${redis_version:-?})"
# On a forced rebuild, drop the previous (now untagged) image.
new_id="$(docker image inspect --format '{{.Id}}' "$TAG")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi

# Smoke run: start it on a free loopback port with host networking and wait for
# the ready line, exactly the way the test global setup does.
if [[ "${REDIS_IMAGE_SKIP_VERIFY:-0}" != "1" ]]; then
  if command -v node >/dev/null 2>&1; then
    port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
  else
    port=$(( 20000 + RANDOM % 20000 ))
  fi
  cid="$(docker run -d --rm --network host "$TAG" \
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no)"
  ok=0
  for ((i = 0; i < 40; i++)); do
    if docker logs "$cid" 2>&1 | grep -q 'Ready to accept connections'; then ok=1; break; fi
    sleep 0.25
  done
  if [[ "$ok" == "1" ]] && docker exec "$cid" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
    log "smoke run OK (PONG on 127.0.0.1:$port)"
    docker rm -f "$cid" >/dev/null 2>&1 || true
  else
    docker logs "$cid" >&2 2>&1 || true
    docker rm -f "$cid" >/dev/null 2>&1 || true
    docker image rm "$TAG" >/dev/null 2>&1 || true
    die "smoke run of $TAG failed; image removed"
  fi
fi
