"""Webhooks the simulator posts to the product: signed, Meta-encoded, in the background."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

import httpx

from adapters.meta.signature import sign
from adapters.meta.simulator.state import SentRecord, SimState, SimTemplate
from adapters.meta.simulator.wire import AsyncFailSpec

log = logging.getLogger(__name__)
_shuffler = secrets.SystemRandom()


def encode_like_meta(body: dict[str, Any]) -> bytes:
    """Meta escapes non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``: a receiver that
    re-serialises before checking the signature fails here as it would in production."""
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


class WebhookSender:
    def __init__(self, state: SimState) -> None:
        self._state = state
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.deliveries: list[dict[str, Any]] = []

    # -- lifecycle

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator webhook task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every webhook scheduled so far has been posted."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def cancel_pending(self) -> None:
        """Drop every webhook not posted yet (reset, shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        await self.cancel_pending()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- posting

    async def post(self, body: dict[str, Any], kind: str) -> int | None:
        """Post one webhook (twice under the duplicate fault); the last HTTP status."""
        status = await self._deliver(body, kind)
        if self._state.faults.duplicate_webhooks:
            status = await self._deliver(body, kind)
        return status

    async def _deliver(self, body: dict[str, Any], kind: str) -> int | None:
        settings = self._state.settings
        if settings.callback_url is None:
            self.deliveries.append({"kind": kind, "status_code": None, "error": "no callback"})
            return None
        if self._client is None:
            # Lazily: a simulator mounted inside another app gets no lifespan events.
            self._client = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        raw = encode_like_meta(body)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(settings.app_secret, raw),
        }
        status: int | None = None
        for attempt in range(settings.webhook_retries + 1):
            if attempt:
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
            error: str | None = None
            try:
                response = await self._client.post(
                    settings.callback_url, content=raw, headers=headers
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            self.deliveries.append(
                {
                    "kind": kind,
                    "attempt": attempt + 1,
                    "status_code": status,
                    "error": error,
                    "at": self._state.clock.now(),
                    "body": body,
                }
            )
            if status == 200:  # only a 200 counts as delivered at Meta
                break
        return status

    # -- shapes

    def envelope(self, waba_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": waba_id,
                    "time": int(self._state.clock.now()),
                    "changes": [{"field": field, "value": value}],
                }
            ],
        }

    def messages_value(self, phone_number_id: str, **parts: Any) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self._state.settings.display_phone_number,
                "phone_number_id": phone_number_id,
            },
            **parts,
        }

    def _status(
        self, record: SentRecord, status: str, error: AsyncFailSpec | None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": record.wamid,
            "status": status,
            "timestamp": str(int(self._state.clock.now())),
        }
        if record.wa_id is not None:
            item["recipient_id"] = record.wa_id
        callback = record.body.get("biz_opaque_callback_data")
        if isinstance(callback, str):
            item["biz_opaque_callback_data"] = callback
        # Meta omits the BSUID only on `failed` statuses of sends to a phone number.
        if error is None or "to" not in record.body:
            item["recipient_user_id"] = record.user_id
        if error is not None:
            item["errors"] = [
                {
                    "code": error.code,
                    "title": error.title,
                    "message": error.title,
                    "error_data": {"details": error.details or error.title},
                }
            ]
            return item
        if record.type == "template":
            category = (record.template_category or "utility").lower()
            pricing = {"billable": True, "type": "regular", "category": category}
        else:
            pricing = {"billable": False, "type": "free_customer_service", "category": "service"}
        item["pricing"] = {"pricing_model": "PMP", **pricing}
        return item

    # -- scenarios

    async def statuses_after_send(self, record: SentRecord, failure: AsyncFailSpec | None) -> None:
        delay = self._state.settings.status_delay_ms / 1000
        faults = self._state.faults
        if failure is not None:
            statuses = [self._status(record, "failed", failure)]
        else:
            statuses = [self._status(record, s, None) for s in ("sent", "delivered", "read")]
        if faults.shuffle_statuses:
            _shuffler.shuffle(statuses)
        waba_id = self._state.settings.waba_of(record.phone_number_id)
        batches = [statuses] if faults.batch_statuses else [[s] for s in statuses]
        for batch in batches:
            await asyncio.sleep(delay)
            value = self.messages_value(record.phone_number_id, statuses=batch)
            await self.post(self.envelope(waba_id, "messages", value), "status")

    async def template_decision(self, template: SimTemplate) -> None:
        settings = self._state.settings
        await asyncio.sleep(settings.template_decision_delay_s)
        if template.status != "PENDING":
            return
        if template.name.startswith(settings.reject_prefix):
            template.status, template.reason = "REJECTED", settings.rejection_reason
        else:
            template.status, template.reason = "APPROVED", None
        value = {
            "event": template.status,
            "message_template_id": int(template.id),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "message_template_category": template.category,
            "reason": template.reason or "NONE",
        }
        envelope = self.envelope(template.waba_id, "message_template_status_update", value)
        await self.post(envelope, "template")

    async def template_deleted(self, template: SimTemplate) -> None:
        """Meta's DELETED status update after a template is deleted through the API."""
        value = {
            "event": "DELETED",
            "message_template_id": int(template.id),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "message_template_category": template.category,
            "reason": "NONE",
        }
        envelope = self.envelope(template.waba_id, "message_template_status_update", value)
        await self.post(envelope, "template")
