"""What a refused statement becomes: each constraint violation its own domain error, with
a message that names the constraint (or column) and never the value sent, which may be
a customer's personal data. Run on PostgreSQL 18 (embedded) and 15 (the machine's)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import translated_errors
from whatsapp_core.errors import Conflict, DomainError, InvalidInput, NotFound

pytestmark = pytest.mark.contract
SECRET = "s3cret-Maria-5511999"  # stands for a customer's data: must never be echoed


async def tenant(engine: AsyncEngine) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("INSERT INTO tenants (id, slug, name) VALUES (:id, :slug, 'T')"),
            {"id": tenant_id, "slug": f"t-{tenant_id.hex[:8]}"},
        )
    return tenant_id


async def refused(
    engine: AsyncEngine,
    statements: Sequence[str | sa.TextClause],
    params: dict[str, object],
    error: type[DomainError],
) -> str:
    """Run ``statements`` in one transaction; the last must fail as ``error``."""

    async def run() -> None:
        async with translated_errors(), engine.begin() as conn:
            for statement in statements:
                text = sa.text(statement) if isinstance(statement, str) else statement
                await conn.execute(text, params)

    with pytest.raises(DomainError) as caught:
        await run()
    assert type(caught.value) is error, caught.value
    message = str(caught.value)
    for leaked in (SECRET, *(str(v) for v in params.values())):
        assert leaked not in message, message
    return message


async def test_a_duplicate_is_a_conflict_naming_the_constraint(engine: AsyncEngine) -> None:
    insert = "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :slug, 'T')"
    message = await refused(engine, [insert, insert], {"slug": SECRET}, Conflict)
    assert message.startswith("already exists")
    assert "tenants_slug" in message


async def test_a_reference_to_nothing_is_not_found(engine: AsyncEngine) -> None:
    insert = (
        "INSERT INTO contacts (id, tenant_id, name, created_at, updated_at)"
        " VALUES (gen_random_uuid(), :ghost, :name, now(), now())"
    )
    ghost = uuid.uuid4()
    message = await refused(engine, [insert], {"ghost": ghost, "name": SECRET}, NotFound)
    assert "does not exist" in message
    assert "fk_contacts_tenant_id_tenants" in message


async def test_deleting_what_is_still_referred_to_is_a_conflict(engine: AsyncEngine) -> None:
    """Every foreign key of the schema cascades today; one that does not must refuse as
    "still in use", not "not found"."""
    statements = [
        "CREATE TEMP TABLE parent (id text PRIMARY KEY) ON COMMIT DROP",
        "CREATE TEMP TABLE child (parent_id text CONSTRAINT child_parent REFERENCES parent)"
        " ON COMMIT DROP",
        "INSERT INTO parent VALUES (:v)",
        "INSERT INTO child VALUES (:v)",
        "DELETE FROM parent WHERE id = :v",
    ]
    message = await refused(engine, statements, {"v": SECRET}, Conflict)
    assert message.startswith("still in use")
    assert "child_parent" in message


async def test_a_missing_required_value_names_the_column(engine: AsyncEngine) -> None:
    insert = "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :slug, NULL)"
    message = await refused(engine, [insert], {"slug": SECRET}, InvalidInput)
    assert "required value is missing" in message
    assert "tenants.name" in message


async def test_a_value_a_check_refuses_names_the_constraint(engine: AsyncEngine) -> None:
    tenant_id = await tenant(engine)
    insert = (
        "INSERT INTO outbox (id, tenant_id, kind, payload, created_at, state)"
        " VALUES (gen_random_uuid(), :t, 'k', '{}', now(), :state)"
    )
    message = await refused(engine, [insert], {"t": tenant_id, "state": SECRET}, InvalidInput)
    assert "not allowed" in message
    assert "ck_outbox_state" in message


@pytest.mark.parametrize(
    ("statement", "value", "says"),
    [
        # The server parses the text (22P02, 22003, 22008), not the driver.
        ("SELECT CAST(CAST(:v AS text) AS uuid)", SECRET, "not in the format"),
        ("SELECT CAST(CAST(:v AS text) AS integer)", "99999999999", "out of range"),
        ("SELECT CAST(CAST(:v AS text) AS date)", "2026-02-31", "date or time"),
        ("SELECT length(CAST(:v AS text))", f"{SECRET}\x00", "cannot be stored"),
    ],
)
async def test_a_value_the_database_cannot_take_is_invalid_input(
    engine: AsyncEngine, statement: str, value: str, says: str
) -> None:
    message = await refused(engine, [statement], {"v": value}, InvalidInput)
    assert message.startswith("the database refused a value sent")
    assert says in message


async def test_a_value_too_long_for_its_column(engine: AsyncEngine) -> None:
    statements = [
        "CREATE TEMP TABLE short (code varchar(3)) ON COMMIT DROP",
        "INSERT INTO short VALUES (:v)",
    ]
    message = await refused(engine, statements, {"v": SECRET}, InvalidInput)
    assert "too long" in message


async def test_a_value_the_driver_cannot_encode_is_invalid_input(engine: AsyncEngine) -> None:
    """asyncpg refuses it before the server sees it; its own message quotes the value."""
    statement = sa.text("SELECT :v").bindparams(sa.bindparam("v", type_=sa.Integer))
    message = await refused(engine, [statement], {"v": SECRET}, InvalidInput)
    assert "does not fit" in message
