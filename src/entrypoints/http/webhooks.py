"""Flow 1's door: Meta's webhook verification and deliveries.

The handler checks the signature over the raw bytes, decodes, hands the whole batch
to the core in one call and answers 200 only once it is stored (503 otherwise, so
Meta retries). A redelivery whose every message and status was already stored is
answered by the duplicate guard without touching the database. Deliveries arriving
together share one transaction (``IngestCoalescer``): Meta's one-message deliveries
would otherwise pay a whole transaction each.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import structlog
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from adapters.meta import decode_webhook, verify_signature
from adapters.meta.signature import phone_number_ids
from adapters.meta.translate import to_batch
from entrypoints.bootstrap import Runtime
from entrypoints.http.problems import problem
from whatsapp_core.errors import InvalidInput
from whatsapp_core.services import tenants
from whatsapp_core.services.inbound_coalesce import IngestCoalescer
from whatsapp_core.services.inbound_guard import ingest_unless_seen

log = structlog.get_logger(__name__)
# A JSON ``\u0000`` escape not itself escaped (after an even run of backslashes).
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


class WhatsAppWebhookController(Controller):
    path = "/api/webhooks/whatsapp"
    tags = ("webhooks",)

    @get(media_type=MediaType.TEXT, summary="Meta's verification handshake")
    async def verify(
        self,
        runtime: NamedDependency[Runtime],
        mode: Annotated[str | None, QueryParameter(name="hub.mode")] = None,
        token: Annotated[str | None, QueryParameter(name="hub.verify_token")] = None,
        challenge: Annotated[str | None, QueryParameter(name="hub.challenge")] = None,
    ) -> Response[Any]:
        if (
            mode == "subscribe"
            and token is not None
            and challenge
            and await tenants.is_verify_token(runtime.services, runtime.meta_verify_token, token)
        ):
            return Response(challenge, media_type=MediaType.TEXT)
        return problem(
            403, "Forbidden", "hub.mode must be subscribe and hub.verify_token must match"
        )

    @post(
        status_code=200, summary="Meta's signed webhook deliveries (messages, statuses, templates)"
    )
    async def receive(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
    ) -> Response[Any]:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        if not verify_signature(
            runtime.meta_app_secret, body, signature
        ) and not await _signed_by_the_tenants_own_app(runtime, body, signature):
            runtime.counters["webhook_bad_signature"] += 1
            log.warning("webhook refused: bad signature", has_header=signature is not None)
            return problem(401, "Unauthorized", "missing or invalid X-Hub-Signature-256")
        if b"\\u0000" in body:
            # PostgreSQL cannot store U+0000; refusing the delivery would lose every
            # other message of the batch with it (verified above, so dropped here).
            body = _NUL_ESCAPE.sub(rb"\1", body)
        try:
            batch = to_batch(decode_webhook(body))
        except InvalidInput as exc:
            runtime.counters["webhook_malformed"] += 1
            return problem(400, "Bad Request", exc.message, code=exc.code)
        delivery = await ingest_unless_seen(
            runtime.services,
            runtime.guard,
            batch,
            ttl_seconds=runtime.settings.webhook_seen_ttl_seconds,
            correlation_id=request.headers.get("x-request-id"),
            ingest=_coalescer_of(request).ingest,
        )
        report = delivery.report
        if delivery.absorbed:
            runtime.counters["webhook_duplicates_absorbed"] += 1
        if report.unknown_numbers:
            runtime.counters["webhook_unknown_number"] += len(report.unknown_numbers)
            log.warning("webhook for unknown phone numbers", numbers=report.unknown_numbers)
        return Response(
            {
                "stored": report.messages_stored,
                "duplicates": report.messages_duplicate,
                "statuses": report.statuses_applied + report.statuses_pending,
                "templates": report.templates_updated,
                "absorbed": delivery.absorbed,
            },
            status_code=200,
        )


def _coalescer_of(request: Request[Any, Any, Any]) -> IngestCoalescer:
    coalescer: IngestCoalescer = request.app.state.ingest  # made by create_app
    return coalescer


async def _signed_by_the_tenants_own_app(
    runtime: Runtime, body: bytes, signature: str | None
) -> bool:
    """A tenant that brought its own Meta app gets deliveries signed with that app's
    secret (the core decides which secret, if any, may vouch for these numbers)."""
    if signature is None or runtime.secrets is None:
        return False
    numbers = phone_number_ids(body)
    secret = await tenants.own_app_secret(runtime.services, runtime.secrets, numbers)
    return secret is not None and verify_signature(secret, body, signature)
