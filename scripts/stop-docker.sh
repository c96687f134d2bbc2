#!/usr/bin/env bash
# Stop the dockerd that scripts/start-docker.sh started (identified by the PID in
# $DOCKERD_PIDFILE, default /tmp/token-usage-dockerd.pid). Does nothing when there
# is no pidfile, i.e. when the engine was already running before we were called.
set -euo pipefail

PIDFILE="${DOCKERD_PIDFILE:-/tmp/token-usage-dockerd.pid}"
WAIT_SECONDS="${DOCKERD_STOP_WAIT_SECONDS:-20}"

if [[ ! -f "$PIDFILE" ]]; then
  echo "[stop-docker] no pidfile at $PIDFILE; not stopping anything"
  exit 0
fi

pid="$(cat "$PIDFILE" 2>/dev/null || true)"
if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
  echo "[stop-docker] dockerd (PID ${pid:-?}) is not running"
  rm -f "$PIDFILE"
  exit 0
fi
if [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != "dockerd" ]]; then
  echo "[stop-docker] PID $pid is not dockerd; refusing to kill it" >&2
  rm -f "$PIDFILE"
  exit 0
fi

echo "[stop-docker] stopping dockerd (PID $pid)"
kill -TERM "$pid" 2>/dev/null || true
for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  echo "[stop-docker] dockerd did not exit after ${WAIT_SECONDS}s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$PIDFILE"
echo "[stop-docker] dockerd stopped"
