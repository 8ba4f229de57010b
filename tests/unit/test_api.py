"""The REST API on the memory profile: auth, inbox, templates, automation, refusals."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.meta import sign
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.unit.meta.payloads import (
    ANA_BSUID,
    ANA_PHONE,
    PNID,
    WABA,
    body_of,
    envelope,
    messages_value,
    text_message,
)

pytestmark = pytest.mark.unit
PASSWORD = "correct horse battery"


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    with TestClient(app=create_app(runtime)) as test_client:
        test_client.app.state.runtime = runtime
        yield test_client


def rt(client: TestClient) -> Runtime:  # type: ignore[type-arg]
    runtime: Runtime = client.app.state.runtime
    return runtime


def register(client: TestClient, slug: str = "acme", pnid: str = PNID) -> dict[str, Any]:  # type: ignore[type-arg]
    response = client.post(
        "/api/auth/register",
        json={
            "tenant_slug": slug, "tenant_name": slug.title(), "email": f"admin@{slug}.test",
            "name": "Admin", "password": PASSWORD, "waba_id": WABA, "phone_number_id": pnid,
        },
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    client.cookies.clear()
    return body


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def fresh_text(text: str = "Where is my order?") -> bytes:
    """A customer message sent just now (the fixtures' timestamps are long past)."""
    contact = {"profile": {"name": "Ana"}, "wa_id": ANA_PHONE, "user_id": ANA_BSUID}
    message = text_message(
        id=f"wamid.{uuid.uuid4().hex}", timestamp=str(int(time.time())), text={"body": text}
    )
    return envelope(messages_value(message, contacts=[contact]))


def inbound(client: TestClient, name: str = "fresh") -> None:  # type: ignore[type-arg]
    body = fresh_text() if name == "fresh" else body_of(name)
    headers = {"X-Hub-Signature-256": sign(rt(client).meta_app_secret, body)}
    assert client.post("/api/webhooks/whatsapp", content=body, headers=headers).status_code == 200


def add_user(client: TestClient, admin: dict[str, Any], role: str) -> dict[str, str]:  # type: ignore[type-arg]
    email = f"{role}@acme.test"
    created = client.post(
        "/api/users", headers=bearer(admin),
        json={"email": email, "name": role, "role": role, "password": PASSWORD},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    login = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    client.cookies.clear()
    return bearer(login.json())


def test_register_login_and_me(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    me = client.get("/api/auth/me", headers=bearer(admin))
    assert (me.status_code, me.json()["role"]) == (200, "admin")
    login = client.post("/api/auth/login", json={"email": "ADMIN@acme.test", "password": PASSWORD})
    assert login.status_code == 200
    assert "wa_access" in login.cookies
    assert client.get("/api/auth/me").json()["email"] == "admin@acme.test"  # by cookie


@pytest.mark.parametrize(
    ("email", "password"), [("admin@acme.test", "wrong password!"), ("nobody@acme.test", PASSWORD)]
)
def test_bad_credentials_get_one_vague_401(client: TestClient, email: str, password: str) -> None:  # type: ignore[type-arg]
    register(client)
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong email or password"


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "forged"],
)
def test_bad_tokens_are_refused(client: TestClient, token: str) -> None:  # type: ignore[type-arg]
    admin = register(client)
    if token == "forged":
        header, payload, _ = admin["access_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        claims["tid"] = "00000000-0000-0000-0000-000000000000"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token = f"{header}.{forged}.{_}"
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    assert client.get("/api/conversations").status_code == 401


def test_cookie_mutations_need_the_csrf_header(client: TestClient) -> None:  # type: ignore[type-arg]
    register(client)
    inbound(client)
    session = client.post(
        "/api/auth/login", json={"email": "admin@acme.test", "password": PASSWORD}
    ).json()
    (conversation,) = client.get("/api/conversations").json()
    url = f"/api/conversations/{conversation['id']}/messages"
    refused = client.post(url, json={"text": "hi"})
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    accepted = client.post(
        url, json={"text": "hi"}, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert accepted.status_code == 202, accepted.text


def test_inbound_then_reply_shows_in_the_thread(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    inbound(client)
    (conversation,) = client.get("/api/conversations", headers=bearer(admin)).json()
    assert conversation["window_open"] is True
    assert conversation["unread_count"] == 1
    reply = client.post(
        f"/api/conversations/{conversation['id']}/messages", headers=bearer(admin),
        json={"text": "Your order ships today"},
    )  # fmt: skip
    assert (reply.status_code, reply.json()["status"]) == (202, "accepted")
    thread = client.get(f"/api/conversations/{conversation['id']}", headers=bearer(admin)).json()
    assert [m["direction"] for m in thread["messages"]] == ["outbound", "inbound"]
    assert thread["conversation"]["unread_count"] == 0


def test_roles_and_tenants_are_enforced(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    inbound(client)
    viewer = add_user(client, admin, "viewer")
    (conversation,) = client.get("/api/conversations", headers=viewer).json()
    url = f"/api/conversations/{conversation['id']}"
    refused = client.post(f"{url}/messages", headers=viewer, json={"text": "hi"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert client.get("/api/users", headers=viewer).status_code == 403
    other = register(client, "beta", pnid="200000000000001")
    assert client.get(url, headers=bearer(other)).status_code == 404
    assert client.post(f"{url}/resolve", headers=bearer(other)).status_code == 404


def test_outside_the_window_a_reply_is_409_with_the_closing_time(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    inbound(client, "text")  # the fixture's message is from 2025: the window closed long ago
    (conversation,) = client.get("/api/conversations", headers=bearer(admin)).json()
    if conversation["window_open"]:
        pytest.fail("fixture timestamps are expected to be in the past")
    response = client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=bearer(admin),
        json={"text": "hi"},
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["closes_at"][:4]) == (
        "window_closed",
        conversation["window_closes_at"][:4],
    )


def test_validation_errors_name_the_field(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post("/api/auth/login", json={"email": "a@b.test"})
    assert response.status_code == 400
    assert "password" in json.dumps(response.json())


def test_templates_and_the_automation_endpoint(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    created = client.post(
        "/api/templates", headers=bearer(admin),
        json={"name": "order_update", "language": "en", "category": "utility",
              "body": "Hi {{1}}, order {{2}} shipped"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    submitted = client.post(f"/api/templates/{template_id}/submit", headers=bearer(admin))
    assert submitted.json()["status"] == "PENDING"
    approve = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": "APPROVED", "message_template_id": 1,
                      "message_template_name": "order_update", "message_template_language": "en",
                      "reason": "NONE"}}]}]}
    ).encode()  # fmt: skip
    signature = {"X-Hub-Signature-256": sign(rt(client).meta_app_secret, approve)}
    assert (
        client.post("/api/webhooks/whatsapp", content=approve, headers=signature).status_code == 200
    )

    key = client.post("/api/api-keys", headers=bearer(admin), json={"name": "n8n"}).json()
    send = {
        "name": "order_update", "language": "en", "to": {"phone": "+49 151 1234 5678"},
        "body_params": ["Bo", "#7"],
    }  # fmt: skip
    sent = client.post(
        "/api/messages/send-template", headers={"X-API-Key": key["token"]}, json=send
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["text"] == "Hi Bo, order #7 shipped"
    wrong = client.post(
        "/api/messages/send-template", headers={"X-API-Key": key["token"]},
        json={**send, "body_params": ["only one"]},
    )  # fmt: skip
    assert wrong.status_code == 422
    assert client.get("/api/users", headers={"X-API-Key": key["token"]}).status_code == 403
    client.delete(f"/api/api-keys/{key['id']}", headers=bearer(admin))
    revoked = client.post(
        "/api/messages/send-template", headers={"X-API-Key": key["token"]}, json=send
    )
    assert revoked.status_code == 401
    actions = {e["action"] for e in client.get("/api/audit", headers=bearer(admin)).json()}
    assert {
        "template.create",
        "template.submit",
        "apikey.create",
        "apikey.revoke",
        "message.send",
    } <= actions


def test_the_inbox_websocket_pushes_an_inbound_message(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    with client.websocket_connect(f"/api/ws?token={admin['access_token']}") as socket:
        inbound(client)
        kinds = [socket.receive_json(timeout=5)["kind"] for _ in range(3)]
    assert kinds == ["contact.created", "conversation.opened", "message.created"]


def test_the_websocket_refuses_strangers(client: TestClient) -> None:  # type: ignore[type-arg]
    from litestar.exceptions import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/ws") as socket:
        socket.receive_text(timeout=2)


def test_contacts_csv_import_report_and_export(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    csv_body = b"name,phone,tags,city\nAna,+55 11 99999-9999,vip;lead,SP\nBad,123,,\n"
    report = client.post("/api/contacts/import", headers=bearer(admin), content=csv_body)
    assert report.status_code == 200, report.text
    assert (report.json()["created"], [r["row"] for r in report.json()["rejected"]]) == (1, [2])
    (ana,) = client.get("/api/contacts", headers=bearer(admin), params={"q": "ana"}).json()
    assert (ana["wa_id"], ana["attributes"]) == ("5511999999999", {"city": "SP"})
    exported = client.get("/api/contacts/export", headers=bearer(admin))
    assert exported.headers["content-type"].startswith("text/csv")
    assert "Ana,5511999999999,,,lead;vip,yes" in exported.text
    no_header = client.post("/api/contacts/import", headers=bearer(admin), content=b"x,y\n1,2\n")
    assert no_header.status_code == 422


def test_contacts_merge_and_delete_over_http(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    h = bearer(admin)
    crm = client.post("/api/contacts", headers=h, json={"name": "Ana", "phone": "5511999999999"})
    other = client.post("/api/contacts", headers=h, json={"bsuid": "US.13491208655302741918"})
    bob = client.post("/api/contacts", headers=h, json={"bsuid": "US.777", "name": "Bob"})
    assert {r.status_code for r in (crm, other, bob)} == {201}
    url = f"/api/contacts/{crm.json()['id']}/merge"

    merged = client.post(url, headers=h, json={"other_id": other.json()["id"]})
    assert merged.status_code == 200, merged.text
    assert (merged.json()["wa_id"], merged.json()["bsuid"]) == (
        "5511999999999",
        "US.13491208655302741918",
    )
    clash = client.post(url, headers=h, json={"other_id": bob.json()["id"]})
    assert clash.status_code == 409
    assert "two WhatsApp users" in clash.json()["detail"]
    assert client.post(url, headers=h, json={"other_id": "nope"}).status_code == 400
    gone = client.post(url, headers=h, json={"other_id": other.json()["id"]})
    assert gone.status_code == 404

    agent = add_user(client, admin, "agent")
    refused = client.delete(f"/api/contacts/{bob.json()['id']}", headers=agent)
    assert refused.status_code == 403
    assert client.delete(f"/api/contacts/{bob.json()['id']}", headers=h).status_code == 204
    names = [c["display_name"] for c in client.get("/api/contacts", headers=h).json()]
    assert names == ["Ana"]


def test_tenant_settings_take_credentials_but_never_give_them_back(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    token = "EAAGsecretTenantToken42"
    changed = client.patch(
        "/api/tenant", headers=bearer(admin),
        json={"access_token": token, "display_phone_number": "+1 555 0100"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert token not in changed.text
    shown = client.get("/api/tenant", headers=bearer(admin)).json()
    assert shown["access_token"] == {"configured": True, "needs_rotation": False}
    assert shown["app_secret"]["configured"] is False
    audit = client.get("/api/audit", headers=bearer(admin))
    assert "tenant.update" in audit.text
    assert token not in audit.text
    bad = client.patch("/api/tenant", headers=bearer(admin), json={"waba_id": "abc"})
    assert bad.status_code == 422
    assert "waba_id" in bad.text
    manager = add_user(client, admin, "manager")
    assert client.get("/api/tenant", headers=manager).status_code == 403


def test_password_guessing_is_throttled_per_account(client: TestClient) -> None:  # type: ignore[type-arg]
    from whatsapp_core.policies.quota import LoginLimits

    register(client)
    rt(client).login_limits = LoginLimits(per_account=3, per_client=100)
    wrong = {"email": "admin@acme.test", "password": "not the password"}
    assert [client.post("/api/auth/login", json=wrong).status_code for _ in range(3)] == [401] * 3
    right = {"email": "Admin@acme.test ", "password": PASSWORD}  # same account, other spelling
    refused = client.post("/api/auth/login", json=right)
    assert refused.status_code == 429
    assert "too many sign-in attempts" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) <= 15 * 60
    other = client.post("/api/auth/login", json={"email": "x@acme.test", "password": "y" * 12})
    assert other.status_code == 401  # another account is not locked


def test_invite_accept_and_sign_in_over_http(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    invited = client.post(
        "/api/invitations", headers=bearer(admin), json={"email": "bia@acme.test", "role": "agent"}
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    assert invited.json()["accept_url"] == f"/accept#{token}"
    assert "token" not in client.get("/api/invitations", headers=bearer(admin)).json()[0]
    page = client.get("/accept")
    assert page.status_code == 200
    assert "accept-form" in page.text

    joined = client.post(
        "/api/auth/accept", json={"token": token, "name": "Bia", "password": PASSWORD}
    )
    assert joined.status_code == 201, joined.text
    assert joined.json()["user"]["role"] == "agent"
    client.cookies.clear()
    again = client.post(
        "/api/auth/accept", json={"token": token, "name": "B", "password": PASSWORD}
    )
    assert again.status_code == 401
    signed_in = client.post(
        "/api/auth/login", json={"email": "bia@acme.test", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    agent = bearer(signed_in.json())
    client.cookies.clear()
    assert (
        client.post("/api/invitations", headers=agent, json={"email": "z@acme.test"}).status_code
        == 403
    )


def test_an_api_key_with_the_text_scope_replies_inside_the_window(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    inbound(client)
    made = client.post(
        "/api/api-keys", headers=bearer(admin),
        json={"name": "n8n text", "scopes": ["message.send_text_api"]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["message.send_text_api"]
    key = {"X-API-Key": made.json()["token"], "Idempotency-Key": "order-42-reply"}
    body = {"text": "Your order ships today", "to": {"phone": ANA_PHONE}}
    first = client.post("/api/messages/send-text", headers=key, json=body)
    assert first.status_code == 202, first.text
    again = client.post("/api/messages/send-text", headers=key, json=body)
    assert again.json()["id"] == first.json()["id"]  # a replay sends nothing new
    stranger = {"text": "hi", "to": {"phone": "5511900000000"}}
    closed = client.post("/api/messages/send-text", headers={"X-API-Key": key["X-API-Key"]},
                         json=stranger)  # fmt: skip
    assert closed.status_code == 409
    assert closed.json()["code"] == "window_closed"
    default = client.post("/api/api-keys", headers=bearer(admin), json={"name": "templates"})
    assert default.json()["scopes"] == ["message.send_template_api", "template.read"]
    refused = client.post(
        "/api/messages/send-text", headers={"X-API-Key": default.json()["token"]}, json=body
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "missing_scope"
    bad = client.post("/api/api-keys", headers=bearer(admin), json={"name": "x", "scopes": ["*"]})
    assert bad.status_code == 422


def test_rate_limit_is_429_with_retry_after(client: TestClient) -> None:  # type: ignore[type-arg]
    from whatsapp_core.policies.quota import QuotaLimits

    admin = register(client)
    rt(client).quota_limits = QuotaLimits(per_user=3, per_tenant=100)
    statuses = [client.get("/api/auth/me", headers=bearer(admin)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/auth/me", headers=bearer(admin))
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert client.get("/api/health").status_code == 200  # no principal, not counted


def test_request_id_is_echoed_and_carried_into_audit_rows(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    response = client.post(
        "/api/api-keys", headers={**bearer(admin), "X-Request-ID": "req-42"}, json={"name": "x"}
    )
    assert response.headers["x-request-id"] == "req-42"
    audit = client.get("/api/audit", headers=bearer(admin)).json()
    assert next(a for a in audit if a["action"] == "apikey.create")["correlation_id"] == "req-42"
    generated = client.get("/api/health").headers["x-request-id"]
    assert len(generated) == 32


def test_every_answer_says_nosniff_and_only_production_says_hsts(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/api/health", "/api/conversations", f"/api/conversations/{uuid.uuid4()}"):
        answer = client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in answer.headers  # memory profile: no TLS
    from litestar import Litestar, get
    from prometheus_client import CollectorRegistry

    from entrypoints.http.middleware import HttpMetrics, request_context

    @get("/ping")
    async def ping() -> str:
        return "pong"

    behind_tls = Litestar(
        [ping], middleware=[request_context(HttpMetrics(CollectorRegistry()), hsts=True)]
    )
    with TestClient(app=behind_tls) as production:
        hsts = production.get("/ping").headers["strict-transport-security"]
    assert hsts.startswith("max-age=")


def test_metrics_count_requests_and_refusals(client: TestClient) -> None:  # type: ignore[type-arg]
    client.get("/api/health")
    client.post(
        "/api/webhooks/whatsapp", content=b"{}", headers={"X-Hub-Signature-256": "sha256=0"}
    )
    text = client.get("/metrics").text
    assert 'wa_http_requests_total{method="GET",route="/api/health",status="200"}' in text
    assert 'wa_events_total{kind="webhook_bad_signature"} 1.0' in text


def test_labels_and_inbox_filters(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    inbound(client)
    (conversation,) = client.get("/api/conversations", headers=bearer(admin)).json()
    url = f"/api/conversations/{conversation['id']}"
    labelled = client.post(f"{url}/labels", headers=bearer(admin), json={"label": " Billing "})
    assert labelled.json() == {"labels": ["billing"]}
    bad = client.post(f"{url}/labels", headers=bearer(admin), json={"label": "<script>"})
    assert bad.status_code == 422
    listed = lambda **q: client.get("/api/conversations", headers=bearer(admin), params=q).json()  # noqa: E731
    assert len(listed(label="billing")) == 1
    assert listed(label="vip") == []
    assert len(listed(unassigned="true")) == 1
    assert listed(mine="true") == []
    me = client.get("/api/auth/me", headers=bearer(admin)).json()["id"]
    client.post(f"{url}/assign", headers=bearer(admin), json={"assignee_id": me})
    assert len(listed(mine="true")) == 1
    assert listed(unassigned="true") == []
    removed = client.delete(f"{url}/labels/billing", headers=bearer(admin))
    assert removed.json() == {"labels": []}
    assert len(listed(window_open="true", unread="true")) == 1  # the customer just wrote
    client.post(f"{url}/read", headers=bearer(admin))
    assert listed(unread="true") == []
    assert len(listed(window_open="true")) == 1


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient) -> None:  # type: ignore[type-arg]
    register(client)
    client.post("/api/auth/login", json={"email": "admin@acme.test", "password": PASSWORD})
    first = client.cookies.get("wa_refresh")
    assert first
    renewed = client.post("/api/auth/refresh")
    assert renewed.status_code == 200, renewed.text
    second = client.cookies.get("wa_refresh")
    assert second
    assert second != first
    assert client.get("/api/auth/me").status_code == 200
    # The used token comes back (stolen copy): the family dies, the good token too.
    client.cookies.set("wa_refresh", first, path="/api/auth")
    assert client.post("/api/auth/refresh").status_code == 401
    client.cookies.set("wa_refresh", second, path="/api/auth")
    assert client.post("/api/auth/refresh").status_code == 401
    session = client.post(
        "/api/auth/login", json={"email": "admin@acme.test", "password": PASSWORD}
    )
    actions = {e["action"] for e in client.get("/api/audit", headers=bearer(session.json())).json()}
    assert "session.reuse_detected" in actions


def test_logout_ends_the_refresh_session(client: TestClient) -> None:  # type: ignore[type-arg]
    register(client)
    session = client.post(
        "/api/auth/login", json={"email": "admin@acme.test", "password": PASSWORD}
    )
    token = client.cookies.get("wa_refresh")
    out = client.post("/api/auth/logout", headers={"X-CSRF-Token": session.json()["csrf_token"]})
    assert out.status_code == 204
    client.cookies.set("wa_refresh", token, path="/api/auth")
    assert client.post("/api/auth/refresh").status_code == 401
