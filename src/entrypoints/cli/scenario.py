"""Run a checked script on the harness, step by step, and judge each step's ``expect:``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from entrypoints.cli.harness import Harness
from entrypoints.cli.records import State, StepReport, human_duration, last_inbound
from entrypoints.cli.script import Script, Step
from entrypoints.cli.script_shapes import (
    AgentSays,
    CustomerMedia,
    CustomerSays,
    Expect,
    LastMessage,
    MetaFailure,
    MetaStatus,
    SendTemplate,
)
from whatsapp_core.domain.identity import normalize_phone
from whatsapp_core.domain.model import Message
from whatsapp_core.errors import DomainError
from whatsapp_core.jobs import JobState
from whatsapp_core.media import MediaRef


class Check(msgspec.Struct, kw_only=True):
    name: str
    expected: Any
    actual: Any
    ok: bool


class StepResult(msgspec.Struct, kw_only=True):
    step: Step
    report: StepReport
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def describe(self) -> str:
        title = self.step.title or describe_step(self.step)
        return f"step {self.step.number} ({self.step.kind}, line {self.step.line}): {title}"

    def failure(self) -> str:
        failed = "; ".join(
            f"expected {c.name} {_shown(c.expected)}, got {_shown(c.actual)}"
            for c in self.checks
            if not c.ok
        )
        title = self.step.title or describe_step(self.step)
        return f"step {self.step.number} ({self.step.kind}) {title}: {failed}"


class Outcome(msgspec.Struct, kw_only=True):
    results: list[StepResult]
    state: State

    @property
    def failed(self) -> StepResult | None:
        return next((r for r in self.results if not r.passed), None)


def describe_step(step: Step) -> str:
    arg = step.argument
    match step.kind:
        case "customer":
            return f"customer says {_text(arg)!r}"
        case "agent":
            return f"agent replies {_text(arg)!r}"
        case "template":
            return f"agent sends template {arg.name}/{arg.language}"
        case "meta_status":
            return f"Meta reports {arg if isinstance(arg, str) else arg.status}"
        case "meta_fails_next":
            return f"Meta refuses the next send ({arg if isinstance(arg, int) else arg.code})"
        case "run_jobs":
            return "the worker runs the due jobs"
        case "resolve":
            return "agent resolves the conversation"
        case "advance":
            return f"the clock moves {human_duration(arg)}"
        case "assign":
            return "the admin unassigns it" if arg == "nobody" else f"the admin assigns it to {arg}"
        case "label":
            return f"agent labels it {arg!r}"
        case "note":
            return f"agent notes {arg!r}"
        case "media":
            media = arg if isinstance(arg, CustomerMedia) else CustomerMedia(type=arg)
            caption = f" ({media.caption!r})" if media.caption else ""
            return f"customer sends {'an' if media.type == 'image' else 'a'} {media.type}{caption}"
    return step.kind


def _text(arg: str | CustomerSays | AgentSays) -> str:
    return arg if isinstance(arg, str) else arg.text


def action_for(harness: Harness, step: Step) -> Callable[[], Awaitable[list[str]]]:
    arg = step.argument

    async def run() -> list[str]:
        match step.kind:
            case "customer":
                if isinstance(arg, CustomerSays):
                    phone = normalize_phone(arg.from_) if arg.from_ else None
                    return await harness.customer_says(arg.text, wa_id=phone, name=arg.name)
                return await harness.customer_says(arg)
            case "agent":
                return await harness.agent_replies(_text(arg))
            case "template":
                assert isinstance(arg, SendTemplate)
                return await harness.send_template(
                    arg.name, arg.language, [str(p) for p in arg.params]
                )
            case "meta_status":
                if isinstance(arg, MetaStatus):
                    return await harness.meta_status(
                        arg.status, error_code=arg.error_code, error_title=arg.error_title
                    )
                return await harness.meta_status(arg)
            case "meta_fails_next":
                failure = arg if isinstance(arg, MetaFailure) else MetaFailure(code=arg)
                return harness.meta_fails_next(failure.code, failure.http_status)
            case "run_jobs":
                return await harness.run_jobs()
            case "resolve":
                return await harness.resolve()
            case "advance":
                return harness.advance(arg)
            case "assign":
                return await harness.assign(arg)
            case "label":
                return await harness.add_label(arg)
            case "note":
                return await harness.add_note(arg)
            case "media":
                media = arg if isinstance(arg, CustomerMedia) else CustomerMedia(type=arg)
                return await harness.customer_sends(
                    media.type, caption=media.caption, filename=media.filename
                )
        raise AssertionError(f"unhandled step kind {step.kind}")

    return run


async def prepare(harness: Harness, script: Script) -> list[str]:
    """The script's customer and templates, before the first step. A template the
    product refuses is a ``ScriptError`` naming its line."""
    head = script.head
    harness.customer = (normalize_phone(head.customer.phone), head.customer.name)
    notes: list[str] = []
    for t, line in zip(head.templates, script.template_lines, strict=False):
        try:
            notes += await harness.add_template(
                name=t.name, language=t.language, category=t.category, body=t.body,
                header=t.header, footer=t.footer,
                decision=None if t.status == "PENDING" else t.status,
            )  # fmt: skip
        except DomainError as exc:
            raise script.at(line, f"template {t.name!r}: {exc.message}") from None
    return notes


async def run_script(
    harness: Harness, script: Script, on_step: Callable[[StepResult], None] | None = None
) -> Outcome:
    """Run until a step's expectations fail (later steps would only report its fallout)."""
    results: list[StepResult] = []
    for step in script.steps:
        report = await harness.act(action_for(harness, step))
        state = await harness.state()
        result = StepResult(step=step, report=report, checks=judge(step.expect, report, state))
        results.append(result)
        if on_step is not None:
            on_step(result)
        if not result.passed:
            break
    return Outcome(results=results, state=await harness.state())


def judge(expect: Expect | None, report: StepReport, state: State) -> list[Check]:
    checks: list[Check] = []

    def check(name: str, expected: Any, actual: Any) -> None:
        checks.append(Check(name=name, expected=expected, actual=actual, ok=expected == actual))

    wanted_error = expect.error if expect is not None else None
    if wanted_error is not None:
        check("error", wanted_error, report.error_code or "no error")
    elif report.error_code is not None:
        check("outcome", "success", f"refused {report.error_code}: {report.error}")
    if expect is None:
        return checks
    conversation, window = state.conversation, state.window
    if expect.conversation is not None:
        actual = conversation.status.value if conversation else "no conversation"
        check("conversation", expect.conversation, actual)
    if expect.window is not None:
        check("window", expect.window, "open" if window and window.is_open else "closed")
    if expect.unread is not None:
        check("unread", expect.unread, conversation.unread_count if conversation else 0)
    if expect.messages is not None:
        check("messages", expect.messages, len(state.messages))
    if expect.contacts is not None:
        check("contacts", expect.contacts, state.contacts)
    if expect.intent is not None:
        inbound = last_inbound(state)
        check("intent", expect.intent, (inbound.intent if inbound else None) or "none")
    if expect.last_message is not None:
        _last_message(check, expect.last_message, state.messages[-1] if state.messages else None)
    if expect.events is not None:
        kinds = [e.kind for e in report.events]
        if not expect.events:  # `events: []`: nothing at all
            check("events", "none", ", ".join(kinds) or "none")
        for kind in expect.events:
            check("event", kind, kind if kind in kinds else ", ".join(kinds) or "no events")
    if expect.pending_jobs is not None:
        pending = [j.kind for j in state.jobs if j.state is JobState.PENDING]
        if isinstance(expect.pending_jobs, int):
            check("pending jobs", expect.pending_jobs, len(pending))
        else:
            for kind, count in expect.pending_jobs.items():
                check(f"pending {kind} jobs", count, pending.count(kind))
    if expect.sent_to_meta is not None:
        check("sends reaching Meta", expect.sent_to_meta, state.sent_to_meta)
    if expect.assignee is not None:
        check("assignee", expect.assignee, state.assignee)
    if expect.labels is not None:
        labels = sorted(conversation.labels) if conversation else []
        check("labels", sorted(x.strip().lower() for x in expect.labels), labels)
    if expect.notes is not None:
        check("notes", expect.notes, state.notes)
    return checks


def _last_message(
    check: Callable[[str, Any, Any], None], wanted: str | LastMessage, last: Message | None
) -> None:
    if isinstance(wanted, str):
        wanted = LastMessage(status=wanted)
    for field in LastMessage.__struct_fields__:
        expected = getattr(wanted, field)
        if expected is None:
            continue
        if field == "media":
            actual = _media_state(last)
        else:
            actual = getattr(last, field, None) if last is not None else None
        shown = str(actual) if field != "error_code" or actual is None else actual
        check(f"last message {field}", expected, "none" if actual is None else shown)


def _media_state(message: Message | None) -> str | None:
    """``available`` / ``unavailable`` once the ``media.fetch`` job ran, ``pending``
    before; ``None`` for a message without a file."""
    if message is None or message.type not in ("image", "document", "audio", "video"):
        return None
    ref = MediaRef.of(message.content)
    return ref.state.value if ref is not None else "pending"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
