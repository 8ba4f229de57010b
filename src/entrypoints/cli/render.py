"""How ``wa simulate`` shows its work: rich tables for people, plain data for ``--json``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from entrypoints.cli.records import State, StepReport
from entrypoints.cli.scenario import StepResult
from whatsapp_core.domain.model import DomainEvent, Message
from whatsapp_core.jobs import JobRecord
from whatsapp_core.media import MediaRef


def _time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _cut(text: str | None, width: int = 48) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


# -- for people ---------------------------------------------------------------------------


def print_report(console: Console, report: StepReport) -> None:
    for note in report.notes:
        console.print(f"  [dim]·[/dim] {escape(note)}")
    if report.error_code is not None:
        console.print(
            f"  [yellow]refused[/yellow] {report.error_code}: {escape(report.error or '')}"
        )
    if report.events:
        kinds = ", ".join(e.kind for e in report.events)
        console.print(f"  [dim]events:[/dim] {escape(kinds)}")


def print_step(console: Console, result: StepResult) -> None:
    console.print(f"[bold]▶ {escape(result.describe())}[/bold]")
    print_report(console, result.report)
    for c in result.checks:
        if c.ok:
            console.print(f"  [green]✓[/green] {escape(c.name)} {escape(str(c.expected))}")
        else:
            console.print(
                f"  [red]✗ expected {escape(c.name)} {escape(str(c.expected))}, "
                f"got {escape(str(c.actual))}[/red]"
            )


def events_table(events: list[DomainEvent]) -> Table:
    table = Table(title="Domain events", title_justify="left")
    table.add_column("event")
    table.add_column("payload", overflow="fold")
    for event in events:
        payload = {k: v for k, v in event.payload.items() if v is not None}
        table.add_row(event.kind, escape(json.dumps(payload, ensure_ascii=False)))
    return table


def print_state(console: Console, state: State) -> None:
    contact, conversation, window = state.contact, state.conversation, state.window
    if contact is not None and conversation is not None:
        table = Table(title="Contact and conversation", title_justify="left", show_header=False)
        table.add_column("field", style="dim")
        table.add_column("value")
        table.add_row("contact", escape(f"{contact.display_name} (+{contact.wa_id})"))
        table.add_row("BSUID", contact.bsuid or "-")
        table.add_row("conversation", f"{conversation.status.value}  ({conversation.id})")
        closes = _time(window.closes_at) if window else "-"
        shown = "open" if window and window.is_open else "closed"
        table.add_row("24 h window", f"{shown} (closes {closes} UTC)")
        table.add_row("unread", str(conversation.unread_count))
        table.add_row("assignee", state.assignee)
        table.add_row("labels", escape(", ".join(conversation.labels)) or "-")
        table.add_row("notes", str(state.notes))
        table.add_row("contacts in tenant", str(state.contacts))
        console.print(table)
    console.print(messages_table(state.messages))
    console.print(jobs_table(state.jobs))


def _shown_text(m: Message) -> str:
    """A file shows as ``[image: available] caption``."""
    ref = MediaRef.of(m.content)
    if m.type not in ("image", "document", "audio", "video"):
        return m.text or ""
    state = ref.state.value if ref is not None else "pending"
    return f"[{m.type}: {state}] {m.text or ''}".rstrip()


def messages_table(messages: list[Message]) -> Table:
    table = Table(title="Messages", title_justify="left")
    for column in ("time", "dir", "type", "text", "status", "intent", "error"):
        table.add_column(column)
    for m in messages:
        table.add_row(
            _time(m.created_at), "→" if m.direction == "outbound" else "←", m.type,
            escape(_cut(_shown_text(m))), str(m.status or "-"), m.intent or "-",
            str(m.error_code) if m.error_code is not None else "",
        )  # fmt: skip
    return table


def jobs_table(jobs: list[JobRecord]) -> Table:
    table = Table(title="Outbox jobs", title_justify="left")
    for column in ("kind", "state", "tries", "outcome"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job.kind, job.state.value, str(job.attempts),
            escape(_cut(job.outcome or job.last_error, 60)),
        )  # fmt: skip
    return table


# -- for machines ---------------------------------------------------------------------------


def event_json(event: DomainEvent) -> dict[str, Any]:
    return {"kind": event.kind, "at": event.at.isoformat(), "payload": event.payload}


def report_json(report: StepReport) -> dict[str, Any]:
    error = (
        {"code": report.error_code, "message": report.error}
        if report.error_code is not None
        else None
    )
    return {
        "notes": report.notes,
        "events": [event_json(e) for e in report.events],
        "error": error,
    }


def step_json(result: StepResult) -> dict[str, Any]:
    step = result.step
    return {
        "step": step.number,
        "line": step.line,
        "kind": step.kind,
        "description": result.describe(),
        **report_json(result.report),
        "checks": [
            {"name": c.name, "expected": c.expected, "actual": c.actual, "ok": c.ok}
            for c in result.checks
        ],
        "passed": result.passed,
    }


def state_json(state: State) -> dict[str, Any]:
    contact, conversation, window = state.contact, state.conversation, state.window
    return {
        "now": state.now.isoformat(),
        "contact": None
        if contact is None
        else {"id": str(contact.id), "name": contact.name, "wa_id": contact.wa_id,
              "bsuid": contact.bsuid},
        "conversation": None
        if conversation is None
        else {"id": str(conversation.id), "status": conversation.status.value,
              "unread": conversation.unread_count, "assignee": state.assignee,
              "labels": list(conversation.labels), "notes": state.notes,
              "window_open": bool(window and window.is_open),
              "window_closes_at": window.closes_at.isoformat()
              if window and window.closes_at else None},
        "messages": [
            {"id": str(m.id), "direction": str(m.direction), "type": m.type, "text": m.text,
             "status": str(m.status) if m.status else None, "wamid": m.wamid,
             "intent": m.intent, "error_code": m.error_code, "at": m.created_at.isoformat()}
            for m in state.messages
        ],
        "jobs": [
            {"id": str(j.id), "kind": j.kind, "state": j.state.value, "attempts": j.attempts,
             "outcome": j.outcome, "last_error": j.last_error}
            for j in state.jobs
        ],
        "contacts": state.contacts,
        "sent_to_meta": state.sent_to_meta,
    }  # fmt: skip
