"""Interactive messages an agent sends inside the 24 h window: reply buttons and lists.

Meta's limits, checked here so that a message we accept is one Meta accepts (a refusal
after queueing costs a failed message; here it is a 422 the agent can fix at once).
Sources: Meta's "Interactive reply buttons messages" and "Interactive list messages"
pages of the Cloud API documentation (developers.facebook.com/documentation/
business-messaging/whatsapp/messages/interactive-reply-buttons-messages and
.../interactive-list-messages, read 2026), and the interactive object of the Cloud API
message reference, as also restated by Meta's WhatsApp Node.js SDK (ButtonObject):

- reply buttons: 1-3 buttons; a title 1-20 characters, unique within the message; an id
  1-256 characters, unique, with no leading or trailing spaces;
- lists: the button label 1-20 characters; 1-10 sections; 1-10 rows across all
  sections (each section at least one); a row title 1-24 characters, a row description
  up to 72, a row id up to 200 (Meta's list page says 200, not the 256 of buttons);
  a section title up to 24, required once there are two sections or more;
- both: a body of 1-1024 characters (the list page now says 4096; the interactive
  object says 1024, and the stricter one is the one every version accepts), a text
  header up to 60, a footer up to 60.

Lengths are counted in characters (code points), as ``len`` does. Every refusal is
``InvalidInput`` whose ``field`` names the offending part as the REST body spells it
(``buttons[1].title``, ``sections[0].rows[2].id``).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from whatsapp_core.errors import InvalidInput

BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
SECTIONS_MAX = 10
ROWS_MAX = 10
SECTION_TITLE_MAX = 24
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200


class InteractiveKind(enum.StrEnum):
    BUTTON = "button"  # reply buttons
    LIST = "list"


class ReplyButton(msgspec.Struct, frozen=True):
    id: str
    title: str


class ListRow(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    title: str
    description: str | None = None


class ListSection(msgspec.Struct, frozen=True, omit_defaults=True):
    rows: tuple[ListRow, ...]
    title: str | None = None


class InteractiveContent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the agent chose to send; stored on the message as ``content["interactive"]``
    (``to_content``) and turned into Meta's ``interactive`` object by the gateway."""

    kind: InteractiveKind = msgspec.field(name="type")
    body: str
    header: str | None = None
    footer: str | None = None
    buttons: tuple[ReplyButton, ...] = ()  # kind BUTTON
    button: str | None = None  # kind LIST: the label of the button that opens the list
    sections: tuple[ListSection, ...] = ()  # kind LIST


def _text(field: str, value: str, limit: int) -> None:
    if not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidInput(
            f"{field} has {len(value)} characters; WhatsApp allows {limit}",
            field=field,
            limit=limit,
        )


def _optional(field: str, value: str | None, limit: int) -> None:
    if value is not None:
        _text(field, value, limit)


def _identifier(field: str, value: str, limit: int) -> None:
    if not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if value != value.strip():
        raise InvalidInput(f"{field} must not start or end with spaces", field=field)
    if len(value) > limit:
        raise InvalidInput(
            f"{field} has {len(value)} characters; WhatsApp allows {limit}",
            field=field,
            limit=limit,
        )


def _unique(field: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise InvalidInput(
                f"{field.format(index)}: two options have the {what} {value!r}",
                field=field.format(index),
            )
        seen.add(value)


def _check_buttons(message: InteractiveContent) -> None:
    if message.button is not None or message.sections:
        raise InvalidInput("reply buttons have no list button or sections", field="sections")
    count = len(message.buttons)
    if not 1 <= count <= BUTTONS_MAX:
        raise InvalidInput(
            f"reply buttons need 1 to {BUTTONS_MAX} buttons, not {count}", field="buttons"
        )
    for index, button in enumerate(message.buttons):
        _identifier(f"buttons[{index}].id", button.id, BUTTON_ID_MAX)
        _text(f"buttons[{index}].title", button.title, BUTTON_TITLE_MAX)
    _unique("buttons[{}].id", [b.id for b in message.buttons], "id")
    _unique("buttons[{}].title", [b.title for b in message.buttons], "title")


def _check_list(message: InteractiveContent) -> None:
    if message.buttons:
        raise InvalidInput("a list message has sections, not reply buttons", field="buttons")
    if message.button is None:
        raise InvalidInput("a list message needs the label of its button", field="button")
    _text("button", message.button, LIST_BUTTON_MAX)
    count = len(message.sections)
    if not 1 <= count <= SECTIONS_MAX:
        raise InvalidInput(
            f"a list needs 1 to {SECTIONS_MAX} sections, not {count}", field="sections"
        )
    rows = sum(len(section.rows) for section in message.sections)
    if rows > ROWS_MAX:
        raise InvalidInput(
            f"a list has at most {ROWS_MAX} rows across its sections, not {rows}",
            field="sections",
            limit=ROWS_MAX,
        )
    ids: set[str] = set()
    for s, section in enumerate(message.sections):
        where = f"sections[{s}]"
        if section.title is None and count > 1:
            raise InvalidInput(
                f"{where}.title is required when a list has more than one section",
                field=f"{where}.title",
            )
        _optional(f"{where}.title", section.title, SECTION_TITLE_MAX)
        if not section.rows:
            raise InvalidInput(f"{where} needs at least one row", field=f"{where}.rows")
        for r, row in enumerate(section.rows):
            _identifier(f"{where}.rows[{r}].id", row.id, ROW_ID_MAX)
            _text(f"{where}.rows[{r}].title", row.title, ROW_TITLE_MAX)
            _optional(f"{where}.rows[{r}].description", row.description, ROW_DESCRIPTION_MAX)
            if row.id in ids:
                raise InvalidInput(
                    f"{where}.rows[{r}].id: two rows have the id {row.id!r}",
                    field=f"{where}.rows[{r}].id",
                )
            ids.add(row.id)


def validate_interactive(message: InteractiveContent) -> InteractiveContent:
    """``message`` unchanged when WhatsApp would take it; else ``InvalidInput``."""
    _text("body", message.body, BODY_MAX)
    _optional("header", message.header, HEADER_MAX)
    _optional("footer", message.footer, FOOTER_MAX)
    if message.kind is InteractiveKind.BUTTON:
        _check_buttons(message)
    else:
        _check_list(message)
    return message


def interactive_kind(value: str) -> InteractiveKind:
    try:
        return InteractiveKind(value)
    except ValueError:
        raise InvalidInput(
            f"type must be 'button' (reply buttons) or 'list', not {value!r}", field="type"
        ) from None


def to_content(message: InteractiveContent) -> dict[str, Any]:
    """The message's ``content["interactive"]`` (plain JSON, Meta's field names)."""
    stored: dict[str, Any] = msgspec.to_builtins(message)
    return stored


def from_content(content: dict[str, Any]) -> InteractiveContent:
    """Back from ``to_content``; ``InvalidInput`` when it is not one."""
    try:
        return msgspec.convert(content, InteractiveContent)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"not an interactive message: {exc}", field="content") from exc


def options(message: InteractiveContent) -> list[tuple[str, str]]:
    """(id, title) of every choice the customer is offered, in order."""
    if message.kind is InteractiveKind.BUTTON:
        return [(b.id, b.title) for b in message.buttons]
    return [(row.id, row.title) for section in message.sections for row in section.rows]
