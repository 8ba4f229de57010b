"""Reply buttons and lists: what the policy accepts is what Meta accepts.

Laws: anything ``validate_interactive`` accepts builds a Meta ``interactive`` body within
every one of Meta's limits (checked here by hand AND by the simulator's independent
wire check); anything over one limit is refused with ``InvalidInput`` naming that
field; the stored form round-trips.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from adapters.meta.gateway import build_send_body
from adapters.meta.simulator.interactive import interactive_problem
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies import interactive as p
from whatsapp_core.policies.interactive import (
    InteractiveContent,
    InteractiveKind,
    ListRow,
    ListSection,
    ReplyButton,
    from_content,
    options,
    to_content,
    validate_interactive,
)

pytestmark = pytest.mark.unit

CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


def text(max_size: int) -> st.SearchStrategy[str]:
    """Often short, sometimes right at or just past ``max_size``; sometimes blank."""
    return st.one_of(
        st.text(CHARS, min_size=0, max_size=8),
        st.integers(max_size - 2, max_size + 2).flatmap(
            lambda n: st.text(CHARS, min_size=max(n, 0), max_size=max(n, 0))
        ),
        st.sampled_from(["", " ", "  x  "]),
    )


def optional(max_size: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), text(max_size))


BUTTONS = st.lists(
    st.builds(ReplyButton, id=text(p.BUTTON_ID_MAX), title=text(p.BUTTON_TITLE_MAX)),
    max_size=p.BUTTONS_MAX + 1,
)
ROWS = st.lists(
    st.builds(
        ListRow,
        id=text(p.ROW_ID_MAX),
        title=text(p.ROW_TITLE_MAX),
        description=optional(p.ROW_DESCRIPTION_MAX),
    ),
    max_size=4,
).map(tuple)
SECTIONS = st.lists(
    st.builds(ListSection, rows=ROWS, title=optional(p.SECTION_TITLE_MAX)),
    max_size=p.SECTIONS_MAX + 1,
)


def word(n: int) -> str:
    return ("abcdefghij" * (n // 10 + 1))[:n]


@st.composite
def valid(draw: st.DrawFn) -> InteractiveContent:
    """A message within every limit (sizes up to the limit itself)."""
    label = st.integers(1, 20).map(word)
    kind = draw(st.sampled_from(InteractiveKind))
    header = draw(st.one_of(st.none(), st.integers(1, p.HEADER_MAX).map(word)))
    footer = draw(st.one_of(st.none(), st.integers(1, p.FOOTER_MAX).map(word)))
    body = word(draw(st.integers(1, p.BODY_MAX)))
    if kind is InteractiveKind.BUTTON:
        n = draw(st.integers(1, p.BUTTONS_MAX))
        buttons = tuple(
            ReplyButton(id=f"{i}" + word(draw(st.integers(0, p.BUTTON_ID_MAX - 1))), title=f"{i}")
            for i in range(n)
        )
        return InteractiveContent(
            kind=kind, body=body, header=header, footer=footer, buttons=buttons
        )
    total = draw(st.integers(1, p.ROWS_MAX))
    cuts = sorted(draw(st.sets(st.integers(1, total - 1), max_size=total - 1))) if total > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    sections = []
    n = 0
    for s, size in enumerate(sizes):
        rows = []
        for _ in range(size):
            description = draw(
                st.one_of(st.none(), st.integers(1, p.ROW_DESCRIPTION_MAX).map(word))
            )
            rows.append(
                ListRow(
                    id=f"r{n}" + word(draw(st.integers(0, p.ROW_ID_MAX - 3))),
                    title=word(draw(st.integers(1, p.ROW_TITLE_MAX))),
                    description=description,
                )
            )
            n += 1
        title = f"Section {s}" if len(sizes) > 1 or draw(st.booleans()) else None
        sections.append(ListSection(rows=tuple(rows), title=title))
    return InteractiveContent(
        kind=kind, body=body, header=header, footer=footer,
        button=draw(label), sections=tuple(sections),
    )  # fmt: skip


@st.composite
def anything(draw: st.DrawFn) -> InteractiveContent:
    """Any message, within the limits or not: a valid one with some of its parts
    redrawn from strategies that reach just past each limit (or are blank)."""
    m = draw(valid())
    maybe = st.booleans()
    if draw(maybe):
        m = replace(m, body=draw(text(p.BODY_MAX)))
    if draw(maybe):
        m = replace(m, header=draw(optional(p.HEADER_MAX)), footer=draw(optional(p.FOOTER_MAX)))
    if m.kind is InteractiveKind.BUTTON and draw(maybe):
        m = replace(m, buttons=tuple(draw(BUTTONS)))
    if m.kind is InteractiveKind.LIST and draw(maybe):
        m = replace(m, button=draw(optional(p.LIST_BUTTON_MAX)))
    if m.kind is InteractiveKind.LIST and draw(maybe):
        m = replace(m, sections=tuple(draw(SECTIONS)))
    return m


def _within_limits(wire: dict[str, Any]) -> None:
    """Meta's limits, restated on the wire body."""
    assert 1 <= len(wire["body"]["text"]) <= 1024
    if "header" in wire:
        assert wire["header"]["type"] == "text"
        assert 1 <= len(wire["header"]["text"]) <= 60
    if "footer" in wire:
        assert 1 <= len(wire["footer"]["text"]) <= 60
    action = wire["action"]
    if wire["type"] == "button":
        buttons = action["buttons"]
        assert 1 <= len(buttons) <= 3
        assert all(b["type"] == "reply" for b in buttons)
        ids = [b["reply"]["id"] for b in buttons]
        titles = [b["reply"]["title"] for b in buttons]
        assert all(1 <= len(i) <= 256 for i in ids)
        assert all(t.strip() for t in titles)
        assert all(len(t) <= 20 for t in titles)
        assert len(set(ids)) == len(ids)
        assert len(set(titles)) == len(titles)
        return
    assert wire["type"] == "list"
    assert action["button"].strip()
    assert len(action["button"]) <= 20
    sections = action["sections"]
    assert 1 <= len(sections) <= 10
    rows = [row for section in sections for row in section["rows"]]
    assert 1 <= len(rows) <= 10
    assert all(section["rows"] for section in sections)
    if len(sections) > 1:
        assert all(1 <= len(section["title"]) <= 24 for section in sections)
    assert all(1 <= len(row["id"]) <= 200 for row in rows)
    assert all(1 <= len(row["title"]) <= 24 for row in rows)
    assert all(len(row.get("description", "")) <= 72 for row in rows)
    assert len({row["id"] for row in rows}) == len(rows)


def _send_body(message: InteractiveContent) -> dict[str, Any]:
    outgoing = OutgoingMessage(type="interactive", interactive=message)
    body: dict[str, Any] = build_send_body(Recipient(wa_id="5511999999999"), outgoing)
    return body


@given(anything())
def test_anything_accepted_builds_a_body_meta_accepts(message: InteractiveContent) -> None:
    refusal: InvalidInput | None = None
    try:
        validate_interactive(message)
    except InvalidInput as refused:
        refusal = refused
    if refusal is not None:
        assert refusal.details.get("field"), "a refusal names its field"
        return
    wire = _send_body(message)["interactive"]
    _within_limits(wire)
    assert interactive_problem(wire) is None


@given(valid())
def test_messages_within_the_limits_are_accepted_and_built(message: InteractiveContent) -> None:
    assert validate_interactive(message) is message
    body = _send_body(message)
    assert body["type"] == "interactive"
    _within_limits(body["interactive"])
    assert interactive_problem(body["interactive"]) is None


@given(valid())
def test_the_stored_form_round_trips(message: InteractiveContent) -> None:
    stored = to_content(message)
    assert stored["type"] == message.kind.value
    assert from_content(stored) == message
    assert [o[0] for o in options(message)] == [
        *(b.id for b in message.buttons),
        *(r.id for s in message.sections for r in s.rows),
    ]


# -- one field over its limit: refused, and named ---------------------------------------

Break = Callable[[InteractiveContent], tuple[InteractiveContent, str]]


def _first_button(m: InteractiveContent, **change: str) -> tuple[ReplyButton, ...]:
    return (replace(m.buttons[0], **change), *m.buttons[1:])


def _first_row(m: InteractiveContent, **change: str | None) -> tuple[ListSection, ...]:
    first = m.sections[0]
    rows = (replace(first.rows[0], **change), *first.rows[1:])
    return (replace(first, rows=rows), *m.sections[1:])


COMMON: list[Break] = [
    lambda m: (replace(m, body=word(p.BODY_MAX + 1)), "body"),
    lambda m: (replace(m, body="   "), "body"),
    lambda m: (replace(m, header=word(p.HEADER_MAX + 1)), "header"),
    lambda m: (replace(m, header=""), "header"),
    lambda m: (replace(m, footer=word(p.FOOTER_MAX + 1)), "footer"),
]
BUTTON_BREAKS: list[Break] = [
    lambda m: (replace(m, buttons=_first_button(m, title=word(21))), "buttons[0].title"),
    lambda m: (replace(m, buttons=_first_button(m, title=" ")), "buttons[0].title"),
    lambda m: (replace(m, buttons=_first_button(m, id=word(257))), "buttons[0].id"),
    lambda m: (replace(m, buttons=_first_button(m, id="")), "buttons[0].id"),
    lambda m: (replace(m, buttons=_first_button(m, id=" padded")), "buttons[0].id"),
    lambda m: (replace(m, buttons=()), "buttons"),
    lambda m: (
        replace(m, buttons=tuple(ReplyButton(id=f"b{i}", title=f"B{i}") for i in range(4))),
        "buttons",
    ),
    lambda m: (
        replace(m, buttons=(ReplyButton("same", "One"), ReplyButton("same", "Two"))),
        "buttons[1].id",
    ),
    lambda m: (
        replace(m, buttons=(ReplyButton("a", "Same"), ReplyButton("b", "Same"))),
        "buttons[1].title",
    ),
]
LIST_BREAKS: list[Break] = [
    lambda m: (replace(m, button=word(p.LIST_BUTTON_MAX + 1)), "button"),
    lambda m: (replace(m, button=None), "button"),
    lambda m: (replace(m, sections=()), "sections"),
    lambda m: (
        replace(
            m,
            sections=tuple(
                ListSection(rows=(ListRow(f"r{i}", "Row"),), title=f"S{i}") for i in range(11)
            ),
        ),
        "sections",
    ),
    lambda m: (
        replace(
            m,
            sections=(
                ListSection(rows=tuple(ListRow(f"r{i}", "Row") for i in range(11)), title="All"),
            ),
        ),
        "sections",
    ),
    lambda m: (replace(m, sections=_first_row(m, title=word(25))), "sections[0].rows[0].title"),
    lambda m: (replace(m, sections=_first_row(m, id=word(201))), "sections[0].rows[0].id"),
    lambda m: (
        replace(m, sections=_first_row(m, description=word(73))),
        "sections[0].rows[0].description",
    ),
    lambda m: (
        replace(m, sections=(replace(m.sections[0], title=word(25)), *m.sections[1:])),
        "sections[0].title",
    ),
    lambda m: (
        replace(
            m,
            sections=(
                ListSection(rows=(ListRow("a", "A"),), title="One"),
                ListSection(rows=(ListRow("b", "B"),)),
            ),
        ),
        "sections[1].title",
    ),
    lambda m: (
        replace(
            m,
            sections=(
                ListSection(rows=(ListRow("a", "A"),), title="One"),
                ListSection(rows=(ListRow("a", "B"),), title="Two"),
            ),
        ),
        "sections[1].rows[0].id",
    ),
    lambda m: (
        replace(m, sections=(ListSection(rows=(), title="Empty"),)),
        "sections[0].rows",
    ),
]


@given(valid(), st.data())
def test_one_field_over_its_limit_is_refused_and_named(
    message: InteractiveContent, data: st.DataObject
) -> None:
    breaks = COMMON + (BUTTON_BREAKS if message.kind is InteractiveKind.BUTTON else LIST_BREAKS)
    broken, field = data.draw(st.sampled_from(breaks))(message)
    with pytest.raises(InvalidInput) as refused:
        validate_interactive(broken)
    assert refused.value.details["field"] == field
    assert refused.value.code == "invalid_input"


def test_buttons_and_lists_do_not_mix() -> None:
    buttons = InteractiveContent(
        kind=InteractiveKind.BUTTON, body="Pick one", buttons=(ReplyButton("y", "Yes"),),
        sections=(ListSection(rows=(ListRow("a", "A"),)),),
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="no list button or sections"):
        validate_interactive(buttons)
    listed = InteractiveContent(
        kind=InteractiveKind.LIST, body="Pick one", button="Options",
        buttons=(ReplyButton("y", "Yes"),), sections=(ListSection(rows=(ListRow("a", "A"),)),),
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        validate_interactive(listed)
    assert refused.value.details["field"] == "buttons"


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as refused:
        p.interactive_kind("carousel")
    assert refused.value.details["field"] == "type"


def test_the_wire_body_is_metas_shape() -> None:
    message = InteractiveContent(
        kind=InteractiveKind.LIST, body="Which shipping option?", header="Shipping",
        footer="Acme", button="Options",
        sections=(
            ListSection(title="Fast", rows=(ListRow("express", "Express", "Next day"),)),
            ListSection(title="Cheap", rows=(ListRow("ground", "Ground"),)),
        ),
    )  # fmt: skip
    assert _send_body(message)["interactive"] == {
        "type": "list",
        "header": {"type": "text", "text": "Shipping"},
        "body": {"text": "Which shipping option?"},
        "footer": {"text": "Acme"},
        "action": {
            "button": "Options",
            "sections": [
                {"title": "Fast",
                 "rows": [{"id": "express", "title": "Express", "description": "Next day"}]},
                {"title": "Cheap", "rows": [{"id": "ground", "title": "Ground"}]},
            ],
        },
    }  # fmt: skip
    buttons = InteractiveContent(
        kind=InteractiveKind.BUTTON, body="Keep the booking?",
        buttons=(ReplyButton("keep", "Keep"), ReplyButton("cancel", "Cancel")),
    )  # fmt: skip
    assert _send_body(buttons)["interactive"] == {
        "type": "button",
        "body": {"text": "Keep the booking?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "keep", "title": "Keep"}},
                {"type": "reply", "reply": {"id": "cancel", "title": "Cancel"}},
            ]
        },
    }


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ({"type": "button", "body": {"text": "x"}, "action": {"buttons": []}}, "1 to 3"),
        ({"type": "list", "body": {"text": "x"}, "action": {"button": "Open", "sections": [
            {"rows": [{"id": f"r{i}", "title": "t"} for i in range(11)]}]}}, "Total row count"),
        ({"type": "button", "body": {"text": "x" * 1025},
          "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}},
         "interactive.body.text"),
        ({"type": "button", "body": {"text": "x"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "a", "title": "A"}},
            {"type": "reply", "reply": {"id": "a", "title": "B"}}]}}, "unique"),
        ("not an object", "must be an object"),
    ],
)  # fmt: skip
def test_the_simulator_refuses_what_meta_refuses(wire: Any, problem: str) -> None:
    found = interactive_problem(wire)
    assert found is not None
    assert problem in found
