#!/usr/bin/env bash
# Start a Docker engine for the real-Redis test suites if none is reachable.
#
# - If `docker info` already works, nothing is done (and no pidfile is written,
#   so stop-docker.sh will not touch a daemon we did not start).
# - Otherwise dockerd is started in the background with no bridge network and no
#   iptables/masquerading (containers are run with --network host, on loopback),
#   its PID is written to $DOCKERD_PIDFILE (default /tmp/token-usage-dockerd.pid)
#   and we wait up to $DOCKERD_WAIT_SECONDS (default 60) for `docker info`.
#
# Exit status: 0 when a Docker engine is reachable at the end, non-zero otherwise.
set -euo pipefail

PIDFILE="${DOCKERD_PIDFILE:-/tmp/token-usage-dockerd.pid}"
LOGFILE="${DOCKERD_LOGFILE:-/tmp/token-usage-dockerd.log}"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

if ! command -v docker >/dev/null 2>&1; then
  echo "[start-docker] docker CLI not found on PATH" >&2
  exit 1
fi

if docker info >/dev/null 2>&1; then
  echo "[start-docker] Docker engine already reachable; not starting dockerd"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "[start-docker] dockerd not found on PATH and no Docker engine is reachable" >&2
  exit 1
fi

# A stale pidfile from a previous run: only reuse it if that process is still dockerd.
if [[ -f "$PIDFILE" ]]; then
  old_pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [[ -n "$old_pid" ]] && kill -0 "$old_pid" 2>/dev/null \
     && [[ "$(cat "/proc/$old_pid/comm" 2>/dev/null || true)" == "dockerd" ]]; then
    echo "[start-docker] dockerd from a previous run (PID $old_pid) is still alive; waiting for it"
  else
    rm -f "$PIDFILE"
  fi
fi

if [[ ! -f "$PIDFILE" ]]; then
  echo "[start-docker] starting dockerd (log: $LOGFILE, pidfile: $PIDFILE)"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    </dev/null >"$LOGFILE" 2>&1 &
  echo "$!" >"$PIDFILE"
fi
pid="$(cat "$PIDFILE")"

for ((i = 0; i < WAIT_SECONDS; i++)); do
  if docker info >/dev/null 2>&1; then
    echo "[start-docker] Docker engine ready (dockerd PID $pid, pidfile $PIDFILE)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "[start-docker] dockerd (PID $pid) exited early; last log lines:" >&2
    tail -n 20 "$LOGFILE" >&2 || true
    rm -f "$PIDFILE"
    exit 1
  fi
  sleep 1
done

echo "[start-docker] Docker engine not ready after ${WAIT_SECONDS}s; last log lines:" >&2
tail -n 20 "$LOGFILE" >&2 || true
exit 1
