"""Meta's listed template definition -> ``TemplateComponents``, and back from ours.

What we submit (``build_template_body``) must come back from Meta's list as the same
components, or a sync after a submit would see a different template than it sent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.meta.gateway import build_template_body
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.remote_templates import RemoteTemplate, components_from_meta
from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.template_content import (
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
)

pytestmark = pytest.mark.unit


def listed(components: list[dict[str, Any]]) -> RemoteTemplate:
    return RemoteTemplate(
        meta_id="1",
        name="t",
        language="en",
        status="APPROVED",
        category="UTILITY",
        components=components,
    )


@pytest.mark.parametrize(
    "components",
    [
        TemplateComponents(body="Plain body"),
        TemplateComponents(body="Hi {{first_name}}, your code is {{code}}."),
        TemplateComponents(
            body="Hi {{1}}, order {{2}} has shipped.",
            header_text="Order {{1}}",
            footer="Acme Inc.",
            buttons=(
                TemplateButton(type="URL", text="Track", url="https://acme.test/{{1}}"),
                TemplateButton(type="PHONE_NUMBER", text="Call", phone_number="+15550001111"),
                TemplateButton(type="QUICK_REPLY", text="Stop"),
                TemplateButton(type="COPY_CODE", text="SAVE20"),
            ),
        ),
    ],
    ids=["body-only", "named", "everything"],
)
def test_what_we_submit_comes_back_as_the_same_components(
    components: TemplateComponents,
) -> None:
    now = datetime.now(UTC)
    template = Template(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), name="t", language="en",
        category=TemplateCategory.UTILITY, components=components, created_at=now, updated_at=now,
    )  # fmt: skip
    assert components_from_meta(listed(build_template_body(template)["components"])) == components


def test_metas_own_list_shape_reads_lowercase_types_and_list_examples() -> None:
    copy_code = {"type": "copy_code", "text": "Copy offer code", "example": ["250FF"]}
    raw = [{"type": "body", "text": "Use {{1}}"}, {"type": "BUTTONS", "buttons": [copy_code]}]
    components = components_from_meta(listed(raw))
    assert components == TemplateComponents(
        body="Use {{1}}", buttons=(TemplateButton(type="COPY_CODE", text="250FF"),)
    )


OTP_TEMPLATE = [
    {"type": "BODY", "text": "{{1}} is your code."},
    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
]


@pytest.mark.parametrize(
    ("components", "why"),
    [
        ([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "x"}], "IMAGE header"),
        ([{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "x"}], "LOCATION"),
        ([{"type": "BODY", "text": "x"}, {"type": "CAROUSEL", "cards": []}], "CAROUSEL component"),
        (OTP_TEMPLATE, "OTP button"),
        ([{"type": "FOOTER", "text": "only a footer"}], "no body text"),
        ([], "no body text"),
    ],
)
def test_what_the_send_path_cannot_fill_is_refused(
    components: list[dict[str, Any]], why: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        components_from_meta(listed(components))
    assert caught.value.code == "unsupported_template"
    assert why in str(caught.value)
