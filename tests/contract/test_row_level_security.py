"""Row-level security, the second wall: raw SQL that forgets its tenant filter still only
sees (and may only write) the rows of the tenant the transaction is scoped to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import create_engine, translated_errors
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.domain.accounts import ApiKey, Invitation, RefreshToken, User
from whatsapp_core.domain.model import Contact, Conversation, Direction, Message
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Forbidden, StorageError
from whatsapp_core.policies.access import Role

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COUNT_MESSAGES = sa.text("SELECT count(*) FROM messages")
ACCOUNT_TABLES = ("users", "api_keys", "refresh_tokens", "invitations")


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> SqlaUnitOfWorkFactory:
    """The default: every transaction runs as ``wa_app`` although tests log in as a
    superuser, who would otherwise bypass row-level security."""
    return SqlaUnitOfWorkFactory(engine)


async def seed(uow_factory: SqlaUnitOfWorkFactory, slug: str, messages: int) -> Tenant:
    """A tenant with one contact, one conversation and ``messages`` messages."""
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    contact = Contact(id=uuid.uuid4(), tenant_id=t.id, name=slug, created_at=T0, updated_at=T0)
    conv = Conversation(
        id=uuid.uuid4(), tenant_id=t.id, contact_id=contact.id, last_message_at=T0, created_at=T0
    )
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.contacts.add(contact)
        await uow.conversations.add(conv)
        for i in range(messages):
            await uow.messages.add(
                Message(
                    id=uuid.uuid4(),
                    tenant_id=t.id,
                    conversation_id=conv.id,
                    contact_id=contact.id,
                    direction=Direction.INBOUND,
                    type="text",
                    text=f"{slug} {i}",
                    wamid=f"wamid.{slug}.{i}",
                    created_at=T0,
                )
            )
        await uow.commit()
    return t


async def test_unfiltered_select_sees_only_the_scoped_tenant(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    a, b = await seed(uow_factory, "alpha", 3), await seed(uow_factory, "beta", 2)
    async with uow_factory() as uow:
        await uow.scope_to(a.id)
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 3
        tenants = await (await uow.connection()).execute(
            sa.text("SELECT DISTINCT tenant_id FROM messages")
        )
        assert tenants.scalars().all() == [a.id]
        # A store call for another tenant switches the scope; raw SQL follows it.
        assert await uow.contacts.search(b.id) != []
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 2
        await uow.conversations.list(a.id)
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 3


async def test_without_a_scope_no_tenant_row_is_visible(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    a = await seed(uow_factory, "alpha", 3)
    async with uow_factory() as uow:
        for table in ("messages", "conversations", "contacts", "outbox", "audit_log"):
            count = await (await uow.connection()).execute(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
            assert count.scalar_one() == 0, table
        # The tenants table is no tenant's: webhooks find their tenant before any scope.
        assert await uow.tenants.by_phone_number_id("none") is None
        assert [t.id for t in await uow.tenants.list()] == [a.id]


async def test_a_row_for_another_tenant_is_refused_as_a_domain_error(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    a, b = await seed(uow_factory, "alpha", 1), await seed(uow_factory, "beta", 1)
    insert_for_b = sa.text(
        "INSERT INTO contacts (id, tenant_id, name, created_at, updated_at)"
        " VALUES (:id, :tenant_id, 'intruder', now(), now())"
    )
    async with uow_factory() as uow:
        await uow.scope_to(a.id)
        with pytest.raises(Forbidden, match="row-level security"):
            async with translated_errors():
                await (await uow.connection()).execute(
                    insert_for_b, {"id": uuid.uuid4(), "tenant_id": b.id}
                )
    async with uow_factory() as uow:
        await uow.scope_to(a.id)
        move_to_b = sa.text("UPDATE contacts SET tenant_id = :b")
        with pytest.raises(Forbidden, match="row-level security"):
            async with translated_errors():
                await (await uow.connection()).execute(move_to_b, {"b": b.id})
    async with uow_factory() as uow:
        assert [c.name for c in await uow.contacts.search(b.id)] == ["beta"]
        assert [c.name for c in await uow.contacts.search(a.id)] == ["alpha"]


async def test_work_after_a_commit_stays_behind_the_wall(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    a, b = await seed(uow_factory, "alpha", 3), await seed(uow_factory, "beta", 2)
    async with uow_factory() as uow:
        await uow.scope_to(a.id)
        await uow.commit()
        # A new transaction: role and scope are set again by the next store call.
        assert await uow.conversations.list(b.id) != []
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 2
        await uow.contacts.add(
            Contact(id=uuid.uuid4(), tenant_id=a.id, name="later", created_at=T0, updated_at=T0)
        )
        await uow.commit()
        # Raw SQL first thing in a new transaction: the role is set, no tenant is.
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 0
    async with uow_factory() as uow:
        assert len(await uow.contacts.search(a.id)) == 2


async def test_the_wall_can_be_lowered_only_on_purpose(
    uow_factory: SqlaUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    """``enforce_rls=False`` with a superuser login (as in these tests) reads everything:
    the way a cross-tenant job like a report does it, never the request path."""
    await seed(uow_factory, "alpha", 3)
    await seed(uow_factory, "beta", 2)
    unguarded = SqlaUnitOfWorkFactory(engine, enforce_rls=False)
    async with unguarded() as uow:
        assert (await (await uow.connection()).execute(COUNT_MESSAGES)).scalar_one() == 5


async def test_a_pool_with_no_connection_free_is_a_storage_error_not_a_crash(
    embedded_pg: str,
) -> None:
    """Under a burst (e.g. hundreds of webhooks at once) every connection may be taken:
    the caller gets ``StorageError`` (the API answers 503), it was a 500 before."""
    async with fresh_database(embedded_pg) as url:
        engine = create_engine(url, pool_size=1, pool_timeout=0.3)
        uow = SqlaUnitOfWorkFactory(engine)
        try:
            async with uow(), uow():  # the pool's one connection and its one overflow
                with pytest.raises(StorageError, match="busy"):
                    async with uow():
                        pass
            async with uow() as free_again:  # nothing leaked: usable again
                assert await free_again.tenants.list() == []
        finally:
            await engine.dispose()


class Accounts:
    """One of everything the account tables hold, for one tenant (keys named after it)."""

    def __init__(self, tenant: Tenant) -> None:
        slug, t = tenant.slug, tenant.id
        self.user = User(
            id=uuid.uuid4(), tenant_id=t, email=f"ann@{slug}.test", name="Ann", role=Role.ADMIN,
            password_hash="$argon2id$fake", created_at=T0,
        )  # fmt: skip
        self.api_key = ApiKey(
            id=uuid.uuid4(), tenant_id=t, name="n8n", prefix=f"p-{slug}", secret_hash="x" * 64,
            scopes=("template.read",), created_at=T0,
        )  # fmt: skip
        self.refresh_token = RefreshToken(
            id=uuid.uuid4(), tenant_id=t, user_id=self.user.id, family_id=uuid.uuid4(),
            token_hash=f"refresh-{slug}", created_at=T0, expires_at=T0 + timedelta(days=30),
        )  # fmt: skip
        self.invitation = Invitation(
            id=uuid.uuid4(), tenant_id=t, email=f"bob@{slug}.test", role=Role.AGENT,
            token_hash=f"invite-{slug}", invited_by=self.user.id, created_at=T0,
            expires_at=T0 + timedelta(days=7),
        )  # fmt: skip

    async def save(self, uow_factory: SqlaUnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.users.add(self.user)
            await uow.api_keys.add(self.api_key)
            await uow.refresh_tokens.add(self.refresh_token)
            await uow.invitations.add(self.invitation)
            await uow.commit()


async def seed_accounts(uow_factory: SqlaUnitOfWorkFactory, slug: str) -> Accounts:
    accounts = Accounts(await seed(uow_factory, slug, 0))
    await accounts.save(uow_factory)
    return accounts


async def test_account_tables_show_only_the_scoped_tenant(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    """Users, API keys, refresh tokens and invitations are tenant rows like any other
    (migration 0019): raw SQL without a filter sees the scoped tenant's, or none."""
    a, b = await seed_accounts(uow_factory, "alpha"), await seed_accounts(uow_factory, "beta")
    a_id = a.user.tenant_id
    async with uow_factory() as uow:
        for table in ACCOUNT_TABLES:
            rows = await (await uow.connection()).execute(sa.text(f"SELECT id FROM {table}"))  # noqa: S608
            assert rows.scalars().all() == [], table
        await uow.scope_to(a_id)
        for table in ACCOUNT_TABLES:
            rows = await (await uow.connection()).execute(
                sa.text(f"SELECT DISTINCT tenant_id FROM {table}")  # noqa: S608
            )
            assert rows.scalars().all() == [a_id], table
        # Not even by its key: the pre-tenant lookups go through the functions only.
        by_email = sa.text("SELECT count(*) FROM users WHERE email = :e")
        assert (
            await (await uow.connection()).execute(by_email, {"e": b.user.email})
        ).scalar_one() == 0
    async with uow_factory() as uow:
        await uow.scope_to(a_id)
        steal = sa.text("UPDATE users SET tenant_id = :b")
        with pytest.raises(Forbidden, match="row-level security"):
            async with translated_errors():
                await (await uow.connection()).execute(steal, {"b": b.user.tenant_id})
    async with uow_factory() as uow:
        await uow.scope_to(a_id)
        foreign_key = sa.text(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at)"
            " VALUES (:id, :t, 'intruder', 'p-intruder', 'x', '{}', now())"
        )
        with pytest.raises(Forbidden, match="row-level security"):
            async with translated_errors():
                await (await uow.connection()).execute(
                    foreign_key, {"id": uuid.uuid4(), "t": b.user.tenant_id}
                )


async def test_pre_tenant_lookups_return_only_the_keyed_row(
    uow_factory: SqlaUnitOfWorkFactory,
) -> None:
    """Sign-in, API keys, refresh and invitation links find their row before any tenant
    is known: each SECURITY DEFINER function returns the one row with its key, whatever
    the scope, and nothing for any other key."""
    a, b = await seed_accounts(uow_factory, "alpha"), await seed_accounts(uow_factory, "beta")
    lookups = {
        "wa_auth_user_by_email": (b.user.email, b.user.id),
        "wa_auth_api_key": (b.api_key.prefix, b.api_key.id),
        "wa_auth_refresh_token": (b.refresh_token.token_hash, b.refresh_token.id),
        "wa_auth_invitation": (b.invitation.token_hash, b.invitation.id),
    }
    async with uow_factory() as uow:
        await uow.scope_to(a.user.tenant_id)  # another tenant's scope changes nothing
        conn = await uow.connection()
        for function, (key, row_id) in lookups.items():
            found = await conn.execute(sa.text(f"SELECT id FROM {function}(:key)"), {"key": key})  # noqa: S608
            assert found.scalars().all() == [row_id], function
            for other in ("", "%", "nope", key.upper()):
                missing = await conn.execute(
                    sa.text(f"SELECT count(*) FROM {function}(:key)"),  # noqa: S608
                    {"key": other},
                )
                assert missing.scalar_one() == 0, (function, other)
        tenant_of = {
            "wa_auth_user_tenant": b.user.id,
            "wa_auth_refresh_family_tenant": b.refresh_token.family_id,
        }
        for function, key in tenant_of.items():
            query = sa.text(f"SELECT {function}(:key)")
            assert (await conn.execute(query, {"key": key})).scalar() == b.user.tenant_id
            assert (await conn.execute(query, {"key": uuid.uuid4()})).scalar() is None
        # Still only those rows: the rest of the tables stays behind the wall.
        assert (await conn.execute(sa.text("SELECT count(*) FROM users"))).scalar_one() == 1


async def test_only_the_app_role_may_call_the_lookups_and_they_cannot_write(
    engine: AsyncEngine,
) -> None:
    """The functions run as ``wa_auth``: neither a superuser nor able to bypass RLS, so
    the lookups above found their rows through its read-only ``auth_lookup`` policy."""
    async with engine.connect() as conn:
        owner = await conn.execute(
            sa.text(
                "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'wa_auth'"
            )
        )
        assert tuple(owner.one()) == (False, False, False)
        for table in ACCOUNT_TABLES:
            for privilege in ("INSERT", "UPDATE", "DELETE"):
                may = sa.text("SELECT has_table_privilege('wa_auth', :t, :p)")
                assert (await conn.execute(may, {"t": table, "p": privilege})).scalar() is False
        await conn.execute(sa.text("SET LOCAL ROLE wa_relay"))
        with pytest.raises(Forbidden, match="permission denied"):
            async with translated_errors():
                await conn.execute(sa.text("SELECT * FROM wa_auth_user_by_email('x')"))
