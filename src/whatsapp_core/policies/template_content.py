"""What a template says: its definition checks and the parameters filled in to send it.

Checking here what Meta would refuse saves a review round-trip (hours) on definitions
and a failed message (errors 132000, 132018...) on sends. Every refusal is
``InvalidInput`` with ``field`` naming the offending part. Placeholders are
``{{1}}``-style (positional) or ``{{first_name}}``-style (named); a template uses one
style only, and header and body number their positional placeholders separately.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence

import msgspec

from whatsapp_core.errors import InvalidInput

BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 10
BUTTON_TEXT_MAX = 25
BODY_PARAM_MAX = 1024
HEADER_PARAM_MAX = 60
BUTTON_TYPES: frozenset[str] = frozenset({"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE"})
_BUTTON_TYPE_MAX = {"URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}

_NAME = re.compile(r"[a-z0-9_]{1,512}")
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_POSITIONAL = re.compile(r"[1-9][0-9]*")
_NAMED = re.compile(r"[a-z_][a-z0-9_]*")
_PHONE = re.compile(r"\+?[0-9]{5,20}")
# Meta refuses parameters with newlines, tabs or more than 4 consecutive spaces (132018).
_BAD_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")

Params = Mapping[str, str] | Sequence[str]


class TemplateCategory(enum.StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateButton(msgspec.Struct, frozen=True):
    type: str
    text: str
    url: str | None = None
    phone_number: str | None = None


class TemplateComponents(msgspec.Struct, frozen=True):
    body: str
    header_text: str | None = None
    footer: str | None = None
    buttons: tuple[TemplateButton, ...] = ()


def validate_template_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "Template name must be 1-512 lowercase letters, digits or underscores",
            field="name",
        )


def placeholders(text: str) -> list[str]:
    """Distinct placeholder names in order of first appearance (``"1"``, ``"first_name"``)."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def _check_text(field: str, text: str, limit: int) -> list[str]:
    if not text.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}", field=field)
    names = placeholders(text)
    for name in names:
        if not (_POSITIONAL.fullmatch(name) or _NAMED.fullmatch(name)):
            raise InvalidInput(
                f"{field} has an invalid placeholder {{{{{name}}}}}: use {{{{1}}}}, {{{{2}}}}... "
                "or lowercase names like {{first_name}}",
                field=field,
                placeholder=name,
            )
    leftover = _PLACEHOLDER.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        raise InvalidInput(f"{field} has an unmatched '{{{{' or '}}}}'", field=field)
    if "}}{{" in text:
        raise InvalidInput(
            f"{field} has two placeholders next to each other; put text between them",
            field=field,
        )
    positional = [int(n) for n in names if _POSITIONAL.fullmatch(n)]
    if positional and sorted(positional) != list(range(1, len(positional) + 1)):
        raise InvalidInput(
            f"{field} must number its placeholders 1 to {len(positional)} without gaps",
            field=field,
        )
    return names


def _check_button(index: int, button: TemplateButton) -> None:
    def bad(message: str) -> InvalidInput:
        return InvalidInput(f"button {index + 1}: {message}", field="buttons", index=index)

    if button.type not in BUTTON_TYPES:
        raise bad(f"type must be one of {', '.join(sorted(BUTTON_TYPES))}")
    if not button.text.strip() or len(button.text) > BUTTON_TEXT_MAX:
        raise bad(f"text must be 1-{BUTTON_TEXT_MAX} characters")
    if (button.url is not None) != (button.type == "URL"):
        raise bad("a URL button needs a url, and only a URL button may have one")
    if (button.phone_number is not None) != (button.type == "PHONE_NUMBER"):
        raise bad("a PHONE_NUMBER button needs a phone_number, and only it may have one")
    if button.url is not None and (
        not button.url.startswith(("https://", "http://")) or len(button.url) > 2000
    ):
        raise bad("url must be an http(s) address of at most 2000 characters")
    if button.phone_number is not None and not _PHONE.fullmatch(button.phone_number):
        raise bad("phone_number must be digits in international format, e.g. +15550001111")


def validate_definition(
    name: str, category: TemplateCategory | str, components: TemplateComponents
) -> None:
    """Refuse a definition Meta would reject; raises ``InvalidInput`` naming the field."""
    validate_template_name(name)
    try:
        TemplateCategory(category)
    except ValueError:
        raise InvalidInput(
            f"category must be one of {', '.join(TemplateCategory)}", field="category"
        ) from None
    names = _check_text("body", components.body, BODY_MAX)
    if components.header_text is not None:
        header = _check_text("header_text", components.header_text, HEADER_MAX)
        if len(header) > 1:
            raise InvalidInput("header_text may have at most one placeholder", field="header_text")
        names = names + header
    if components.footer is not None:
        _check_text("footer", components.footer, FOOTER_MAX)
        if placeholders(components.footer):
            raise InvalidInput("footer must not have placeholders", field="footer")
    if any(_POSITIONAL.fullmatch(n) for n in names) and any(_NAMED.fullmatch(n) for n in names):
        raise InvalidInput(
            "Use either numbered ({{1}}) or named ({{first_name}}) placeholders, not both",
            field="body",
        )
    if len(components.buttons) > BUTTONS_MAX:
        raise InvalidInput(f"at most {BUTTONS_MAX} buttons are allowed", field="buttons")
    for index, button in enumerate(components.buttons):
        _check_button(index, button)
    for kind, limit in _BUTTON_TYPE_MAX.items():
        if sum(b.type == kind for b in components.buttons) > limit:
            raise InvalidInput(f"at most {limit} {kind} button(s) are allowed", field="buttons")


def _as_mapping(field: str, params: Params) -> dict[str, str]:
    if isinstance(params, str):
        raise InvalidInput(f"{field} must be a list or a mapping, not a string", field=field)
    if isinstance(params, Mapping):
        return {str(key): value for key, value in params.items()}
    return {str(position): value for position, value in enumerate(params, start=1)}


def _checked(field: str, expected: list[str], params: Params, limit: int) -> dict[str, str]:
    given = _as_mapping(field, params)
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    if missing or extra:
        raise InvalidInput(
            f"{field}: the template expects {len(expected)} parameter(s)"
            f" ({', '.join(expected) or 'none'}); got {len(given)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unexpected: {', '.join(extra)}" if extra else ""),
            field=field,
            missing=", ".join(missing),
            extra=", ".join(extra),
        )
    for name, value in given.items():
        if not isinstance(value, str) or not value.strip():
            problem = "must be non-empty text"
        elif len(value) > limit:
            problem = f"is {len(value)} characters; the limit is {limit}"
        elif _BAD_WHITESPACE.search(value):
            problem = "must not contain newlines, tabs or more than 4 consecutive spaces"
        else:
            continue
        raise InvalidInput(f"{field} parameter {name} {problem}", field=field, parameter=name)
    return given


def _header_names(components: TemplateComponents) -> list[str]:
    return placeholders(components.header_text) if components.header_text is not None else []


def validate_parameters(
    components: TemplateComponents, body_params: Params, header_params: Params = ()
) -> None:
    """Refuse parameters that do not match the placeholders exactly, or that Meta refuses.

    A sequence fills positional placeholders in order (``["Ann"]`` -> ``{{1}}``); a
    mapping fills by name (``{"first_name": "Ann"}`` or ``{"1": "Ann"}``).
    """
    _checked("body_params", placeholders(components.body), body_params, BODY_PARAM_MAX)
    _checked("header_params", _header_names(components), header_params, HEADER_PARAM_MAX)


def _fill(text: str, values: Mapping[str, str]) -> str:
    # One pass: a value that itself looks like "{{2}}" is kept literally, never expanded.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render(components: TemplateComponents, body_params: Params, header_params: Params = ()) -> str:
    """The body as the customer will read it (validated first), for previews and history."""
    validate_parameters(components, body_params, header_params)
    values = _as_mapping("body_params", body_params)
    return _fill(components.body, values)


def render_header(components: TemplateComponents, header_params: Params = ()) -> str | None:
    """The header text as sent, or None when the template has no text header."""
    values = _checked("header_params", _header_names(components), header_params, HEADER_PARAM_MAX)
    if components.header_text is None:
        return None
    return _fill(components.header_text, values)
