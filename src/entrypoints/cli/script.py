"""``wa simulate conversation --script FILE``: the YAML script, read and checked whole
before anything runs. A mistake is one ``ScriptError`` naming the file, line and step.

    name: Where is my order?
    customer: {phone: "+55 11 99999-0001", name: Maria Silva}
    templates:
      - {name: order_update, body: "Hi {{1}}, your order {{2}} is on its way."}
    steps:
      - customer: where is my order?
        expect: {conversation: open, window: open}
      - run_jobs
      - agent: It left today!
        expect: {last_message: accepted}
      - media: {type: image, caption: the box}   # also: assign, label, note, resolve…

The step kinds and expectations are ``script_shapes``; an expectation naming an event
or job kind the product never produces is a mistake in the script, not a failure.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml

from entrypoints.cli.script_shapes import (
    EVENT_KINDS,
    KINDS,
    NO_ARGUMENT,
    CustomerSays,
    Expect,
    Head,
)
from whatsapp_core.domain.identity import normalize_phone
from whatsapp_core.errors import InvalidInput
from whatsapp_core.jobs import JOB_KINDS


class ScriptError(Exception):
    """The script cannot run. ``str()`` is one line: ``FILE:LINE: step N: reason``."""


class Step(msgspec.Struct, kw_only=True):
    number: int  # 1-based
    line: int
    kind: str
    argument: Any
    expect: Expect | None = None
    title: str | None = None


class Script(msgspec.Struct, kw_only=True):
    path: str
    head: Head
    steps: list[Step]
    lines: dict[str, int] = msgspec.field(default_factory=dict)  # top-level key -> line
    template_lines: list[int] = msgspec.field(default_factory=list)

    def at(self, line: int | None, reason: str) -> ScriptError:
        return ScriptError(f"{self.path}:{line or 1}: {reason}")

    @property
    def title(self) -> str:
        return self.head.name or Path(self.path).name


_STEP_KEYS = frozenset({"expect", "title"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def parse_duration(text: str) -> timedelta:
    """``25h``, ``1h30m``, ``90s``, ``2d``."""
    compact = text.replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise InvalidInput(f"{text!r} is not a duration like 25h, 1h30m, 90s or 2d")
    return sum(
        (timedelta(**{_UNITS[unit]: float(n)}) for n, unit in _DURATION.findall(compact)),
        timedelta(),
    )


def load_script(path: Path) -> Script:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: the script is not UTF-8 text") from None
    return parse_script(text, str(path))


def parse_script(text: str, path: str = "<script>") -> Script:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScriptError(f"{path}:{line}: not valid YAML: {problem}") from None
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise ScriptError(f"{path}:1: a script is a mapping with a `steps:` list")
    where = _Where(path)
    head_data = {k: v for k, v in data.items() if k != "steps"}
    known = set(Head.__struct_fields__) | {"steps"}
    for key_node, _ in root.value:
        if key_node.value not in known:
            raise where.error(
                key_node, f"unknown field {key_node.value!r} (expected one of: "
                f"{', '.join(sorted(known))})",
            )  # fmt: skip
    head = where.convert(head_data, Head, root)
    try:
        normalize_phone(head.customer.phone)
    except InvalidInput as exc:
        raise where.error(_child(root, ["customer", "phone"]), exc.message) from None
    steps_node = _child(root, ["steps"])
    if not isinstance(data.get("steps"), list) or not isinstance(steps_node, yaml.SequenceNode):
        raise where.error(steps_node or root, "`steps:` must be a list of steps")
    if not data["steps"]:
        raise where.error(steps_node, "`steps:` is empty: give at least one step")
    steps = [
        _step(where, number, raw, node)
        for number, (raw, node) in enumerate(zip(data["steps"], steps_node.value, strict=True), 1)
    ]
    templates_node = _child(root, ["templates"])
    return Script(
        path=path,
        head=head,
        steps=steps,
        lines={k.value: k.start_mark.line + 1 for k, _ in root.value},
        template_lines=[n.start_mark.line + 1 for n in templates_node.value]
        if isinstance(templates_node, yaml.SequenceNode)
        else [],
    )


def _step(where: _Where, number: int, raw: Any, node: yaml.Node) -> Step:
    label = f"step {number}"
    if isinstance(raw, str) and raw in NO_ARGUMENT:
        return Step(number=number, line=node.start_mark.line + 1, kind=raw, argument=None)
    if not isinstance(raw, dict) or not isinstance(node, yaml.MappingNode):
        raise where.error(
            node, f"{label}: a step is a mapping such as `- customer: hello` "
            f"(or one of: {', '.join(sorted(NO_ARGUMENT))})",
        )  # fmt: skip
    actions = [k for k in raw if k not in _STEP_KEYS]
    for key_node, _ in node.value:
        name = key_node.value
        if name not in _STEP_KEYS and name not in KINDS:
            close = difflib.get_close_matches(str(name), [*KINDS, *_STEP_KEYS], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise where.error(
                key_node, f"{label}: unknown step kind {name!r} "
                f"({hint}expected one of: {', '.join(sorted(KINDS))})",
            )  # fmt: skip
    if len(actions) != 1:
        found = ", ".join(map(str, actions)) or "none"
        raise where.error(node, f"{label}: a step does exactly one thing (found: {found})")
    kind = actions[0]
    label = f"{label} ({kind})"
    argument = where.convert(raw[kind], KINDS[kind], _child(node, [kind]), label, kind)
    if kind in NO_ARGUMENT and argument is False:
        raise where.error(_child(node, [kind]), f"{label}: leave the step out instead of `false`")
    if kind == "advance":
        try:
            argument = parse_duration(argument)
        except InvalidInput as exc:
            raise where.error(_child(node, [kind]), f"{label}: {exc.message}") from None
    if kind == "customer" and isinstance(argument, CustomerSays) and argument.from_:
        try:
            normalize_phone(argument.from_)
        except InvalidInput as exc:
            raise where.error(_child(node, [kind, "from"]), f"{label}: {exc.message}") from None
    expect = None
    if raw.get("expect") is not None:
        expect = where.convert(raw["expect"], Expect, _child(node, ["expect"]), label, "expect")
        _check_names(where, _child(node, ["expect"]), label, expect)
    title = raw.get("title")
    if title is not None and not isinstance(title, str):
        raise where.error(_child(node, ["title"]), f"{label}: `title` must be text")
    return Step(
        number=number, line=node.start_mark.line + 1, kind=kind, argument=argument,
        expect=expect, title=title,
    )  # fmt: skip


def _check_names(where: _Where, node: yaml.Node | None, label: str, expect: Expect) -> None:
    """An event or job kind the product never produces would fail at run time as if the
    product were wrong: it is a mistake in the script."""
    named = [("events", kind, EVENT_KINDS) for kind in expect.events or []]
    if isinstance(expect.pending_jobs, dict):
        named += [("pending_jobs", kind, JOB_KINDS) for kind in expect.pending_jobs]
    for field, kind, known in named:
        if kind in known:
            continue
        close = difflib.get_close_matches(kind, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        what = "event" if field == "events" else "job kind"
        raise where.error(
            _child(node, [field]), f"{label}: `expect.{field}`: unknown {what} {kind!r} "
            f"({hint}known: {', '.join(sorted(known))})",
        )  # fmt: skip


class _Where:
    """Turns a problem at a YAML node into ``FILE:LINE: …``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, reason: str) -> ScriptError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ScriptError(f"{self.path}:{line}: {reason}")

    def convert(
        self, value: Any, shape: Any, node: yaml.Node | None, label: str = "", field: str = ""
    ) -> Any:
        try:
            return msgspec.convert(value, shape)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _MSGSPEC_PATH.search(message)
            reason = message[: match.start()] if match else message
            path = _path_parts(match.group("path")) if match else []
            unknown = _UNKNOWN_FIELD.search(reason)
            at = _child(node, [*path, unknown.group(1)] if unknown else path)
            shown = _dotted([field, *path] if field else path)
            prefix = f"{label}: " if label else ""
            where = f"`{shown}`: " if shown else ""
            raise self.error(
                at or node, f"{prefix}{where}{reason[0].lower()}{reason[1:]}"
            ) from None


def _dotted(path: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _path_parts(path: str) -> list[str | int]:
    return [
        int(index) if index else name for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    ]


def _child(node: yaml.Node | None, path: list[str | int]) -> yaml.Node | None:
    """The deepest node along ``path`` (where a problem is best pointed at)."""
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if part < len(node.value) else None
        else:
            found = None
        if found is None:
            return node
        node = found
    return node
