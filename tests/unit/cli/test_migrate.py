"""`wa migrate`'s answers that need no database: what a revision may be, and the one
line a wrong one gets (tests/integration/test_serve.py moves a real schema)."""

from __future__ import annotations

import pytest
from alembic.util import CommandError

from adapters.postgres import migrate
from entrypoints.cli.migrate import _check_direction, describe
from whatsapp_core.errors import InvalidInput

pytestmark = pytest.mark.unit


def test_revisions_run_oldest_first_to_head() -> None:
    every = migrate.revisions()
    assert every[0] == "0001"
    assert every[-1] == migrate.head()
    assert every == sorted(every)
    assert migrate.known_revisions().startswith(f"0001…{every[-1]}, base, head")


def test_an_unknown_revision_is_invalid_input_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info, migrate._refused("nonsense"):
        raise CommandError("Can't locate revision identified by 'nonsense'")
    assert info.value.message == (
        f"unknown revision 'nonsense' (known: {migrate.known_revisions()})"
    )
    with (
        pytest.raises(InvalidInput, match="cannot migrate to '-1': Relative revision"),
        migrate._refused("-1"),
    ):
        raise CommandError("Relative revision -1 didn't produce 1 migrations")


@pytest.mark.parametrize(
    ("direction", "revision", "before", "needle"),
    [
        ("upgrade", "0003", "0005", "0003 is older than the schema (0005): `wa migrate downgrade"),
        ("downgrade", "0010", "0005", "0010 is newer than the schema (0005): `wa migrate upgrade"),
        ("downgrade", "0002", None, "the schema is already empty (base)"),
        ("downgrade", "-1", None, "the schema is already empty (base)"),
    ],
)
def test_a_move_the_wrong_way_names_the_command(
    direction: str, revision: str, before: str | None, needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _check_direction(direction, revision, before)


@pytest.mark.parametrize(
    ("direction", "revision", "before"),
    [("upgrade", "0005", None), ("upgrade", "head", "0003"), ("downgrade", "-1", "0004"),
     ("downgrade", "base", "0004"), ("upgrade", "0004", "0004")],
)  # fmt: skip
def test_moves_alembic_can_make_pass(direction: str, revision: str, before: str | None) -> None:
    _check_direction(direction, revision, before)


def test_describe() -> None:
    assert describe(None, "0019") == "schema is empty (base)"
    assert describe("0005", "0019") == "schema at revision 0005"
    assert describe("0019", "0019") == "schema at revision 0019 (head)"
