"""A running app (real PostgreSQL + real Redis) and tenants built through its HTTP API,
shared by the RBAC and IDOR suites.

One ``Http`` per test module (building the app and its database is the slow part);
every test makes its own tenants, so no test sees another's data. Everything a tenant
holds is made through the public API as its admin would make it, except what only
Meta or a worker produces (a stored media copy, a webhook delivery), which goes
through the same core use cases the worker runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import redis
from litestar.testing import TestClient

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.media import MemoryMediaFetcher
from adapters.meta import sign
from adapters.postgres.engine import with_database
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.support.databases import TEMPLATE, run_sync
from whatsapp_core.automation import DeliveryResult, WebhookJob
from whatsapp_core.policies.access import API_KEY_ACTIONS
from whatsapp_core.policies.quota import LoginLimits, QuotaLimits
from whatsapp_core.services.automation import deliver_event
from whatsapp_core.services.media import fetch_inbound_media
from whatsapp_core.services.outbound import deliver_message

T = TypeVar("T")

PASSWORD = "correct horse battery"
APP_SECRET = "rbac-idor-app-secret"
REDIS_URL = "redis://127.0.0.1:6379/3"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
Headers = dict[str, str]


def redis_reachable(url: str = REDIS_URL) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class _DeliveredSink:
    """A receiver that answered 200, for seeding the delivery log."""

    async def deliver(
        self, url: str, body: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> DeliveryResult:
        return DeliveryResult(status_code=200, latency_ms=1.0, response_excerpt="ok")


@dataclass
class Http:
    client: TestClient  # type: ignore[type-arg]
    runtime: Runtime
    gateway: MemoryWhatsAppGateway
    fetcher: MemoryMediaFetcher

    def call(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        *,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        self.client.cookies.clear()  # only the headers given say who calls
        response: httpx.Response = self.client.request(
            method, path, headers=dict(headers or {}), json=json, content=content
        )
        self.client.cookies.clear()
        return response

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a coroutine on the app's own event loop (where its pools live)."""
        result: T = self.client.blocking_portal.call(fn, *args)
        return result


@contextlib.contextmanager
def running_app(admin_url: str, data_dir: Path) -> Iterator[Http]:
    """The production profile on a fresh database of the embedded server and real Redis;
    Meta's side is the in-memory gateway (nothing leaves the machine)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = with_database(admin_url, name)
    run_sync(_admin_sql(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        settings = load_settings(
            {
                "WA_PROFILE": "production",
                "WA_DATABASE_URL": url,
                "WA_REDIS_URL": REDIS_URL,
                "WA_SECRET_KEY": "s" * 40,
                "WA_META_APP_SECRET": APP_SECRET,
                "WA_META_VERIFY_TOKEN": "verify-me",
                "WA_DATA_DIR": str(data_dir),
            }
        )
        runtime = build_runtime(settings)
        runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        gateway = MemoryWhatsAppGateway()
        runtime.gateway = gateway
        # These suites sign in hundreds of times from one address within minutes; the
        # limits have their own tests.
        runtime.login_limits = LoginLimits(per_account=10**6, per_client=10**6)
        runtime.quota_limits = QuotaLimits(per_user=10**6, per_tenant=10**6)
        app = create_app(runtime)
        with TestClient(app=app, raise_server_exceptions=False) as client:
            yield Http(client, runtime, gateway, MemoryMediaFetcher())
    finally:
        run_sync(_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(admin_url: str, statement: str) -> None:
    # Not ``fresh_database``: its generator would be finalised (dropping the database)
    # by the first ``asyncio.run`` that suspends it.
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def new_phone() -> str:
    return "5511" + "".join(secrets.choice("0123456789") for _ in range(9))


def new_bsuid() -> str:
    return "BR." + "".join(secrets.choice("0123456789") for _ in range(20))


def meta_id() -> str:
    return str(100_000_000_000_000 + secrets.randbelow(899_999_999_999_999))


@dataclass
class Conversation:
    id: str
    phone: str
    name: str
    text: str
    message_id: str


@dataclass
class World:
    """One tenant, made through the API. Users, keys and data appear on first use."""

    http: Http
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    waba_id: str = field(default_factory=meta_id)
    pnid: str = field(default_factory=meta_id)
    tenant_id: str = ""
    admin: Headers = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    # Strings only this tenant's data contains (its tag is in every name and text it
    # makes; ids and phones are added as they appear): a leak check looks for them.
    markers: set[str] = field(default_factory=set)
    _sessions: dict[str, Headers] = field(default_factory=dict)
    _api_key: Headers | None = None

    @classmethod
    def register(cls, http: Http) -> World:
        world = cls(http)
        answer = http.call(
            "POST", "/api/auth/register",
            json={
                "tenant_slug": f"t-{world.tag}", "tenant_name": f"Team {world.tag}",
                "email": f"admin@{world.tag}.test", "name": f"Admin {world.tag}",
                "password": PASSWORD, "waba_id": world.waba_id, "phone_number_id": world.pnid,
            },
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        session = answer.json()
        world.tenant_id = session["user"]["tenant_id"]
        world.admin = bearer(session["access_token"])
        world.user_ids["admin"] = session["user"]["id"]
        world._sessions["admin"] = world.admin
        world.markers |= {world.tag, world.tenant_id, world.waba_id, world.pnid}
        world.markers.add(session["user"]["id"])
        return world

    # -- principals ------------------------------------------------------------------

    def user(self, role: str, name: str | None = None) -> Headers:
        """A user of ``role`` created by the admin over the API, signed in over the API."""
        name = name or role
        if name not in self._sessions:
            email = f"{name}@{self.tag}.test"
            created = self.http.call(
                "POST", "/api/users", self.admin,
                json={"email": email, "name": f"{name} {self.tag}", "role": role,
                      "password": PASSWORD},
            )  # fmt: skip
            assert created.status_code == 201, created.text
            self.user_ids[name] = created.json()["id"]
            self.markers.add(created.json()["id"])
            login = self.http.call(
                "POST", "/api/auth/login", json={"email": email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            self._sessions[name] = bearer(login.json()["access_token"])
        return self._sessions[name]

    def api_key(self) -> Headers:
        if self._api_key is None:
            self._api_key = bearer(self.new_api_key()["token"])
        return self._api_key

    def principal(self, who: str) -> Headers:
        return self.api_key() if who == "apikey" else self.user(who)

    # -- data --------------------------------------------------------------------------

    def webhook(self, value: dict[str, Any], field_name: str = "messages") -> dict[str, Any]:
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": self.waba_id, "changes": [{"field": field_name, "value": value}]}],
            }
        ).encode()
        headers = {
            "X-Hub-Signature-256": sign(APP_SECRET, body),
            "Content-Type": "application/json",
        }
        answer = self.http.call("POST", "/api/webhooks/whatsapp", headers, content=body)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def customer_says(
        self, message: dict[str, Any] | None = None, *, phone: str | None = None
    ) -> Conversation:
        """A signed Meta webhook with one inbound message from a new customer, sent now."""
        phone = phone or new_phone()
        name = f"Customer {self.tag}"
        text = f"where is order {self.tag}-{uuid.uuid4().hex[:4]}?"
        message = {
            "from": phone, "id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(int(time.time())),
            **(message or {"type": "text", "text": {"body": text}}),
        }  # fmt: skip
        report = self.webhook(
            {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": self.pnid},
                "contacts": [{"profile": {"name": name}, "wa_id": phone}],
                "messages": [message],
            }
        )
        assert report["stored"] == 1, report
        listed = self.http.call("GET", "/api/conversations?limit=200", self.admin)
        assert listed.status_code == 200, listed.text
        (conversation,) = [c for c in listed.json() if c["contact"]["wa_id"] == phone]
        thread = self.http.call("GET", f"/api/conversations/{conversation['id']}", self.admin)
        assert thread.status_code == 200, thread.text
        (stored,) = thread.json()["messages"]
        self.markers |= {phone, conversation["id"], conversation["contact"]["id"], stored["id"]}
        return Conversation(conversation["id"], phone, name, text, stored["id"])

    def customer_sends_picture(self) -> Conversation:
        """An inbound image, copied into the blob store as the ``media.fetch`` job would."""
        media_id = self.http.fetcher.add(PNG, "image/png")
        conversation = self.customer_says(
            {
                "type": "image",
                "image": {
                    "id": media_id,
                    "mime_type": "image/png",
                    "sha256": hashlib.sha256(PNG).hexdigest(),
                },
            }
        )
        runtime = self.http.runtime
        assert runtime.blobs is not None
        outcome = self.http.run(
            lambda: fetch_inbound_media(
                runtime.services,
                self.http.fetcher,
                runtime.blobs,  # type: ignore[arg-type]
                uuid.UUID(self.tenant_id),
                uuid.UUID(conversation.message_id),
            )
        )
        assert outcome.startswith("stored"), outcome
        return conversation

    def failed_reply(self, conversation_id: str | None = None) -> tuple[str, str]:
        """An agent's reply that Meta refused for good (131026): (conversation, message)."""
        cid = conversation_id or self.customer_says().id
        reply = self.http.call(
            "POST", f"/api/conversations/{cid}/messages", self.admin, json={"text": "On its way"}
        )
        assert reply.status_code == 202, reply.text
        mid = reply.json()["id"]
        self.http.gateway.fail_next(131026)
        runtime, gateway = self.http.runtime, self.http.gateway
        tenant_id, message_id = uuid.UUID(self.tenant_id), uuid.UUID(mid)
        outcome = self.http.run(
            lambda: deliver_message(runtime.services, gateway, tenant_id, message_id)
        )
        assert outcome == "failed", outcome
        self.markers.add(mid)
        return cid, mid

    def note(self, conversation_id: str) -> dict[str, Any]:
        return self.created(
            "POST", f"/api/conversations/{conversation_id}/notes",
            {"body": f"note {self.tag}"},
        )  # fmt: skip

    def contact(self, *, phone: bool = True) -> dict[str, Any]:
        identity = {"phone": new_phone()} if phone else {"bsuid": new_bsuid()}
        self.markers |= set(identity.values())
        return self.created(
            "POST", "/api/contacts",
            {"name": f"Contact {self.tag}", "tags": ["vip"], **identity},
        )  # fmt: skip

    def template(self) -> dict[str, Any]:
        return self.created(
            "POST", "/api/templates",
            {"name": f"order_{self.tag}_{uuid.uuid4().hex[:4]}", "language": "en",
             "category": "utility", "body": "Your order {{1}} has shipped"},
        )  # fmt: skip

    def approved_template(self) -> dict[str, Any]:
        """Created, submitted to (memory) Meta, approved by Meta's signed webhook."""
        template = self.template()
        submitted = self.http.call("POST", f"/api/templates/{template['id']}/submit", self.admin)
        assert submitted.status_code == 200, submitted.text
        report = self.webhook(
            {
                "event": "APPROVED", "message_template_id": int(submitted.json()["meta_id"]),
                "message_template_name": template["name"], "message_template_language": "en",
                "reason": "NONE", "message_template_category": "UTILITY",
            },
            "message_template_status_update",
        )  # fmt: skip
        assert report["templates"] == 1, report
        return template

    def new_api_key(self) -> dict[str, Any]:
        # Every scope a key can hold, so the RBAC table tests the matrix; the scope
        # refusals themselves are tested on their own.
        scopes = sorted(a.value for a in API_KEY_ACTIONS)
        return self.created("POST", "/api/api-keys", {"name": f"n8n {self.tag}", "scopes": scopes})

    def teammate(self, role: str = "agent") -> dict[str, Any]:
        email = f"mate-{uuid.uuid4().hex[:8]}@{self.tag}.test"
        return self.created(
            "POST",
            "/api/users",
            {"email": email, "name": "Mate", "role": role, "password": PASSWORD},
        )

    def invitation(self) -> dict[str, Any]:
        return self.created(
            "POST", "/api/invitations",
            {"email": f"invitee-{uuid.uuid4().hex[:8]}@{self.tag}.test", "role": "agent"},
        )  # fmt: skip

    def subscription(self) -> dict[str, Any]:
        return self.created(
            "POST", "/api/webhooks",
            {"url": f"https://hooks-{self.tag}.example.com/n8n", "events": ["message.received"],
             "description": f"n8n {self.tag}"},
        )  # fmt: skip

    def delivery(self, subscription_id: str) -> dict[str, Any]:
        """One logged delivery, made by the core use case the ``webhook.out`` job runs."""
        job = WebhookJob(
            subscription_id=uuid.UUID(subscription_id), event_id=uuid.uuid4(),
            event="message.received", body=json.dumps({"tag": self.tag}),
        )  # fmt: skip
        runtime = self.http.runtime
        self.http.run(
            lambda: deliver_event(
                runtime.services,
                _DeliveredSink(),
                uuid.UUID(self.tenant_id),
                job,
                attempt=1,
                final=True,
            )
        )
        log = self.http.call("GET", f"/api/webhooks/{subscription_id}/deliveries", self.admin)
        assert log.status_code == 200, log.text
        (delivery,) = [d for d in log.json() if d["event_id"] == str(job.event_id)]
        self.markers |= {delivery["id"], delivery["event_id"]}
        result: dict[str, Any] = delivery
        return result

    def snippet(self) -> dict[str, Any]:
        return self.created(
            "POST", "/api/knowledge",
            {"title": f"Returns {self.tag}", "body": f"Returns are free within 30 days {self.tag}"},
        )  # fmt: skip

    def created(self, method: str, path: str, body: Any) -> dict[str, Any]:
        answer = self.http.call(method, path, self.admin, json=body)
        assert answer.status_code == 201, (path, answer.status_code, answer.text)
        result: dict[str, Any] = answer.json()
        self.markers |= {str(result[k]) for k in ("id", "token", "secret") if result.get(k)}
        return result
