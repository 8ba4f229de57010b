"""PostgreSQL stores for the AI: knowledge base, message embeddings, usage.

Each engine is checked once for the kind of ``embedding`` column it has
(``adapters.postgres.vector_support``, migration 0018):

- ``vector(384)`` (pgvector, usable): similarity is cosine (``<=>``, served by the HNSW
  ``vector_cosine_ops`` indexes); the score returned is ``1 - distance``. The tenant
  filter runs with the index scan, so on pgvector >= 0.8 the scan is iterative
  (``hnsw.iterative_scan``) and still finds ``limit`` rows when other tenants' vectors
  crowd the nearest candidates.
- ``real[]`` (no pgvector, or one this CPU cannot run): vectors are stored unit-length and
  searched by an exact scan that sums the products in SQL, over the tenant's newest
  ``EXACT_SCAN_ROWS`` rows (about 30 microseconds a row on the dev machine: 0.15 s for a
  full window, where HNSW answers in 1-2 ms; ``bench/ai_search.py``). Same contract, same
  scores; slower, and bounded: older rows are never found. The first store of a process
  to find that a database searches this way logs a warning saying why and the bound.

A database not yet migrated to 0018 may have neither; anything that needs a vector then
raises a clear ``UpstreamUnavailable``.
"""

from __future__ import annotations

import enum
import logging
import math
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.engine import Engine

from adapters.postgres import tables
from adapters.postgres.engine import translated_errors
from adapters.postgres.store_base import SqlaStore, from_row
from adapters.postgres.vector_support import bundled_pgvector_would_crash
from whatsapp_core.ai import AiUsage, KnowledgeHit, KnowledgeSnippet, SimilarMessage
from whatsapp_core.errors import InvalidInput, NotFound, UpstreamUnavailable

NOT_MIGRATED = (
    "semantic search needs the embeddings schema of migration 0018, which this database "
    "does not have yet: run `wa migrate upgrade`"
)
EXACT_SCAN_ROWS = 5000

log = logging.getLogger(__name__)

_VECTOR_SUPPORT = sa.text(
    "SELECT"
    " (SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
    "   WHERE attrelid = to_regclass('message_embeddings')"
    "   AND attname = 'embedding' AND NOT attisdropped),"
    " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
)
_ITERATIVE_SCAN = sa.text("SET LOCAL hnsw.iterative_scan = strict_order")


class Search(enum.Enum):
    PGVECTOR = "pgvector"  # vector(384) columns, HNSW cosine indexes
    PGVECTOR_ITERATIVE = "pgvector >= 0.8"  # the same, with iterative index scans
    EXACT = "exact"  # real[] columns, exact scan in SQL
    NONE = "none"  # not migrated to 0018


# Per engine (one database): which search it gets, once it has one.
_search: weakref.WeakKeyDictionary[Engine, Search] = weakref.WeakKeyDictionary()
_exact_scan_announced = False  # once per process, whatever the engines

_k = tables.knowledge_snippets
_e = tables.message_embeddings
_m = tables.messages
_SNIPPET_COLUMNS = (_k.c.id, _k.c.tenant_id, _k.c.title, _k.c.body, _k.c.created_at)
_insert_embedding = insert(_e)
_PUT = _insert_embedding.on_conflict_do_update(
    index_elements=[_e.c.message_id], set_={"embedding": _insert_embedding.excluded.embedding}
)
# The same tables seen with real[] columns (exact search).
_REAL_ARRAY = ARRAY(sa.REAL)
_k_exact = sa.table(
    "knowledge_snippets",
    *(sa.column(c.name, c.type) for c in _SNIPPET_COLUMNS),
    sa.column("embedding", _REAL_ARRAY),
)
_e_exact = sa.table(
    "message_embeddings",
    sa.column("message_id", _e.c.message_id.type),
    sa.column("tenant_id", _e.c.tenant_id.type),
    sa.column("embedding", _REAL_ARRAY),
)
_insert_exact = insert(_e_exact)
_PUT_EXACT = _insert_exact.on_conflict_do_update(
    index_elements=["message_id"], set_={"embedding": _insert_exact.excluded.embedding}
)


def _version(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (text or "0").split(".")[:2])
    except ValueError:
        return (0,)


def _search_for(engine: Engine, column_type: str | None, extversion: str | None) -> Search:
    if column_type == "real[]":
        return Search.EXACT
    if column_type is None or not column_type.startswith("vector"):
        return Search.NONE
    if bundled_pgvector_would_crash(engine, extversion):
        return Search.NONE  # migration 0018 turns these columns into real[]
    return Search.PGVECTOR_ITERATIVE if _version(extversion) >= (0, 8) else Search.PGVECTOR


def exact_scan_reason(engine: Engine, extversion: str | None) -> str:
    """Why a database with ``real[]`` embedding columns is searched by an exact scan."""
    if extversion is None:
        return "this PostgreSQL has no pgvector extension"
    if bundled_pgvector_would_crash(engine, extversion):
        return f"the embedded server's pgvector {extversion} needs AVX-512, which this CPU lacks"
    return (
        f"the embedding columns were made without pgvector (migration 0018), which "
        f"{extversion} does not change"
    )


def _announce_exact_scan(engine: Engine, extversion: str | None) -> None:
    global _exact_scan_announced
    if _exact_scan_announced:
        return
    _exact_scan_announced = True
    log.warning(
        "semantic search uses an exact scan, not pgvector's HNSW index: %s. Each search "
        "reads only the tenant's newest %d embedded rows (EXACT_SCAN_ROWS); older ones are "
        "never found.",
        exact_scan_reason(engine, extversion),
        EXACT_SCAN_ROWS,
    )


def _checked(embedding: Sequence[float]) -> list[float]:
    if len(embedding) != tables.EMBEDDING_DIMENSIONS:
        raise InvalidInput(
            f"an embedding has {tables.EMBEDDING_DIMENSIONS} dimensions, not {len(embedding)}",
            field="embedding",
        )
    return [float(x) for x in embedding]


def _unit(embedding: Sequence[float]) -> list[float]:
    """``embedding`` scaled to length 1 (a zero vector stays zero: its cosine is 0)."""
    vector = _checked(embedding)
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _exact_score(embedding: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """Cosine of two unit vectors: the sum of their products (0 when either is zero)."""
    q = sa.bindparam("q", type_=_REAL_ARRAY)
    pairs = sa.func.unnest(embedding, q).table_valued("a", "b").render_derived(name="pairs")
    dot = sa.func.coalesce(sa.func.sum(sa.cast(pairs.c.a, sa.Float) * pairs.c.b), 0.0)
    return sa.select(dot).scalar_subquery()


class _VectorStore(SqlaStore):
    async def search(self) -> Search:
        engine = self._conn.engine.sync_engine
        found = _search.get(engine)
        if found is None:
            async with translated_errors():
                await self._scope.enter(None)
                row = (await self._conn.execute(_VECTOR_SUPPORT)).one()
            found = _search_for(engine, row[0], row[1])
            if found is not Search.NONE:  # until migrated, look again each time
                _search[engine] = found
            if found is Search.EXACT:
                _announce_exact_scan(engine, row[1])
        return found

    async def supported(self) -> bool:
        return await self.search() is not Search.NONE

    async def _required(self) -> Search:
        search = await self.search()
        if search is Search.NONE:
            raise UpstreamUnavailable(NOT_MIGRATED, code="vector_search_unavailable")
        return search

    async def _nearest(
        self, tenant_id: uuid.UUID, query: sa.Select[Any], params: dict[str, Any]
    ) -> sa.CursorResult[Any]:
        if await self.search() is Search.PGVECTOR_ITERATIVE:
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
        search = await self.search()
        if search is Search.EXACT:
            row["embedding"] = _unit(embedding)
        elif search is not Search.NONE:
            row["embedding"] = _checked(embedding)
        else:
            _checked(embedding)
        return row

    async def _table(self) -> sa.TableClause:
        return _k_exact if await self.search() is Search.EXACT else _k

    async def add(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        row = await self._row(snippet, embedding)
        await self._execute(snippet.tenant_id, sa.insert(await self._table()).values(**row))

    async def update(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        row = await self._row(snippet, embedding)
        del row["id"], row["tenant_id"], row["created_at"]
        table = await self._table()
        statement = (
            sa.update(table)
            .where(table.c.tenant_id == snippet.tenant_id, table.c.id == snippet.id)
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
        if await self._required() is Search.EXACT:
            newest = (
                sa.select(*(_k_exact.c[c.name] for c in _SNIPPET_COLUMNS), _k_exact.c.embedding)
                .where(_k_exact.c.tenant_id == tenant_id, _k_exact.c.embedding.is_not(None))
                .order_by(_k_exact.c.created_at.desc())
                .limit(EXACT_SCAN_ROWS)
                .subquery()
            )
            score = _exact_score(newest.c.embedding).label("score")
            query: sa.Select[Any] = sa.select(
                *(newest.c[c.name] for c in _SNIPPET_COLUMNS), score
            ).order_by(score.desc())
            params = {"q": _unit(embedding)}
        else:
            distance = _k.c.embedding.cosine_distance(sa.bindparam("q", type_=_k.c.embedding.type))
            score = (1 - distance).label("score")
            query = (
                sa.select(*_SNIPPET_COLUMNS, score)
                .where(_k.c.tenant_id == tenant_id, _k.c.embedding.is_not(None))
                .order_by(distance)  # the HNSW index's order
            )
            params = {"q": _checked(embedding)}
        rows = await self._nearest(tenant_id, query.limit(limit), params)
        hits = []
        for row in rows:
            values = dict(row._mapping)
            score_value = _score(values.pop("score"))
            hits.append(
                KnowledgeHit(
                    snippet=KnowledgeSnippet(**{str(k): v for k, v in values.items()}),
                    score=score_value,
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
        exact = await self._required() is Search.EXACT
        params = {
            "message_id": message_id,
            "tenant_id": tenant_id,
            "embedding": _unit(embedding) if exact else _checked(embedding),
        }
        await self._execute(tenant_id, _PUT_EXACT if exact else self._put, params)

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 10
    ) -> list[SimilarMessage]:
        if await self._required() is Search.EXACT:
            # The tenant's newest embedded messages (ix_messages_tenant_created, backwards).
            newest = (
                sa.select(_e_exact.c.message_id, _e_exact.c.embedding)
                .join(_m, _m.c.id == _e_exact.c.message_id)
                .where(_m.c.tenant_id == tenant_id, _e_exact.c.tenant_id == tenant_id)
                .order_by(_m.c.created_at.desc())
                .limit(EXACT_SCAN_ROWS)
                .subquery()
            )
            score = _exact_score(newest.c.embedding).label("score")
            query = sa.select(newest.c.message_id, score).order_by(score.desc())
            params = {"q": _unit(embedding)}
        else:
            distance = _e.c.embedding.cosine_distance(sa.bindparam("q", type_=_e.c.embedding.type))
            score = (1 - distance).label("score")
            query = (
                sa.select(_e.c.message_id, score)
                .where(_e.c.tenant_id == tenant_id)
                .order_by(distance)  # the HNSW index's order
            )
            params = {"q": _checked(embedding)}
        rows = await self._nearest(tenant_id, query.limit(limit), params)
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
