"""Exports on memory adapters: asking (roles, tenant, audit), the ``export.build`` job
writing page by page with its progress in the job's outcome, status and download."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterable
from datetime import timedelta

import pytest

from adapters.memory.jobs import MemoryOutboxRelay
from adapters.memory.media import MemoryBlobStore
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Contact, Conversation, Direction, Message, Principal
from whatsapp_core.errors import Forbidden, InvalidInput, NotFound
from whatsapp_core.exports import CONTACT_COLUMNS, ExportFormat, ExportKind, export_key
from whatsapp_core.jobs import JobRecord, QueueStatus
from whatsapp_core.media import StoredBlob
from whatsapp_core.policies.access import Role
from whatsapp_core.services import exports
from whatsapp_core.services.exports import (
    build_export,
    download_export,
    export_status,
    request_export,
)

pytestmark = pytest.mark.unit
LEASE = timedelta(seconds=60)


class WatchingBlobStore(MemoryBlobStore):
    """Records the job's outcome each time the export hands over a chunk."""

    def __init__(self, h: Harness) -> None:
        super().__init__()
        self.h = h
        self.seen: list[str | None] = []
        self.chunks = 0

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        async def watched() -> AsyncIterable[bytes]:
            assert not isinstance(data, bytes)
            async for chunk in data:
                self.chunks += 1
                async with self.h.uow() as uow:
                    (job,) = await uow.outbox.list_jobs(self.h.t.id, statuses=set(QueueStatus))
                self.seen.append(job.outcome)
                yield chunk

        return await super().put(key, watched(), content_type=content_type)


async def add_contacts(h: Harness, n: int, *, name: str = "Customer", first: int = 0) -> None:
    now = h.clock.now()
    async with h.uow() as uow:
        await uow.contacts.add_many(
            [
                Contact(
                    id=uuid.uuid4(),
                    tenant_id=h.t.id,
                    wa_id=f"55119{first + i:08d}",
                    name=f"{name} {i}",
                    tags=("vip",) if i % 2 else (),
                    created_at=now,
                    updated_at=now,
                )
                for i in range(n)
            ]
        )
        await uow.commit()


async def conversation_with(h: Harness, texts: list[str]) -> Conversation:
    """Messages in pairs sharing a timestamp, so pages end in the middle of a pair."""
    now = h.clock.now()
    contact = Contact(id=uuid.uuid4(), tenant_id=h.t.id, wa_id="5511999999999", name="Ana",
                      created_at=now, updated_at=now)  # fmt: skip
    conversation = Conversation(id=uuid.uuid4(), tenant_id=h.t.id, contact_id=contact.id,
                                last_message_at=now, created_at=now)  # fmt: skip
    async with h.uow() as uow:
        await uow.contacts.add(contact)
        await uow.conversations.add(conversation)
        for i, text in enumerate(texts):
            await uow.messages.add(
                Message(
                    id=uuid.uuid4(),
                    tenant_id=h.t.id,
                    conversation_id=conversation.id,
                    contact_id=contact.id,
                    type="text",
                    text=text,
                    direction=Direction.INBOUND if i % 3 else Direction.OUTBOUND,
                    created_at=now + timedelta(seconds=i // 2),
                )
            )
        await uow.commit()
    return conversation


async def run_job(h: Harness, blobs: MemoryBlobStore) -> tuple[JobRecord, str]:
    """Claim the export like the worker, build it, record the outcome."""
    relay = MemoryOutboxRelay(h.uow.db)
    (job,) = await relay.claim(1, now=h.clock.now(), lease=LEASE)
    outcome = await build_export(h.svc, blobs, job)
    assert await relay.mark_done(job, now=h.clock.now(), outcome=outcome)
    return job, outcome


async def audit(h: Harness) -> list[tuple[str, str]]:
    async with h.uow() as uow:
        return sorted((e.action, e.actor) for e in await uow.audit.list(h.t.id))


async def test_a_contact_export_is_built_page_by_page_with_progress(h: Harness) -> None:
    await add_contacts(h, 1234)
    await add_contacts(h, 1, name="=HYPERLINK(evil)", first=5000)
    manager = await h.member(Role.MANAGER)
    blobs = WatchingBlobStore(h)

    export_id = await request_export(h.svc, manager, ExportKind.CONTACTS, ExportFormat.CSV)
    queued = await export_status(h.svc, manager, export_id)
    assert (queued.status, queued.rows_done) == ("queued", None)
    with pytest.raises(NotFound) as early:
        await download_export(h.svc, blobs, manager, export_id)
    assert early.value.code == "export_not_ready"
    job, outcome = await run_job(h, blobs)

    assert job.id == export_id
    assert outcome.startswith("exported 1235 of 1235 rows (")
    # header, then three pages of 500 / 500 / 235, each written before its progress
    assert blobs.chunks == 4
    assert blobs.seen == [
        None,
        None,
        "exporting: 500 of 1235 rows",
        "exporting: 1000 of 1235 rows",
    ]
    ready = await export_status(h.svc, manager, export_id)
    assert (ready.status, ready.rows_done, ready.rows_total) == ("ready", 1235, 1235)
    assert ready.filename.startswith("contacts-")
    assert ready.filename.endswith(".csv")

    file = await download_export(h.svc, blobs, manager, export_id)
    assert (file.key, file.url) == (export_key(h.t.id, export_id, ExportFormat.CSV), None)
    rows = list(csv.reader(io.StringIO(blobs.blobs[file.key].data.decode())))
    assert rows[0] == list(CONTACT_COLUMNS)
    assert len(rows) == 1236
    assert len({r[1] for r in rows[1:]}) == 1235  # every phone once
    assert [r[0] for r in rows if "HYPERLINK" in r[0]] == ["'=HYPERLINK(evil) 0"]
    assert await audit(h) == [
        ("export.build", "system"),
        ("export.download", manager.actor),
        ("export.request", manager.actor),
    ]


async def test_a_transcript_pages_by_message_not_by_timestamp(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "PAGE_SIZE", 3)
    texts = [f"message {i}" for i in range(8)]
    conversation = await conversation_with(h, texts)
    agent = h.as_(Role.AGENT)
    blobs = MemoryBlobStore()

    export_id = await request_export(
        h.svc, agent, ExportKind.TRANSCRIPT, ExportFormat.JSON, conversation_id=conversation.id
    )
    _, outcome = await run_job(h, blobs)

    assert outcome.startswith("exported 8 of 8 rows")
    document = json.loads(blobs.blobs[export_key(h.t.id, export_id, ExportFormat.JSON)].data)
    assert document["conversation"]["id"] == str(conversation.id)
    assert document["contact"]["name"] == "Ana"
    stamps = [m["at"] for m in document["messages"]]
    assert stamps == sorted(stamps)
    assert sorted(m["text"] for m in document["messages"]) == texts
    assert {m["author"] for m in document["messages"]} == {"Ana", "system"}
    status = await export_status(h.svc, agent, export_id)
    assert (status.status, status.rows_done, status.conversation_id) == (
        "ready", 8, conversation.id,
    )  # fmt: skip


async def test_a_transcript_as_csv(h: Harness) -> None:
    conversation = await conversation_with(h, ["hi", "-1 is not a formula", 'a "quote", ok'])
    export_id = await request_export(
        h.svc, h.as_(Role.ADMIN), ExportKind.TRANSCRIPT, ExportFormat.CSV,
        conversation_id=conversation.id,
    )  # fmt: skip
    blobs = MemoryBlobStore()
    await run_job(h, blobs)
    text = blobs.blobs[export_key(h.t.id, export_id, ExportFormat.CSV)].data.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["text"]: r["direction"] for r in rows} == {
        "hi": "outbound", "'-1 is not a formula": "inbound", 'a "quote", ok': "inbound",
    }  # fmt: skip
    assert rows[2]["text"] == 'a "quote", ok'  # the later timestamp last


async def test_who_may_export_what(h: Harness) -> None:
    conversation = await conversation_with(h, ["hi"])
    before = h.snapshot()
    for role in (Role.VIEWER, Role.AGENT):
        with pytest.raises(Forbidden):
            await request_export(h.svc, h.as_(role), ExportKind.CONTACTS, ExportFormat.CSV)
    with pytest.raises(Forbidden):
        await request_export(
            h.svc, h.as_(Role.VIEWER), ExportKind.TRANSCRIPT, ExportFormat.CSV,
            conversation_id=conversation.id,
        )  # fmt: skip
    key = Principal(tenant_id=h.t.id, role=Role.AGENT, api_key_id=uuid.uuid4(),
                    scopes=("conversation.export",))  # fmt: skip
    with pytest.raises(Forbidden):
        await request_export(
            h.svc, key, ExportKind.TRANSCRIPT, ExportFormat.CSV, conversation_id=conversation.id
        )
    assert h.snapshot() == before

    contacts = await request_export(h.svc, h.as_(Role.MANAGER), ExportKind.CONTACTS,
                                    ExportFormat.CSV)  # fmt: skip
    with pytest.raises(Forbidden):  # an agent may not follow the address book's export
        await export_status(h.svc, h.as_(Role.AGENT), contacts)
    with pytest.raises(Forbidden):
        await export_status(h.svc, h.as_(Role.VIEWER), contacts)


async def test_bad_requests_are_refused(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    before = h.snapshot()
    with pytest.raises(InvalidInput):
        await request_export(h.svc, manager, ExportKind.TRANSCRIPT, ExportFormat.CSV)
    with pytest.raises(InvalidInput):
        await request_export(h.svc, manager, ExportKind.CONTACTS, ExportFormat.CSV,
                             conversation_id=uuid.uuid4())  # fmt: skip
    with pytest.raises(NotFound):
        await request_export(h.svc, manager, ExportKind.TRANSCRIPT, ExportFormat.CSV,
                             conversation_id=uuid.uuid4())  # fmt: skip
    with pytest.raises(NotFound):
        await export_status(h.svc, manager, uuid.uuid4())
    assert h.snapshot() == before


async def test_another_tenants_export_is_not_found(h: Harness) -> None:
    export_id = await request_export(
        h.svc, h.as_(Role.MANAGER), ExportKind.CONTACTS, ExportFormat.CSV
    )
    other = await h.add_tenant("globex", phone_number_id="2222222222", waba_id="3333333333")
    theirs = h.as_(Role.ADMIN, other)
    before = h.snapshot()
    with pytest.raises(NotFound):
        await export_status(h.svc, theirs, export_id)
    with pytest.raises(NotFound):
        await download_export(h.svc, h.blobs, theirs, export_id)
    assert h.snapshot() == before


async def test_a_job_that_is_not_an_export_is_not_an_export(h: Harness) -> None:
    async with h.uow() as uow:
        job_id = await h.svc.enqueue(uow, h.t.id, "msg.send", {"message_id": str(uuid.uuid4())})
        await uow.commit()
    with pytest.raises(NotFound):
        await export_status(h.svc, h.as_(Role.ADMIN), job_id)


async def test_a_transcript_of_a_deleted_conversation_fails_for_good(h: Harness) -> None:
    conversation = await conversation_with(h, ["hi"])
    await request_export(h.svc, h.as_(Role.AGENT), ExportKind.TRANSCRIPT, ExportFormat.CSV,
                         conversation_id=conversation.id)  # fmt: skip
    async with h.uow() as uow:
        await uow.contacts.delete(h.t.id, conversation.contact_id)
        await uow.commit()
    (job,) = await MemoryOutboxRelay(h.uow.db).claim(1, now=h.clock.now(), lease=LEASE)
    with pytest.raises(NotFound):  # a DomainError: the retry policy buries it at once
        await build_export(h.svc, MemoryBlobStore(), job)
