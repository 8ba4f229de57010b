"""The application connecting as a non-owner role (issue 5): a LOGIN role that is a
member of ``wa_app``, not the tables' owner, without BYPASSRLS. Row-level security then
binds the session itself: no ``SET LOCAL ROLE`` is sent, and SQL that got in cannot lift
the tenant wall (``RESET ROLE``, ``SET ROLE`` to the owner) or change the owner's tables.

Roles are cluster-wide, so each test makes its own (and drops it): the machine's
PostgreSQL 15 is shared by every test run on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres.engine import create_engine, translated_errors, with_user
from adapters.postgres.outbox import SqlaOutboxRelay
from adapters.postgres.roles import INHERIT_PER_GRANT, ensure_app_login, inspect_login
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.domain.model import Contact, Conversation, Direction, Message, OutboxJob
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Forbidden

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COUNT_MESSAGES = sa.text("SELECT count(*) FROM messages")


@dataclass
class Db:
    owner: AsyncEngine  # the migrating superuser, as tests/support/databases logs in
    app: AsyncEngine  # the restricted login
    role: str
    owner_role: str
    server_version: int

    @property
    def uow(self) -> SqlaUnitOfWorkFactory:
        return SqlaUnitOfWorkFactory(self.app, enforce_rls=False)


@pytest.fixture(params=["embedded_pg", "machine_pg"])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Db]:
    admin_url = request.getfixturevalue(request.param)
    role = f"wa_test_login_{uuid.uuid4().hex[:8]}"
    try:
        async with fresh_database(admin_url) as url:
            owner = create_engine(url, pool_size=1)
            await ensure_app_login(owner, role)
            app = create_engine(with_user(url, role), pool_size=2)
            async with owner.connect() as conn:
                owner_role = str((await conn.execute(sa.text("SELECT current_user"))).scalar())
                version = (await conn.execute(sa.text("SHOW server_version_num"))).scalar()
            try:
                yield Db(owner, app, role, owner_role, int(str(version)))
            finally:
                await app.dispose()
                await owner.dispose()
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


async def seed(db: Db, slug: str, messages: int) -> Tenant:
    """Written through the restricted login itself, as the application writes."""
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    contact = Contact(id=uuid.uuid4(), tenant_id=t.id, name=slug, created_at=T0, updated_at=T0)
    conv = Conversation(
        id=uuid.uuid4(), tenant_id=t.id, contact_id=contact.id, last_message_at=T0, created_at=T0
    )
    async with db.uow() as uow:
        await uow.tenants.add(t)
        await uow.contacts.add(contact)
        await uow.conversations.add(conv)
        for i in range(messages):
            await uow.messages.add(
                Message(
                    id=uuid.uuid4(), tenant_id=t.id, conversation_id=conv.id,
                    contact_id=contact.id, direction=Direction.INBOUND, type="text",
                    text=f"{slug} {i}", wamid=f"wamid.{slug}.{i}", created_at=T0,
                )
            )  # fmt: skip
        await uow.outbox.add(
            OutboxJob(
                id=uuid.uuid4(), tenant_id=t.id, kind="ai.classify", payload={}, created_at=T0
            )
        )
        await uow.commit()
    return t


async def refused(conn: AsyncConnection, sql: str) -> Forbidden:
    with pytest.raises(Forbidden) as caught:
        async with translated_errors():
            await conn.execute(sa.text(sql))
    return caught.value


def sent_statements(engine: AsyncEngine) -> list[str]:
    sent: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _sent(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    return sent


async def test_the_login_is_bound_by_rls_and_the_owner_is_not(db: Db) -> None:
    login = await inspect_login(db.app)
    assert login.name == db.role
    assert login.bound_by_rls
    assert login.problem() is None
    owner = await inspect_login(db.owner)
    assert not owner.bound_by_rls
    assert owner.problem() == f"{db.owner_role} is a superuser"


async def test_raw_sql_without_a_tenant_filter_sees_only_the_current_tenant(db: Db) -> None:
    a, b = await seed(db, "alpha", 3), await seed(db, "beta", 2)
    sent = sent_statements(db.app)
    async with db.uow() as uow:
        conn = await uow.connection()
        assert (await conn.execute(COUNT_MESSAGES)).scalar_one() == 0  # no scope, no rows
        await uow.scope_to(a.id)
        assert (await conn.execute(COUNT_MESSAGES)).scalar_one() == 3
        tenants = await conn.execute(sa.text("SELECT DISTINCT tenant_id FROM outbox"))
        assert tenants.scalars().all() == [a.id]
        await uow.scope_to(b.id)
        assert (await conn.execute(COUNT_MESSAGES)).scalar_one() == 2
        assert (await conn.execute(sa.text("SELECT current_user"))).scalar() == db.role
    assert not [s for s in sent if "role" in s.lower()], "no SET ROLE is needed"


async def test_reset_role_and_set_role_cannot_lift_the_wall(db: Db) -> None:
    a = await seed(db, "alpha", 3)
    await seed(db, "beta", 2)
    async with db.uow() as uow:
        await uow.scope_to(a.id)
        conn = await uow.connection()
        # RESET ROLE is allowed, and changes nothing: the session user is the login.
        await conn.execute(sa.text("RESET ROLE"))
        assert (await conn.execute(COUNT_MESSAGES)).scalar_one() == 3
        await refused(conn, f'SET ROLE "{db.owner_role}"')
    async with db.uow() as uow:
        await refused(await uow.connection(), f'SET SESSION AUTHORIZATION "{db.owner_role}"')
    async with db.uow() as uow:
        # Switching the tenant setting is possible, which is why stores always set it:
        # it shows that tenant's rows, never two tenants' at once, never an unscoped view.
        conn = await uow.connection()
        await conn.execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))
        assert (await conn.execute(COUNT_MESSAGES)).scalar_one() == 0


async def test_the_owners_tables_cannot_be_altered(db: Db) -> None:
    for sql in (
        "ALTER TABLE messages DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE messages NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON messages",
        "CREATE POLICY open_door ON messages USING (true)",
        "ALTER TABLE messages ADD COLUMN leak text",
        "DROP TABLE messages",
        "TRUNCATE messages",
        f'ALTER TABLE messages OWNER TO "{db.role}"',
        "CREATE TABLE scratch (id int)",
    ):
        async with db.uow() as uow:
            await refused(await uow.connection(), sql)
    async with db.owner.connect() as conn:  # all still in place
        rls = await conn.execute(
            sa.text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE oid = 'messages'::regclass"
            )
        )
        assert rls.one() == (True, True)


async def test_the_relay_still_reaches_every_tenants_jobs(db: Db) -> None:
    """The relay (``SET LOCAL ROLE wa_relay``) works for the login on PostgreSQL 16+,
    where it holds that role WITHOUT inheriting it: outside the relay's transactions
    its every-tenant policy does not apply."""
    if db.server_version < INHERIT_PER_GRANT:
        pytest.skip("PostgreSQL 15 cannot grant a role without inheriting it: no relay role")
    a, b = await seed(db, "alpha", 0), await seed(db, "beta", 0)
    claimed = await SqlaOutboxRelay(db.app).claim(
        10, now=T0 + timedelta(days=1), lease=timedelta(minutes=1)
    )
    assert {job.tenant_id for job in claimed} == {a.id, b.id}
    async with db.uow() as uow:  # back in the application's transactions: one tenant
        await uow.scope_to(a.id)
        jobs = await (await uow.connection()).execute(sa.text("SELECT count(*) FROM outbox"))
        assert jobs.scalar_one() == 1
