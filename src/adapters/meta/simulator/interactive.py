"""Meta's checks of an ``interactive`` send (reply buttons and lists), on the wire JSON.

Written against the wire, apart from the core's policy, so a body the gateway builds
wrongly is caught here as Meta would catch it (code 100). Only the limits' numbers are
shared with the core (``whatsapp_core.policies.interactive``, which cites Meta's pages).
Other interactive types (cta_url, flow, product, location_request...) are accepted
unchecked: the product does not send them.
"""

from __future__ import annotations

from typing import Any

from whatsapp_core.policies import interactive as limits

_CHECKED = frozenset({"button", "list"})


def _text(where: str, value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"Param {where} is required and must be a non-empty string."
    if len(value) > limit:
        return f"Param {where} must be at most {limit} characters long."
    return None


def _identifier(where: str, value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return f"Param {where} is required and must be a non-empty string."
    if value != value.strip():
        return f"Param {where} must not have leading or trailing whitespace."
    if len(value) > limit:
        return f"Param {where} must be at most {limit} characters long."
    return None


def _parts(payload: dict[str, Any]) -> str | None:
    body = payload.get("body")
    if not isinstance(body, dict):
        return "Param interactive.body is required."
    problem = _text("interactive.body.text", body.get("text"), limits.BODY_MAX)
    if problem:
        return problem
    header = payload.get("header")
    if header is not None:
        if not isinstance(header, dict) or header.get("type") != "text":
            return "Param interactive.header must be a text header for this message type."
        problem = _text("interactive.header.text", header.get("text"), limits.HEADER_MAX)
        if problem:
            return problem
    footer = payload.get("footer")
    if footer is not None:
        if not isinstance(footer, dict):
            return "Param interactive.footer must be an object."
        return _text("interactive.footer.text", footer.get("text"), limits.FOOTER_MAX)
    return None


def _buttons(action: dict[str, Any]) -> str | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= limits.BUTTONS_MAX:
        return f"Param interactive.action.buttons must have 1 to {limits.BUTTONS_MAX} elements."
    ids: set[str] = set()
    titles: set[str] = set()
    for i, button in enumerate(buttons):
        where = f"interactive.action.buttons[{i}]"
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict) or button.get("type") != "reply":
            return f"Param {where} must be a reply button with a reply object."
        problem = _identifier(f"{where}.reply.id", reply.get("id"), limits.BUTTON_ID_MAX)
        problem = problem or _text(
            f"{where}.reply.title", reply.get("title"), limits.BUTTON_TITLE_MAX
        )
        if problem:
            return problem
        if reply["id"] in ids:
            return "Button IDs must be unique within the message."
        if reply["title"] in titles:
            return "Button titles must be unique within the message."
        ids.add(reply["id"])
        titles.add(reply["title"])
    return None


def _list(action: dict[str, Any]) -> str | None:
    problem = _text("interactive.action.button", action.get("button"), limits.LIST_BUTTON_MAX)
    if problem:
        return problem
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= limits.SECTIONS_MAX:
        return f"Param interactive.action.sections must have 1 to {limits.SECTIONS_MAX} elements."
    ids: set[str] = set()
    for s, section in enumerate(sections):
        where = f"interactive.action.sections[{s}]"
        if not isinstance(section, dict):
            return f"Param {where} must be an object."
        if "title" in section or len(sections) > 1:
            problem = _text(f"{where}.title", section.get("title"), limits.SECTION_TITLE_MAX)
            if problem:
                return problem
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            return f"Param {where}.rows must have at least 1 element."
        for r, row in enumerate(rows):
            at = f"{where}.rows[{r}]"
            if not isinstance(row, dict):
                return f"Param {at} must be an object."
            problem = _identifier(f"{at}.id", row.get("id"), limits.ROW_ID_MAX)
            problem = problem or _text(f"{at}.title", row.get("title"), limits.ROW_TITLE_MAX)
            if not problem and "description" in row:
                problem = _text(
                    f"{at}.description", row.get("description"), limits.ROW_DESCRIPTION_MAX
                )
            if problem:
                return problem
            if row["id"] in ids:
                return "Row IDs must be unique within the message."
            ids.add(row["id"])
    total = sum(len(section["rows"]) for section in sections)
    if total > limits.ROWS_MAX:
        return f"Total row count exceeded: at most {limits.ROWS_MAX} rows across all sections."
    return None


def interactive_problem(payload: Any) -> str | None:
    """Why Meta would refuse this ``interactive`` object with code 100, or None."""
    if not isinstance(payload, dict):
        return "Param interactive must be an object."
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        return "Param interactive.type is required."
    if kind not in _CHECKED:
        return None
    action = payload.get("action")
    if not isinstance(action, dict):
        return "Param interactive.action is required."
    return _parts(payload) or (_buttons(action) if kind == "button" else _list(action))
