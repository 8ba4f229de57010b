#!/usr/bin/env bash
# Make sure the services the tests talk to are up: Redis at 127.0.0.1:6379.
# The embedded PostgreSQL is started by the tests themselves.
set -euo pipefail
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG) 2>/dev/null; }
if ! redis_up; then
  if command -v redis-server >/dev/null; then
    mkdir -p /tmp/wa-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/wa-redis --logfile /tmp/wa-redis/redis.log
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
  redis_up || { echo "services: Redis is not reachable at 127.0.0.1:6379 and redis-server is not installed" >&2; exit 1; }
fi
