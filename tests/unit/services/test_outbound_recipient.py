"""Flow 2: a recipient named by a caller is checked before anything is stored."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import ANA_BSUID, Harness
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents, TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_template, send_text
from whatsapp_core.services.templates import create_template

pytestmark = pytest.mark.unit

BAD_RECIPIENTS = [
    (CustomerIdentity(wa_id="12"), "to.wa_id", "7-15 digits"),
    (CustomerIdentity(wa_id="05511999999999"), "to.wa_id", "7-15 digits"),
    (CustomerIdentity(bsuid="not-a-bsuid"), "to.bsuid", "business-scoped user id"),
    (CustomerIdentity(bsuid=ANA_BSUID, wa_id="12345"), "to.wa_id", "7-15 digits"),
    (
        CustomerIdentity(wa_id="5511999999999", parent_bsuid="x"),
        "to.parent_bsuid",
        "business-scoped user id",
    ),
]


async def _approved_template(h: Harness) -> None:
    template = await create_template(
        h.svc, h.as_(Role.MANAGER), name="order_update", language="en",
        category=TemplateCategory.UTILITY, components=TemplateComponents(body="Hi {{1}}"),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.templates.update(replace(template, status=TemplateStatus.APPROVED))
        await uow.commit()


def _stored(h: Harness) -> tuple[int, int, int, int, int]:
    s = h.uow.db.state
    return (len(s.contacts), len(s.conversations), len(s.messages), len(s.outbox), len(s.audit))


@pytest.mark.parametrize(("to", "field", "hint"), BAD_RECIPIENTS)
async def test_a_template_to_an_invalid_recipient_stores_nothing(
    h: Harness, to: CustomerIdentity, field: str, hint: str
) -> None:
    await _approved_template(h)
    before = _stored(h)
    for principal in (h.as_key(), h.as_(Role.AGENT)):
        with pytest.raises(InvalidInput, match=hint) as info:
            await send_template(
                h.svc, principal, name="order_update", language="en", body_params=["Ana"], to=to
            )
        assert info.value.details["field"] == field
    assert _stored(h) == before


@pytest.mark.parametrize(("to", "field", "hint"), BAD_RECIPIENTS)
async def test_a_text_to_an_invalid_recipient_stores_nothing(
    h: Harness, to: CustomerIdentity, field: str, hint: str
) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    key = replace(h.as_key(), scopes=(Action.MESSAGE_SEND_TEXT_API.value,))
    before = _stored(h)
    with pytest.raises(InvalidInput, match=hint) as info:
        await send_text(h.svc, key, "On its way", to=to)
    assert info.value.details["field"] == field
    assert _stored(h) == before


async def test_a_valid_new_recipient_still_gets_a_contact(h: Harness) -> None:
    await _approved_template(h)
    await send_template(
        h.svc, h.as_key(), name="order_update", language="en", body_params=["Bo"],
        to=CustomerIdentity(bsuid="DE.4711", wa_id="4915112345678"),
    )  # fmt: skip
    (contact,) = h.uow.db.state.contacts.values()
    assert (contact.bsuid, contact.wa_id) == ("DE.4711", "4915112345678")
