#!/usr/bin/env bash
# A local Redis Cluster for development: 3 masters + 3 replicas of the redis-server binary on
# 127.0.0.1, AOF on, each node's data and log in DIR/<port>/.
#
#   scripts/redis-cluster.sh start DIR   # ports BASE_PORT..BASE_PORT+5 (BASE_PORT default 7000)
#   scripts/redis-cluster.sh stop DIR    # stops the nodes by the PIDs in DIR/<port>/redis.pid
#
# Then: REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001 TOKEN_STATS_HASH_TAGS=true npm run demo
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2
base=${BASE_PORT:-7000}
ports=$(seq "$base" $((base + 5)))

case "$action" in
  start)
    mkdir -p "$dir"
    for port in $ports; do
      mkdir -p "$dir/$port"
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --daemonize yes \
        --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
        --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 5000 \
        --appendonly yes --cluster-announce-ip 127.0.0.1
    done
    for port in $ports; do
      until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
    done
    if [ "$(redis-cli -p "$base" cluster info | tr -d '\r' | grep cluster_known_nodes)" != "cluster_known_nodes:6" ]; then
      # shellcheck disable=SC2046
      redis-cli --cluster create $(for port in $ports; do printf '127.0.0.1:%s ' "$port"; done) \
        --cluster-replicas 1 --cluster-yes
    fi
    until redis-cli -p "$base" cluster info | tr -d '\r' | grep -q '^cluster_state:ok$'; do sleep 0.2; done
    echo "Redis Cluster up on 127.0.0.1:$base-$((base + 5)) (data in $dir)"
    ;;
  stop)
    for port in $ports; do
      pidfile="$dir/$port/redis.pid"
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    echo "stopped the cluster in $dir"
    ;;
  *) usage ;;
esac
