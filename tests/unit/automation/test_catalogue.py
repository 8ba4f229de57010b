"""Every event in the catalogue has an example payload, built as its Struct, that goes
through the wire and back unchanged; the examples in examples/n8n/README.md are these."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from whatsapp_core.automation import EVENT_CATALOGUE, EventEnvelope, EventSpec, example_envelope

pytestmark = pytest.mark.unit
README = Path(__file__).parents[3] / "examples" / "n8n" / "README.md"
SPECS = list(EVENT_CATALOGUE.values())


def test_every_event_has_an_example_of_its_own_shape() -> None:
    assert len(SPECS) == 8
    for spec in SPECS:
        assert type(spec.example) is spec.data, spec.type


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_an_example_encodes_and_decodes_through_its_struct(spec: EventSpec) -> None:
    raw = msgspec.json.encode(spec.example)
    assert msgspec.json.decode(raw, type=spec.data) == spec.example
    # Every field is in the JSON (None too): a receiver sees the whole shape.
    assert set(json.loads(raw)) == set(spec.data.__struct_fields__)


class _Body(msgspec.Struct, kw_only=True):
    """The envelope as a receiver decodes it (``data`` still raw)."""

    id: str
    type: str
    v: int
    occurred_at: str
    tenant_id: str
    data: msgspec.Raw


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_an_example_body_is_a_whole_envelope(spec: EventSpec) -> None:
    envelope = example_envelope(spec)
    assert isinstance(envelope, EventEnvelope)
    body = msgspec.json.decode(msgspec.json.encode(envelope), type=_Body)
    assert (body.type, body.v) == (spec.type, spec.version)
    assert msgspec.json.decode(body.data, type=spec.data) == spec.example


def _readme_examples() -> dict[str, object]:
    """``data`` of each ``#### `event` `` section's JSON block in the README."""
    found = re.findall(r"^#### `([a-z.]+)`\n+```json\n(.*?)\n```", README.read_text(), re.M | re.S)
    return {event: json.loads(block) for event, block in found}


def test_the_n8n_readme_shows_every_example_as_the_code_builds_it() -> None:
    shown = _readme_examples()
    assert list(shown) == list(EVENT_CATALOGUE)
    for spec in SPECS:
        assert shown[spec.type] == json.loads(msgspec.json.encode(spec.example)), spec.type
