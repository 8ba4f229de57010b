"""AI store contracts: knowledge base, message embeddings and token usage behave the same
on the memory twin and on every PostgreSQL: with pgvector (HNSW cosine search) where it is
installed and this CPU can run it - always on ``pgvector_pg``, a pgvector built for any
x86-64 CPU - and with the exact ``real[]`` scan of migration 0018
elsewhere - the machine's PostgreSQL 15 (no pgvector), and the embedded server on a CPU
without AVX-512 (its bundled pgvector would crash there; see
``adapters.postgres.vector_support``). Each backend says which it has, checked below."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from adapters.postgres.ai import Search, SqlaEmbeddingStore
from adapters.postgres.vector_support import cpu_lacks_avx512
from tests.contract.conftest import VECTOR_BACKENDS
from whatsapp_core.ai import AiUsage, KnowledgeSnippet
from whatsapp_core.domain.model import Contact, Conversation, Direction, Message
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import InvalidInput, NotFound
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize("uow_factory", VECTOR_BACKENDS, indirect=True),
]
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DIM = 384


@pytest.fixture
def expected_search(request: pytest.FixtureRequest) -> Search | None:
    """Which search each PostgreSQL backend is expected to get (None: the memory twin)."""
    backend = request.node.callspec.params["uow_factory"]
    if backend == "embedded_pg":
        return Search.EXACT if cpu_lacks_avx512() else Search.PGVECTOR_ITERATIVE
    if backend == "pgvector_pg":
        return Search.PGVECTOR_ITERATIVE
    return Search.EXACT if backend == "machine_pg" else None


def vec(*weights: float) -> list[float]:
    """A unit vector whose first components are ``weights``."""
    norm = math.sqrt(sum(w * w for w in weights))
    return [w / norm for w in weights] + [0.0] * (DIM - len(weights))


async def seeded(uow_factory: UnitOfWorkFactory, slug: str) -> tuple[Tenant, list[Message]]:
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    contact = Contact(id=uuid.uuid4(), tenant_id=t.id, name=slug, created_at=T0, updated_at=T0)
    conv = Conversation(
        id=uuid.uuid4(), tenant_id=t.id, contact_id=contact.id, last_message_at=T0, created_at=T0
    )
    messages = [
        Message(
            id=uuid.uuid4(), tenant_id=t.id, conversation_id=conv.id, contact_id=contact.id,
            direction=Direction.INBOUND, type="text", text=f"{slug} {i}",
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(3)
    ]  # fmt: skip
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.contacts.add(contact)
        await uow.conversations.add(conv)
        for m in messages:
            await uow.messages.add(m)
        await uow.commit()
    return t, messages


def snippet(t: Tenant, title: str, minutes: int = 0) -> KnowledgeSnippet:
    return KnowledgeSnippet(
        id=uuid.uuid4(),
        tenant_id=t.id,
        title=title,
        body=f"{title}: the answer",
        created_at=T0 + timedelta(minutes=minutes),
    )


async def test_every_backend_searches_and_says_how(
    uow_factory: UnitOfWorkFactory, expected_search: Search | None
) -> None:
    async with uow_factory() as uow:
        assert await uow.embeddings.supported()
        if expected_search is not None:
            assert isinstance(uow.embeddings, SqlaEmbeddingStore)
            assert await uow.embeddings.search() is expected_search


async def test_knowledge_crud_is_tenant_scoped(uow_factory: UnitOfWorkFactory) -> None:
    a, _ = await seeded(uow_factory, "acme")
    b, _ = await seeded(uow_factory, "globex")
    first, second, other = snippet(a, "Returns", 0), snippet(a, "Shipping", 1), snippet(b, "B")
    async with uow_factory() as uow:
        await uow.knowledge.add(first, vec(1, 0))
        await uow.knowledge.add(second, vec(0, 1))
        await uow.knowledge.add(other, vec(1, 0))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.knowledge.get(a.id, first.id) == first
        assert await uow.knowledge.list(a.id) == [second, first]  # newest first
        assert await uow.knowledge.list(a.id, limit=1) == [second]
        with pytest.raises(NotFound):
            await uow.knowledge.get(a.id, other.id)  # another tenant's looks absent
        edited = replace(first, title="Returns (30 days)", body="Within 30 days.")
        await uow.knowledge.update(edited, vec(1, 1))
        with pytest.raises(NotFound):
            await uow.knowledge.update(replace(other, tenant_id=a.id), vec(1, 0))
        await uow.knowledge.delete(a.id, second.id)
        with pytest.raises(NotFound):
            await uow.knowledge.delete(a.id, other.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.knowledge.list(a.id) == [edited]
        assert await uow.knowledge.list(b.id) == [other]


async def test_nothing_is_kept_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    a, _ = await seeded(uow_factory, "acme")
    async with uow_factory() as uow:
        await uow.knowledge.add(snippet(a, "Draft"), vec(1))
        await uow.ai_usage.add(usage(a, 10, T0))
    async with uow_factory() as uow:
        assert await uow.knowledge.list(a.id) == []
        assert await uow.ai_usage.tokens_since(a.id, T0) == 0


async def test_knowledge_search_ranks_by_cosine_within_the_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    a, _ = await seeded(uow_factory, "acme")
    b, _ = await seeded(uow_factory, "globex")
    near, mid, far = snippet(a, "near"), snippet(a, "mid"), snippet(a, "far")
    foreign = snippet(b, "foreign but identical")
    async with uow_factory() as uow:
        await uow.knowledge.add(near, vec(1, 0.1))
        await uow.knowledge.add(mid, vec(1, 1))
        await uow.knowledge.add(far, vec(0, 1))
        await uow.knowledge.add(foreign, vec(1, 0))
        await uow.commit()

    async with uow_factory() as uow:
        hits = await uow.knowledge.similar(a.id, vec(1, 0), limit=2)
    assert [h.snippet for h in hits] == [near, mid]
    assert hits[0].score == pytest.approx(1 / math.sqrt(1.01), abs=1e-4)
    assert hits[1].score == pytest.approx(1 / math.sqrt(2), abs=1e-4)


async def test_message_embeddings_upsert_and_search_within_the_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    a, (m1, m2, m3) = await seeded(uow_factory, "acme")
    b, (foreign, *_) = await seeded(uow_factory, "globex")
    async with uow_factory() as uow:
        await uow.embeddings.put(a.id, m1.id, vec(0, 1))
        await uow.embeddings.put(a.id, m1.id, vec(1, 0))  # replaced, not duplicated
        await uow.embeddings.put(a.id, m2.id, vec(1, 1))
        await uow.embeddings.put(a.id, m3.id, vec(0, 1))
        await uow.embeddings.put(b.id, foreign.id, vec(1, 0))
        await uow.commit()

    async with uow_factory() as uow:
        hits = await uow.embeddings.similar(a.id, vec(1, 0), limit=10)
    assert [h.message_id for h in hits] == [m1.id, m2.id, m3.id]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[2].score == pytest.approx(0.0, abs=1e-5)


async def test_scores_are_cosines_whatever_the_lengths(uow_factory: UnitOfWorkFactory) -> None:
    """Embedders need not return unit vectors; a zero vector (text with no tokens) scores 0,
    never NaN (pgvector's distance to it is NaN, and JSON has no NaN)."""
    a, (m1, m2, m3) = await seeded(uow_factory, "acme")
    long, diagonal = [3.0] + [0.0] * (DIM - 1), [0.5, 0.5] + [0.0] * (DIM - 2)
    async with uow_factory() as uow:
        await uow.embeddings.put(a.id, m1.id, long)
        await uow.embeddings.put(a.id, m2.id, diagonal)
        await uow.embeddings.put(a.id, m3.id, [0.0] * DIM)
        await uow.knowledge.add(snippet(a, "long"), long)
        await uow.commit()
    async with uow_factory() as uow:
        hits = await uow.embeddings.similar(a.id, [2.0] + [0.0] * (DIM - 1))
        assert [h.message_id for h in hits[:2]] == [m1.id, m2.id]
        assert [h.score for h in hits] == pytest.approx([1.0, 1 / math.sqrt(2), 0.0], abs=1e-5)
        zero = await uow.embeddings.similar(a.id, [0.0] * DIM)
        assert [h.score for h in zero] == [0.0, 0.0, 0.0]
        assert [h.score for h in await uow.knowledge.similar(a.id, [0.0] * DIM)] == [0.0]


async def test_the_exact_scan_reads_the_newest_rows_only(
    uow_factory: UnitOfWorkFactory, expected_search: Search | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pgvector the scan is bounded: the tenant's newest ``EXACT_SCAN_ROWS``."""
    if expected_search is not Search.EXACT:
        pytest.skip("only the exact scan is bounded; this backend searches an index")
    monkeypatch.setattr("adapters.postgres.ai.EXACT_SCAN_ROWS", 2)
    a, (oldest, middle, newest) = await seeded(uow_factory, "acme")
    old, mid, new = snippet(a, "old", 0), snippet(a, "mid", 1), snippet(a, "new", 2)
    async with uow_factory() as uow:
        await uow.embeddings.put(a.id, oldest.id, vec(1, 0))  # the best match, but too old
        await uow.embeddings.put(a.id, middle.id, vec(1, 1))
        await uow.embeddings.put(a.id, newest.id, vec(0, 1))
        for s, weights in ((old, (1, 0)), (mid, (1, 1)), (new, (0, 1))):
            await uow.knowledge.add(s, vec(*weights))
        await uow.commit()
    async with uow_factory() as uow:
        hits = await uow.embeddings.similar(a.id, vec(1, 0))
        found = await uow.knowledge.similar(a.id, vec(1, 0))
    assert [h.message_id for h in hits] == [middle.id, newest.id]
    assert [h.snippet.title for h in found] == ["mid", "new"]


async def test_wrong_dimensions_are_refused(uow_factory: UnitOfWorkFactory) -> None:
    a, _ = await seeded(uow_factory, "acme")
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput, match="384 dimensions"):
            await uow.knowledge.add(snippet(a, "x"), [1.0, 0.0])


def usage(t: Tenant, tokens: int, at: datetime) -> AiUsage:
    return AiUsage(
        tenant_id=t.id, provider="anthropic", model="claude-haiku-4-5", operation="classify",
        input_tokens=tokens, output_tokens=tokens // 2, at=at,
    )  # fmt: skip


async def test_token_usage_is_summed_per_tenant_since_a_date(
    uow_factory: UnitOfWorkFactory,
) -> None:
    a, _ = await seeded(uow_factory, "acme")
    b, _ = await seeded(uow_factory, "globex")
    async with uow_factory() as uow:
        await uow.ai_usage.add(usage(a, 100, T0 - timedelta(days=40)))
        await uow.ai_usage.add(usage(a, 10, T0))
        await uow.ai_usage.add(usage(a, 20, T0 + timedelta(days=1)))
        await uow.ai_usage.add(usage(b, 1000, T0))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ai_usage.tokens_since(a.id, T0) == 10 + 5 + 20 + 10
        assert await uow.ai_usage.tokens_since(b.id, T0) == 1500
        assert await uow.ai_usage.tokens_since(uuid.uuid4(), T0) == 0
