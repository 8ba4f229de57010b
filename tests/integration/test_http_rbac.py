"""The RBAC matrix through HTTP, on real PostgreSQL and Redis: one table row per /api
endpoint that takes a signed-in principal, each called by a viewer, an agent, a
manager, an admin (users the admin created over the API) and a tenant API key.

Below the row's minimum role (read from ``policies.access``, never restated here) the
answer is 403 problem details and nothing is written; at or above it, the endpoint's
happy-path status. API keys may do only ``API_KEY_ACTIONS`` (they act as an agent
there) and are refused everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import HTTPRoute, WebSocketRoute

from tests.integration import job_world as jobs
from tests.integration.http_world import (
    PASSWORD,
    PNG,
    Http,
    World,
    new_phone,
    redis_reachable,
    running_app,
)
from whatsapp_core.policies.access import API_KEY_ACTIONS, Action, Role, minimum_role

pytestmark = pytest.mark.integration

PRINCIPALS = ("viewer", "agent", "manager", "admin", "apikey")


@pytest.fixture(scope="module")
def http(embedded_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    if not redis_reachable():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (bash scripts/services.sh starts it)")
    with running_app(embedded_pg, tmp_path_factory.mktemp("rbac")) as running:
        yield running


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Prepare = Callable[[World, str], Call]


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # exactly as Litestar lists it in app.routes
    needs: Action | Role  # an Action, or a Role for the endpoints no Action guards
    ok: int  # the happy-path status
    prepare: Prepare  # makes what the call needs (as the tenant's admin) -> the call
    variant: str = ""
    key_action: Action | None = None  # what the endpoint checks when an API key calls

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.variant}]" if self.variant else "")

    @property
    def minimum(self) -> Role:
        return minimum_role(self.needs) if isinstance(self.needs, Action) else self.needs

    def allows(self, who: str) -> bool:
        if who == "apikey":
            action = self.key_action or self.needs
            return isinstance(action, Action) and action in API_KEY_ACTIONS
        return Role(who).rank >= self.minimum.rank


# -- what each call needs --------------------------------------------------------------


def _c(w: World) -> str:
    return w.customer_says().id


def fixed(path: str, json: Any = None) -> Prepare:
    return lambda w, who: Call(path, json)


def on_conversation(suffix: str, json: Any = None) -> Prepare:
    return lambda w, who: Call(f"/api/conversations/{_c(w)}{suffix}", json)


def assign_self(w: World, who: str) -> Call:
    me = w.user_ids.get(who, w.user_ids["admin"])  # a key has no user: "self" is someone
    return Call(f"/api/conversations/{_c(w)}/assign", {"assignee_id": me})


def assign_other(w: World, who: str) -> Call:
    if who == "admin":
        w.user("agent", name="teammate")
        other = w.user_ids["teammate"]
    else:
        other = w.user_ids["admin"]
    return Call(f"/api/conversations/{_c(w)}/assign", {"assignee_id": other})


def reopen(w: World, who: str) -> Call:
    cid = _c(w)
    resolved = w.http.call("POST", f"/api/conversations/{cid}/resolve", w.admin)
    assert resolved.status_code == 200, resolved.text
    return Call(f"/api/conversations/{cid}/reopen")


def remove_label(w: World, who: str) -> Call:
    cid = _c(w)
    added = w.http.call("POST", f"/api/conversations/{cid}/labels", w.admin, json={"label": "vip"})
    assert added.status_code == 200, added.text
    return Call(f"/api/conversations/{cid}/labels/vip")


def retry(w: World, who: str) -> Call:
    cid, mid = w.failed_reply()
    return Call(f"/api/conversations/{cid}/messages/{mid}/retry")


def media(w: World, who: str) -> Call:
    return Call(f"/api/messages/{w.customer_sends_picture().message_id}/media")


def send_template(w: World, who: str) -> Call:
    template = w.approved_template()
    return Call(
        "/api/messages/send-template",
        {"name": template["name"], "language": "en", "conversation_id": _c(w),
         "body_params": ["A-1"]},
    )  # fmt: skip


def merge(w: World, who: str) -> Call:
    keep, absorb = w.contact(phone=True), w.contact(phone=False)
    return Call(f"/api/contacts/{keep['id']}/merge", {"other_id": absorb["id"]})


def import_csv(w: World, who: str) -> Call:
    body = f"name,phone,tags\nBob,{new_phone()},vip\n".encode()
    return Call("/api/contacts/import", content=body, headers={"Content-Type": "text/csv"})


def redeliver(w: World, who: str) -> Call:
    delivery = w.delivery(w.subscription()["id"])
    return Call(f"/api/webhook-deliveries/{delivery['id']}/redeliver")


def new_user(w: World, who: str) -> Call:
    return Call(
        "/api/users",
        {"email": f"new-{uuid.uuid4().hex[:8]}@{w.tag}.test", "name": "New", "role": "viewer",
         "password": PASSWORD},
    )  # fmt: skip


def new_contact(w: World, who: str) -> Call:
    return Call("/api/contacts", {"name": "Bob", "phone": new_phone()})


def new_template(w: World, who: str) -> Call:
    return Call(
        "/api/templates",
        {"name": f"ship_{uuid.uuid4().hex[:10]}", "language": "en", "category": "utility",
         "body": "Shipped: {{1}}"},
    )  # fmt: skip


def new_invitation(w: World, who: str) -> Call:
    email = f"invitee-{uuid.uuid4().hex[:8]}@{w.tag}.test"
    return Call("/api/invitations", {"email": email, "role": "agent"})


def new_subscription(w: World, who: str) -> Call:
    return Call(
        "/api/webhooks",
        {"url": f"https://hooks-{w.tag}.example.com/n8n", "events": ["message.received"]},
    )


def submitted_template(w: World, who: str) -> Call:
    template = w.template()
    submitted = w.http.call("POST", f"/api/templates/{template['id']}/submit", w.admin)
    assert submitted.status_code == 200, submitted.text
    return Call(f"/api/templates/{template['id']}")


BUTTONS = {
    "type": "button",
    "body": "Keep your booking?",
    "buttons": [{"id": "keep", "title": "Keep"}, {"id": "cancel", "title": "Cancel"}],
}
SNIPPET = {"title": "Returns", "body": "Returns are free within 30 days."}
CONV = "/api/conversations/{conversation_id:uuid}"

TABLE: tuple[Row, ...] = (
    # inbox
    Row("GET", "/api/conversations", Action.CONVERSATION_READ, 200, fixed("/api/conversations")),
    Row("GET", CONV, Action.CONVERSATION_READ, 200, on_conversation("")),
    Row("POST", f"{CONV}/messages", Action.CONVERSATION_REPLY, 202,
        on_conversation("/messages", {"text": "On its way!"})),
    Row("POST", f"{CONV}/interactive", Action.CONVERSATION_REPLY, 202,
        on_conversation("/interactive", BUTTONS)),
    Row("POST", f"{CONV}/messages/{{message_id:uuid}}/retry", Action.CONVERSATION_REPLY, 202,
        retry),
    Row("POST", f"{CONV}/assign", Action.CONVERSATION_ASSIGN_SELF, 200, assign_self, "self"),
    Row("POST", f"{CONV}/assign", Action.CONVERSATION_ASSIGN_OTHERS, 200, assign_other, "other"),
    Row("POST", f"{CONV}/assign", Action.CONVERSATION_ASSIGN_OTHERS, 200,
        on_conversation("/assign", {"assignee_id": None}), "unassign"),
    Row("POST", f"{CONV}/resolve", Action.CONVERSATION_RESOLVE, 200, on_conversation("/resolve")),
    Row("POST", f"{CONV}/reopen", Action.CONVERSATION_RESOLVE, 200, reopen),
    Row("POST", f"{CONV}/read", Action.CONVERSATION_REPLY, 200, on_conversation("/read")),
    # Applying a label is part of answering (the core checks conversation.reply;
    # label.manage is for the label catalogue, which has no endpoint yet).
    Row("POST", f"{CONV}/labels", Action.LABEL_MANAGE, 200,
        on_conversation("/labels", {"label": "billing"})),
    Row("DELETE", f"{CONV}/labels/{{label:str}}", Action.LABEL_MANAGE, 200, remove_label),
    Row("GET", f"{CONV}/notes", Action.CONVERSATION_READ, 200, on_conversation("/notes")),
    Row("POST", f"{CONV}/notes", Action.NOTE_WRITE, 201,
        on_conversation("/notes", {"body": "called the carrier"})),
    Row("GET", "/api/messages/{message_id:uuid}/media", Action.CONVERSATION_READ, 200, media),
    Row("POST", f"{CONV}/media", Action.CONVERSATION_REPLY, 202,
        lambda w, who: Call(f"/api/conversations/{_c(w)}/media?filename=p.png", content=PNG,
                            headers={"Content-Type": "image/png"})),
    # AI
    Row("POST", f"{CONV}/suggest", Action.CONVERSATION_READ, 200, on_conversation("/suggest")),
    Row("GET", f"{CONV}/summary", Action.CONVERSATION_READ, 200, on_conversation("/summary")),
    Row("GET", "/api/knowledge", Action.AI_MANAGE, 200, fixed("/api/knowledge")),
    Row("POST", "/api/knowledge", Action.AI_MANAGE, 201, fixed("/api/knowledge", SNIPPET)),
    Row("GET", "/api/knowledge/{snippet_id:uuid}", Action.AI_MANAGE, 200,
        lambda w, who: Call(f"/api/knowledge/{w.snippet()['id']}")),
    Row("PUT", "/api/knowledge/{snippet_id:uuid}", Action.AI_MANAGE, 200,
        lambda w, who: Call(f"/api/knowledge/{w.snippet()['id']}", SNIPPET)),
    Row("DELETE", "/api/knowledge/{snippet_id:uuid}", Action.AI_MANAGE, 204,
        lambda w, who: Call(f"/api/knowledge/{w.snippet()['id']}")),
    Row("GET", "/api/search/similar", Action.CONVERSATION_READ, 200,
        fixed("/api/search/similar?q=where%20is%20my%20order")),
    Row("GET", "/api/ai/settings", Action.AI_MANAGE, 200, fixed("/api/ai/settings")),
    Row("PUT", "/api/ai/settings", Action.AI_MANAGE, 200,
        fixed("/api/ai/settings", {"auto_suggest": True, "monthly_token_budget": 100000})),
    # templates
    Row("GET", "/api/templates", Action.TEMPLATE_READ, 200, fixed("/api/templates")),
    Row("POST", "/api/templates", Action.TEMPLATE_MANAGE, 201, new_template),
    Row("PATCH", "/api/templates/{template_id:uuid}", Action.TEMPLATE_MANAGE, 200,
        lambda w, who: Call(f"/api/templates/{w.template()['id']}",
                            {"body": "Your order {{1}} is on its way"})),
    Row("POST", "/api/templates/{template_id:uuid}/submit", Action.TEMPLATE_MANAGE, 200,
        lambda w, who: Call(f"/api/templates/{w.template()['id']}/submit")),
    Row("POST", "/api/templates/sync", Action.TEMPLATE_MANAGE, 200, fixed("/api/templates/sync")),
    Row("DELETE", "/api/templates/{template_id:uuid}", Action.TEMPLATE_MANAGE, 204,
        lambda w, who: Call(f"/api/templates/{w.template()['id']}"), "draft"),
    Row("DELETE", "/api/templates/{template_id:uuid}", Action.TEMPLATE_MANAGE, 204,
        submitted_template, "submitted"),
    Row("POST", "/api/messages/send-template", Action.TEMPLATE_SEND, 202, send_template,
        key_action=Action.MESSAGE_SEND_TEMPLATE_API),
    Row("POST", "/api/messages/send-text", Action.MESSAGE_SEND_TEXT_API, 202,
        lambda w, who: Call("/api/messages/send-text", {"conversation_id": _c(w), "text": "hi"}),
        key_action=Action.MESSAGE_SEND_TEXT_API),
    # contacts
    Row("GET", "/api/contacts", Action.CONTACT_READ, 200, fixed("/api/contacts")),
    Row("POST", "/api/contacts", Action.CONTACT_WRITE, 201, new_contact),
    Row("PATCH", "/api/contacts/{contact_id:uuid}", Action.CONTACT_WRITE, 200,
        lambda w, who: Call(f"/api/contacts/{w.contact()['id']}", {"name": "Renamed"})),
    Row("DELETE", "/api/contacts/{contact_id:uuid}", Action.CONTACT_DELETE, 204,
        lambda w, who: Call(f"/api/contacts/{w.contact()['id']}")),
    Row("POST", "/api/contacts/{contact_id:uuid}/merge", Action.CONTACT_MERGE, 200, merge),
    Row("POST", "/api/contacts/import", Action.CONTACT_IMPORT, 200, import_csv),
    Row("GET", "/api/contacts/export", Action.CONTACT_EXPORT, 200, fixed("/api/contacts/export")),
    # team, keys, audit, tenant
    Row("GET", "/api/users", Action.USER_MANAGE, 200, fixed("/api/users")),
    Row("POST", "/api/users", Action.USER_MANAGE, 201, new_user),
    Row("PATCH", "/api/users/{user_id:uuid}", Action.USER_MANAGE, 200,
        lambda w, who: Call(f"/api/users/{w.teammate()['id']}", {"role": "viewer"})),
    Row("POST", "/api/invitations", Action.USER_MANAGE, 201, new_invitation),
    Row("GET", "/api/invitations", Action.USER_MANAGE, 200, fixed("/api/invitations")),
    Row("DELETE", "/api/invitations/{invitation_id:uuid}", Action.USER_MANAGE, 204,
        lambda w, who: Call(f"/api/invitations/{w.invitation()['id']}")),
    Row("GET", "/api/api-keys", Action.APIKEY_MANAGE, 200, fixed("/api/api-keys")),
    Row("POST", "/api/api-keys", Action.APIKEY_MANAGE, 201,
        fixed("/api/api-keys", {"name": "n8n"})),
    Row("DELETE", "/api/api-keys/{key_id:uuid}", Action.APIKEY_MANAGE, 200,
        lambda w, who: Call(f"/api/api-keys/{w.new_api_key()['id']}")),
    Row("GET", "/api/audit", Action.AUDIT_READ, 200, fixed("/api/audit")),
    # job monitor and exports
    Row("GET", "/api/dashboard", Action.REPORT_READ, 200, fixed("/api/dashboard?days=30")),
    Row("GET", "/api/jobs", Action.JOB_READ, 200, fixed("/api/jobs")),
    Row("GET", "/api/jobs/{job_id:uuid}", Action.JOB_READ, 200,
        lambda w, who: Call(f"/api/jobs/{jobs.export(w)}")),
    Row("POST", "/api/jobs/{job_id:uuid}/retry", Action.JOB_MANAGE, 200,
        lambda w, who: Call(f"/api/jobs/{jobs.dead_job(w)}/retry")),
    Row("DELETE", "/api/jobs/{job_id:uuid}", Action.JOB_MANAGE, 204,
        lambda w, who: Call(f"/api/jobs/{jobs.dead_job(w)}")),
    Row("POST", "/api/exports", Action.CONTACT_EXPORT, 202,
        fixed("/api/exports", {"kind": "contacts"}), "contacts"),
    Row("POST", "/api/exports", Action.CONVERSATION_EXPORT, 202,
        lambda w, who: Call("/api/exports", {"kind": "transcript", "conversation_id": _c(w),
                                             "format": "json"}), "transcript"),
    Row("GET", "/api/exports/{export_id:uuid}", Action.CONTACT_EXPORT, 200,
        lambda w, who: Call(f"/api/exports/{jobs.export(w)}"), "contacts"),
    Row("GET", "/api/exports/{export_id:uuid}", Action.CONVERSATION_EXPORT, 200,
        lambda w, who: Call(f"/api/exports/{jobs.export(w, 'transcript', _c(w))}"),
        "transcript"),
    Row("GET", "/api/exports/{export_id:uuid}/download", Action.CONTACT_EXPORT, 200,
        lambda w, who: Call(f"/api/exports/{jobs.ready_export(w)}/download"), "contacts"),
    Row("GET", "/api/exports/{export_id:uuid}/download", Action.CONVERSATION_EXPORT, 200,
        lambda w, who: Call(f"/api/exports/{jobs.ready_export(w, 'transcript')}/download"),
        "transcript"),
    Row("GET", "/api/tenant", Action.TENANT_MANAGE, 200, fixed("/api/tenant")),
    Row("PATCH", "/api/tenant", Action.TENANT_MANAGE, 200, fixed("/api/tenant", {"name": "New"})),
    Row("POST", "/api/tenant/test-connection", Action.TENANT_MANAGE, 200,
        fixed("/api/tenant/test-connection")),
    # outgoing webhooks (automation)
    Row("GET", "/api/webhooks", Action.WEBHOOK_MANAGE, 200, fixed("/api/webhooks")),
    Row("POST", "/api/webhooks", Action.WEBHOOK_MANAGE, 201, new_subscription),
    Row("PATCH", "/api/webhooks/{subscription_id:uuid}", Action.WEBHOOK_MANAGE, 200,
        lambda w, who: Call(f"/api/webhooks/{w.subscription()['id']}", {"active": False})),
    Row("DELETE", "/api/webhooks/{subscription_id:uuid}", Action.WEBHOOK_MANAGE, 204,
        lambda w, who: Call(f"/api/webhooks/{w.subscription()['id']}")),
    Row("GET", "/api/webhooks/{subscription_id:uuid}/deliveries", Action.WEBHOOK_MANAGE, 200,
        lambda w, who: Call(f"/api/webhooks/{w.subscription()['id']}/deliveries")),
    Row("POST", "/api/webhook-deliveries/{delivery_id:uuid}/redeliver", Action.WEBHOOK_MANAGE,
        202, redeliver),
    # the signed-in user's own account: any user, never a key
    Row("GET", "/api/auth/me", Role.VIEWER, 200, fixed("/api/auth/me")),
    Row("POST", "/api/auth/password", Role.VIEWER, 204,
        fixed("/api/auth/password",
              {"current_password": PASSWORD, "new_password": "another horse battery"})),
)  # fmt: skip

# /api routes that take no principal, each with the reason.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): "liveness probe",
    ("GET", "/api/ready"): "readiness probe",
    ("GET", "/api/webhooks/whatsapp"): "Meta's verification handshake (verify token)",
    ("POST", "/api/webhooks/whatsapp"): "Meta's signed webhook (HMAC, not a principal)",
    ("GET", "/api/webhooks/events"): "the public event catalogue (documentation)",
    ("POST", "/api/auth/register"): "sign-up",
    ("POST", "/api/auth/login"): "sign-in",
    ("POST", "/api/auth/refresh"): "refresh cookie",
    ("POST", "/api/auth/logout"): "refresh cookie",
    ("POST", "/api/auth/accept"): "invitation token",
    ("GET", "/api/docs"): "OpenAPI UI",
    ("GET", "/api/docs/{path:str}"): "OpenAPI UI",
    ("GET", "/api/docs/openapi.json"): "OpenAPI schema",
    ("GET", "/api/docs/oauth2-redirect.html"): "OpenAPI UI",
    ("WS", "/api/ws"): "JWT in the query, no role gate: test_ws_* below",
}


def api_routes(http: Http) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in http.client.app.routes:
        if not route.path.startswith("/api"):
            continue
        if isinstance(route, WebSocketRoute):
            found.add(("WS", route.path))
        elif isinstance(route, HTTPRoute):
            found |= {(m, route.path) for m in route.methods - {"OPTIONS", "HEAD"}}
    return found


def test_every_api_route_is_in_the_table_or_exempt(http: Http) -> None:
    covered = {(row.method, row.route) for row in TABLE} | set(EXEMPT)
    assert sorted(api_routes(http) - covered) == []


def test_the_table_names_only_routes_that_exist(http: Http) -> None:
    listed = {(row.method, row.route) for row in TABLE} | set(EXEMPT)
    assert sorted(listed - api_routes(http)) == []


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def _audit_ids(w: World) -> list[str]:
    log = w.http.call("GET", "/api/audit?limit=500", w.admin)
    assert log.status_code == 200, log.text
    return [entry["id"] for entry in log.json()]


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.id)
def test_rbac(http: Http, row: Row, who: str) -> None:
    w = World.register(http)
    caller = w.principal(who)
    call = row.prepare(w, who)
    allowed = row.allows(who)
    audit_before = None if allowed else _audit_ids(w)

    response = http.call(
        row.method, call.path, {**caller, **call.headers}, json=call.json, content=call.content
    )

    assert response.status_code < 500 or response.status_code == row.ok, response.text
    if allowed:
        assert response.status_code == row.ok, response.text
        return
    if who == "apikey" and isinstance(row.needs, Role):
        # a key is not a user: refused, as not signed in (401) or not allowed (403)
        assert response.status_code in (401, 403), response.text
        _problem(response, response.status_code)
    else:
        body = _problem(response, 403)
        assert body["code"] == "forbidden"
        if who != "apikey" and isinstance(row.needs, Action):
            assert body["required_role"] == row.minimum.value
    assert _audit_ids(w) == audit_before, "a refused call left an audit entry"


def test_ws_accepts_every_role_and_refuses_without_a_token(http: Http) -> None:
    w = World.register(http)
    for role in ("viewer", "agent", "manager", "admin"):
        token = w.user(role)["Authorization"].removeprefix("Bearer ")
        with http.client.websocket_connect(f"/api/ws?token={token}") as socket:
            socket.close()
    for query in ("", "?token=not-a-jwt"):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            http.client.websocket_connect(f"/api/ws{query}") as socket,
        ):
            socket.receive_text()
        assert refused.value.code == 4401
