"""The test harness behind ``wa simulate``: the whole product on its memory twins, in this
process. No server, no database: a hand-moved clock, Meta's webhooks built in Meta's wire
format and fed to the webhook door's own steps, agents acting through the use cases, and
the outbox jobs run by the real worker when a step asks for it."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from adapters.memory.basics import FrozenClock
from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.idempotency import MemoryIdempotencyGuard
from adapters.memory.media import MemoryMediaFetcher
from adapters.meta import decode_webhook, sign, verify_signature
from adapters.meta.translate import to_batch
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.cli.fake_meta import (
    DEFAULT_NAME,
    DEFAULT_PHONE,
    DISPLAY_PHONE_NUMBER,
    PHONE_NUMBER_ID,
    SAMPLE_FILES,
    WABA_ID,
    MetaWebhooks,
    bsuid_for,
)
from entrypoints.cli.harness_team import TeamSteps
from entrypoints.cli.records import (
    RecordingPublisher,
    SequentialIds,
    State,
    StepRefused,
    StepReport,
    counted,
    human_duration,
)
from entrypoints.settings import Settings
from entrypoints.worker.handlers import media_fetch
from entrypoints.worker.runner import Worker, build_worker
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import (
    Direction,
    Message,
    Principal,
)
from whatsapp_core.errors import DomainError
from whatsapp_core.jobs import MEDIA_FETCH, JobRecord, JobState
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.template_content import TemplateComponents
from whatsapp_core.policies.window import window_state
from whatsapp_core.services import accounts, conversations, outbound, templates
from whatsapp_core.services.context import CURRENT_CORRELATION_ID
from whatsapp_core.services.inbound_guard import ingest_unless_seen

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(seconds=1)  # every step takes a second, so messages never tie


class Harness(TeamSteps):
    def __init__(self, *, slug: str = "acme", start: datetime = START) -> None:
        self.clock = FrozenClock(start)
        self.runtime: Runtime = build_runtime(Settings(profile="memory"))  # no env, offline AI
        self.runtime.clock = self.clock
        self.runtime.ids = SequentialIds()
        self.runtime.guard = MemoryIdempotencyGuard(self.clock)
        self.recorder = RecordingPublisher()
        self.runtime.events = self.recorder
        self.meta = MetaWebhooks(
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number=DISPLAY_PHONE_NUMBER,
        )
        self.slug = slug
        self.customer = (DEFAULT_PHONE, DEFAULT_NAME)
        self.focus: uuid.UUID | None = None  # the current customer's conversation
        self._wamids = itertools.count(1)
        self._steps = itertools.count(1)
        assert isinstance(self.runtime.gateway, MemoryWhatsAppGateway)
        self._gateway = self.runtime.gateway
        self.media = MemoryMediaFetcher()  # Meta's copies of the files customers send

    async def start(self) -> None:
        await self.runtime.start()
        blobs = self.runtime.blobs
        assert blobs is not None
        fetch = media_fetch(lambda: self.runtime.services, self.media, blobs)
        self.worker: Worker = build_worker(
            self.runtime, self._gateway, handlers={MEDIA_FETCH: fetch}
        )
        svc, hasher = self.runtime.services, self.runtime.hasher
        self.tenant, admin = await accounts.register_tenant(
            svc, hasher, slug=self.slug, name=f"{self.slug.title()} Store",
            admin_email=f"admin@{self.slug}.example", admin_name="Alex Admin",
            admin_password=secrets.token_urlsafe(16), waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID, display_phone_number=DISPLAY_PHONE_NUMBER,
        )  # fmt: skip
        self.admin = Principal(tenant_id=self.tenant.id, role=Role.ADMIN, user_id=admin.id)
        agent = await accounts.create_user(
            svc, hasher, self.admin, email=f"agent@{self.slug}.example", name="Ana Agent",
            role=Role.AGENT, password=secrets.token_urlsafe(16),
        )  # fmt: skip
        self.agent = Principal(tenant_id=self.tenant.id, role=Role.AGENT, user_id=agent.id)
        self.recorder.events.clear()

    async def stop(self) -> None:
        await self.runtime.stop()

    # -- running a step ------------------------------------------------------------

    async def act(self, action: Callable[[], Awaitable[list[str]]]) -> StepReport:
        """Run one step: a tick of the clock, the action, then what it queued and
        published. A refusal by the product (``DomainError``) is part of the report."""
        self.clock.advance(TICK)
        first_event = len(self.recorder.events)
        before = {job.id for job in await self.jobs()}
        report = StepReport()
        token = CURRENT_CORRELATION_ID.set(f"sim-step-{next(self._steps)}")
        try:
            with capture_logs() as logs:
                report.notes = await action()
        except DomainError as exc:
            report.error_code, report.error = exc.code, exc.message
        finally:
            CURRENT_CORRELATION_ID.reset(token)
        report.notes += [
            f"worker log: {e['log_level']} {e['event']} {e.get('error', '')}".rstrip()
            for e in logs
            if e.get("log_level") in ("warning", "error")
        ]
        queued = [j for j in await self.jobs() if j.id not in before]
        waiting = [j.kind for j in queued if j.state is JobState.PENDING]
        if waiting:
            report.notes.append("outbox: queued " + counted(waiting))
        report.events = self.recorder.events[first_event:]
        return report

    async def _webhook(self, body: bytes) -> str:
        """The webhook door's steps, minus HTTP: signature, decode, translate, ingest."""
        signature = sign(self.runtime.meta_app_secret, body)
        if not verify_signature(self.runtime.meta_app_secret, body, signature):
            raise StepRefused("the webhook signature did not verify")
        batch = to_batch(decode_webhook(body))
        delivery = await ingest_unless_seen(self.runtime.services, self.runtime.guard, batch)
        r = delivery.report
        if delivery.absorbed:
            return "ingest: a redelivery, absorbed by the duplicate guard (no transaction)"
        counts = (
            (r.messages_stored, "message(s) stored"),
            (r.messages_duplicate, "duplicate message(s)"),
            (r.contacts_created, "contact(s) created"),
            (r.conversations_opened, "conversation(s) opened"),
            (r.statuses_applied, "status(es) applied"),
            (r.statuses_stale, "stale status(es) ignored"),
            (r.statuses_pending, "status(es) kept for a wamid not known yet"),
            (r.templates_updated, "template(s) updated"),
        )
        shown = ", ".join(f"{n} {what}" for n, what in counts if n) or "nothing changed"
        return f"ingest_webhook (one transaction): {shown}"

    # -- what a step can do ------------------------------------------------------------

    async def customer_says(
        self, text: str, *, wa_id: str | None = None, name: str | None = None
    ) -> list[str]:
        if wa_id is not None or name is not None:
            self.customer = (wa_id or self.customer[0], name or self.customer[1])
        phone, person = self.customer
        wamid = f"wamid.SIM{next(self._wamids):010d}"
        body = self.meta.text_message(
            wamid=wamid, wa_id=phone, name=person, text=text, at=self.clock.now()
        )
        notes = [
            f"Meta POSTs a webhook ({len(body)} bytes): message {wamid} "
            f"from +{phone} ({person}, {bsuid_for(phone)})",
            "X-Hub-Signature-256 verified, body decoded and translated",
            await self._webhook(body),
        ]
        self.focus = await self._conversation_of(phone)
        return notes

    async def customer_sends(
        self, kind: str, *, caption: str | None = None, filename: str | None = None
    ) -> list[str]:
        """An image or document: Meta keeps the file and the webhook names its id."""
        phone, person = self.customer
        mime_type, sample_name, data = SAMPLE_FILES[kind]
        media_id = self.media.add(data, mime_type)
        media = {"id": media_id, "mime_type": mime_type, "sha256": hashlib.sha256(data).hexdigest()}
        if caption:
            media["caption"] = caption
        if kind == "document":
            media["filename"] = filename or sample_name
        wamid = f"wamid.SIM{next(self._wamids):010d}"
        body = self.meta.media_message(
            wamid=wamid, wa_id=phone, name=person, kind=kind, media=media, at=self.clock.now()
        )
        notes = [
            f"Meta POSTs a webhook ({len(body)} bytes): {kind} {wamid} from +{phone}, "
            f"media id {media_id} ({len(data)} bytes, {mime_type}, kept at Meta)",
            "X-Hub-Signature-256 verified, body decoded and translated",
            await self._webhook(body),
        ]
        self.focus = await self._conversation_of(phone)
        return notes

    async def agent_replies(self, text: str) -> list[str]:
        message = await outbound.send_reply(self.runtime.services, self.agent, self._focus(), text)
        return [f"send_reply: message {message.id} stored as accepted, msg.send queued"]

    async def send_template(self, name: str, language: str, params: list[str]) -> list[str]:
        svc, phone = self.runtime.services, self.customer[0]
        target = (
            {"conversation_id": self.focus}
            if self.focus is not None
            else {"to": CustomerIdentity(wa_id=phone, bsuid=bsuid_for(phone))}
        )
        message = await outbound.send_template(
            svc, self.agent, name=name, language=language, body_params=params, **target
        )
        self.focus = message.conversation_id
        return [f"send_template {name}/{language}: {message.text!r} stored as accepted"]

    async def meta_status(
        self, status: str, *, error_code: int | None = None, error_title: str | None = None
    ) -> list[str]:
        sent = [
            m
            for m in (await self.state()).messages
            if m.wamid and m.direction is Direction.OUTBOUND
        ]
        if not sent:
            raise StepRefused(
                "no message has reached Meta yet: run the jobs (run_jobs) first",
                code="nothing_sent",
            )
        target = sent[-1]
        assert target.wamid is not None
        if status == "failed" and error_code is None:
            error_code = 131000  # Meta's "something went wrong"
        body = self.meta.status(
            wamid=target.wamid, status=status, wa_id=self.customer[0], at=self.clock.now(),
            error_code=error_code, error_title=error_title,
        )  # fmt: skip
        return [
            f"Meta POSTs a status webhook: {target.wamid} is {status}"
            + (f" (error {error_code})" if error_code is not None else ""),
            await self._webhook(body),
        ]

    def meta_fails_next(self, code: int, http_status: int = 400) -> list[str]:
        self._gateway.fail_next(code, http_status=http_status)
        return [f"Meta will refuse the next send with error {code} (HTTP {http_status})"]

    async def run_jobs(self) -> list[str]:
        before = {job.id: job for job in await self.jobs()}
        await self.worker.drain()
        notes = [
            f"{job.kind} → {job.state.value}: {job.outcome or job.last_error or ''}".rstrip(": ")
            for job in await self.jobs()
            if before.get(job.id) != job
        ]
        return notes or ["no job was due"]

    def advance(self, delta: timedelta) -> list[str]:
        self.clock.advance(delta)
        return [f"clock moved {human_duration(delta)}: now {self.clock.now().isoformat()}"]

    async def add_template(
        self, *, name: str, language: str, category: str, body: str,
        header: str | None, footer: str | None, decision: str | None,
    ) -> list[str]:  # fmt: skip
        svc = self.runtime.services
        components = TemplateComponents(body=body, header_text=header, footer=footer)
        draft = await templates.create_template(
            svc, self.admin, name=name, language=language, category=category,
            components=components,
        )  # fmt: skip
        pending = await templates.submit_template(svc, self._gateway, self.admin, draft.id)
        notes = [f"template {name}/{language} created and submitted to Meta ({pending.meta_id})"]
        if decision is not None:
            webhook = self.meta.template_decision(
                pending, event=decision, reason=None, at=self.clock.now()
            )
            notes.append(f"Meta decides {decision}: " + await self._webhook(webhook))
        return notes

    # -- looking -------------------------------------------------------------------------

    def _focus(self) -> uuid.UUID:
        if self.focus is None:
            raise StepRefused("no conversation yet: a customer must write first", code="no_focus")
        return self.focus

    async def _conversation_of(self, wa_id: str) -> uuid.UUID | None:
        async with self.runtime.uow() as uow:
            contact = await uow.contacts.by_wa_id(self.tenant.id, wa_id)
            if contact is None:
                return None
            found = await uow.conversations.for_contact(self.tenant.id, contact.id)
        return found.id if found is not None else None

    async def jobs(self) -> list[JobRecord]:
        found = await self.worker.relay.list_jobs(tenant_id=self.tenant.id, limit=100_000)
        return sorted(found, key=lambda j: (j.created_at, str(j.id)))

    async def state(self) -> State:
        svc, now = self.runtime.services, self.clock.now()
        async with svc.uow() as uow:
            contacts = await uow.contacts.count(self.tenant.id)
        contact = conversation = window = None
        messages: list[Message] = []
        notes = 0
        if self.focus is not None:
            view, newest_first = await conversations.get_thread(
                svc, self.admin, self.focus, limit=200
            )
            contact, conversation = view.contact, view.conversation
            window = window_state(conversation.last_inbound_at, now)
            messages = list(reversed(newest_first))
            notes = len(await accounts.list_notes(svc, self.admin, self.focus))
        team = {self.agent.user_id: "agent", self.admin.user_id: "admin"}
        assignee = team.get(conversation.assignee_id, "nobody") if conversation else "nobody"
        return State(
            now=now, contact=contact, conversation=conversation, window=window,
            messages=messages, jobs=await self.jobs(), contacts=contacts,
            sent_to_meta=len(self._gateway.sent), assignee=assignee, notes=notes,
        )  # fmt: skip
