"""Contacts on memory adapters: create/edit, search, and the import report."""

from __future__ import annotations

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput
from whatsapp_core.policies.access import Role
from whatsapp_core.services.contacts import (
    ContactFields,
    create_contact,
    import_contacts,
    list_contacts,
    update_contact,
)

pytestmark = pytest.mark.unit


async def test_create_normalises_the_phone_and_refuses_a_duplicate(h: Harness) -> None:
    agent = h.as_(Role.AGENT)
    ana = await create_contact(
        h.svc, agent, ContactFields(name="Ana", phone="+55 (11) 99999-9999", tags=("VIP", " vip "))
    )
    assert (ana.wa_id, ana.tags) == ("5511999999999", ("vip",))
    before = h.snapshot()
    with pytest.raises(Conflict) as info:
        await create_contact(h.svc, agent, ContactFields(name="Other", phone="5511999999999"))
    assert info.value.details["contact_id"] == str(ana.id)
    assert h.snapshot() == before
    assert [c.name for c in await list_contacts(h.svc, h.as_(Role.VIEWER), "ana")] == ["Ana"]


@pytest.mark.parametrize(
    "fields",
    [ContactFields(name="No ids"), ContactFields(phone="12"), ContactFields(bsuid="not a bsuid")],
)
async def test_bad_identifiers_are_refused(h: Harness, fields: ContactFields) -> None:
    before = h.snapshot()
    with pytest.raises(InvalidInput):
        await create_contact(h.svc, h.as_(Role.AGENT), fields)
    assert h.snapshot() == before


async def test_a_viewer_cannot_write(h: Harness) -> None:
    ana = await create_contact(h.svc, h.as_(Role.AGENT), ContactFields(phone="5511999999999"))
    before = h.snapshot()
    viewer = h.as_(Role.VIEWER)
    with pytest.raises(Forbidden):
        await create_contact(h.svc, viewer, ContactFields(phone="5511988887777"))
    with pytest.raises(Forbidden):
        await update_contact(h.svc, viewer, ana.id, ContactFields(name="Renamed"))
    assert h.snapshot() == before


async def test_update_merges_attributes_and_keeps_identity(h: Harness) -> None:
    agent = h.as_(Role.AGENT)
    ana = await create_contact(
        h.svc, agent, ContactFields(name="Ana", phone="5511999999999", attributes={"plan": "gold"})
    )
    updated = await update_contact(
        h.svc, agent, ana.id, ContactFields(name="Ana Souza", attributes={"city": "SP"})
    )
    assert (updated.name, updated.wa_id) == ("Ana Souza", "5511999999999")
    assert updated.attributes == {"plan": "gold", "city": "SP"}


async def test_import_reports_every_row_and_never_duplicates(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    await create_contact(h.svc, manager, ContactFields(name="Existing", phone="5511999999999"))
    rows = [
        {"name": "Bruno", "phone": "+55 11 98888-7777", "tags": "lead;sp", "city": "SP"},
        {"name": "Existing again", "phone": "5511999999999", "tags": "vip"},
        {"name": "Nobody", "phone": ""},
        {"name": "Bad phone", "phone": "12345"},
        {"name": "Bruno twice", "phone": "5511988887777"},
        {"name": "Carla", "bsuid": "BR.123456", "opted_in": "no"},
    ]
    report = await import_contacts(h.svc, manager, rows)
    assert (report.created, report.updated) == (2, 1)
    assert [p.row for p in report.rejected] == [3, 4, 5]
    assert "earlier in the file" in report.rejected[2].reason
    everyone = {c.display_name: c for c in await list_contacts(h.svc, manager)}
    assert set(everyone) == {"Bruno", "Existing again", "Carla"}
    assert everyone["Bruno"].attributes == {"city": "SP"}
    assert everyone["Bruno"].tags == ("lead", "sp")
    assert everyone["Carla"].opted_in is False
    assert everyone["Existing again"].tags == ("vip",)


async def test_import_needs_a_manager(h: Harness) -> None:
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await import_contacts(h.svc, h.as_(Role.AGENT), [{"phone": "5511999999999"}])
    assert h.snapshot() == before
