"""Cross-tenant IDOR through HTTP, on real PostgreSQL and Redis.

Tenant A holds data (a conversation from a signed inbound webhook, its messages and a
note, a stored picture, contacts, templates, an API key, users, an invitation, an
outgoing webhook with a logged delivery, a knowledge snippet). Tenant B's admin calls
every endpoint that takes an id, in the path or in the body, with A's ids. Each call
must answer 404, with nothing of A's in the answer, exactly as it answers for an id
that never existed (no existence oracle); and afterwards A's data, as A reads it, and
both audit logs are as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from tests.integration import job_world as jobs
from tests.integration.http_world import PNG, Http, World, redis_reachable, running_app

pytestmark = pytest.mark.integration
ID = "{id}"  # where the foreign id goes, in a path or as a body value


@pytest.fixture(scope="module")
def http(embedded_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    if not redis_reachable():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (bash scripts/services.sh starts it)")
    with running_app(embedded_pg, tmp_path_factory.mktemp("idor")) as running:
        yield running


@dataclass
class Target:
    path: str
    foreign_id: str  # A's id that B's admin sends
    read_back: Callable[[], Any]  # what A sees of the thing, to prove it unchanged
    body: Any = None
    content: bytes | None = None  # a raw body instead (an upload), with its headers
    headers: dict[str, str] | None = None


Build = Callable[[World, World], Target]


@dataclass(frozen=True)
class Attack:
    method: str
    route: str  # exactly as Litestar lists it in app.routes
    build: Build
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.variant}]" if self.variant else "")


# -- what A reads back -----------------------------------------------------------------


def _get(w: World, path: str) -> Any:
    answer = w.http.call("GET", path, w.admin)
    assert answer.status_code == 200, (path, answer.text)
    return answer.json()


def _item(w: World, path: str, item_id: str) -> Any:
    return [x for x in _get(w, path) if x["id"] == item_id]


def conversation_view(w: World, cid: str) -> Callable[[], Any]:
    return lambda: (
        _get(w, f"/api/conversations/{cid}"),
        _get(w, f"/api/conversations/{cid}/notes"),
    )


def _audit(w: World) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _get(w, "/api/audit?limit=500")
    return found


# -- the attacks -----------------------------------------------------------------------

CONV = "/api/conversations/{conversation_id:uuid}"


def on_conversation(suffix: str, body: Any = None, *, prepare: str = "") -> Build:
    def build(a: World, b: World) -> Target:
        cid = a.customer_says().id
        a.note(cid)
        if prepare == "resolved":
            assert a.http.call("POST", f"/api/conversations/{cid}/resolve", a.admin).is_success
        if prepare == "labelled":
            labelled = a.http.call(
                "POST", f"/api/conversations/{cid}/labels", a.admin, json={"label": "vip"}
            )
            assert labelled.is_success, labelled.text
        return Target(f"/api/conversations/{ID}{suffix}", cid, conversation_view(a, cid), body)

    return build


def assign_to_my_self(a: World, b: World) -> Target:
    build = on_conversation("/assign", {"assignee_id": b.user_ids["admin"]})
    return build(a, b)


def retry_their_message(a: World, b: World) -> Target:
    """A's failed message, named under B's own conversation."""
    cid, mid = a.failed_reply()
    mine = b.customer_says().id
    return Target(f"/api/conversations/{mine}/messages/{ID}/retry", mid, conversation_view(a, cid))


def retry_in_their_conversation(a: World, b: World) -> Target:
    cid, mid = a.failed_reply()
    return Target(f"/api/conversations/{ID}/messages/{mid}/retry", cid, conversation_view(a, cid))


def media(a: World, b: World) -> Target:
    conversation = a.customer_sends_picture()
    mid = conversation.message_id

    def read_back() -> Any:
        picture = a.http.call("GET", f"/api/messages/{mid}/media", a.admin)
        assert picture.status_code == 200, picture.text
        return conversation_view(a, conversation.id)(), picture.content

    return Target(f"/api/messages/{ID}/media", mid, read_back)


def send_file(a: World, b: World) -> Target:
    """A file posted into A's conversation (its window open)."""
    cid = a.customer_says().id
    return Target(
        f"/api/conversations/{ID}/media", cid, conversation_view(a, cid),
        content=PNG, headers={"Content-Type": "image/png"},
    )  # fmt: skip


def template(suffix: str, body: Any = None) -> Build:
    def build(a: World, b: World) -> Target:
        tid = a.template()["id"]
        return Target(
            f"/api/templates/{ID}{suffix}", tid, lambda: _item(a, "/api/templates", tid), body
        )

    return build


def api_key(a: World, b: World) -> Target:
    kid = a.new_api_key()["id"]
    return Target(f"/api/api-keys/{ID}", kid, lambda: _item(a, "/api/api-keys", kid))


def teammate(a: World, b: World) -> Target:
    uid = a.teammate()["id"]
    return Target(f"/api/users/{ID}", uid, lambda: _item(a, "/api/users", uid), {"role": "admin"})


def contact(suffix: str, body: Any = None) -> Build:
    def build(a: World, b: World) -> Target:
        found = a.contact()
        cid = found["id"]
        json = body(b) if callable(body) else body
        return Target(
            f"/api/contacts/{ID}{suffix}",
            cid,
            lambda: _item(a, f"/api/contacts?q={found['wa_id']}", cid),
            json,
        )

    return build


def absorb_into_mine(a: World, b: World) -> Target:
    """B's own contact in the path; A's contact as the one to fold in."""
    theirs = a.contact(phone=False)
    mine = b.contact()
    return Target(
        f"/api/contacts/{mine['id']}/merge",
        theirs["id"],
        lambda: (_get(a, "/api/contacts"), _get(b, "/api/contacts")),
        {"other_id": ID},
    )


def invitation(a: World, b: World) -> Target:
    iid = a.invitation()["id"]
    return Target(f"/api/invitations/{ID}", iid, lambda: _item(a, "/api/invitations", iid))


def subscription(suffix: str, body: Any = None) -> Build:
    def build(a: World, b: World) -> Target:
        sid = a.subscription()["id"]
        a.delivery(sid)

        def read_back() -> Any:
            return _item(a, "/api/webhooks", sid), _get(a, f"/api/webhooks/{sid}/deliveries")

        return Target(f"/api/webhooks/{ID}{suffix}", sid, read_back, body)

    return build


def redeliver(a: World, b: World) -> Target:
    sid = a.subscription()["id"]
    did = a.delivery(sid)["id"]
    return Target(
        f"/api/webhook-deliveries/{ID}/redeliver",
        did,
        lambda: _get(a, f"/api/webhooks/{sid}/deliveries"),
    )


def snippet(body: Any = None) -> Build:
    def build(a: World, b: World) -> Target:
        sid = a.snippet()["id"]
        return Target(f"/api/knowledge/{ID}", sid, lambda: _get(a, f"/api/knowledge/{sid}"), body)

    return build


def assign_mine_to_their_user(a: World, b: World) -> Target:
    """B's own conversation, assigned to a user of A (a body id)."""
    a.user("agent")
    theirs = a.user_ids["agent"]
    mine = b.customer_says().id
    return Target(
        f"/api/conversations/{mine}/assign",
        theirs,
        lambda: (_get(a, "/api/users"), conversation_view(b, mine)()),
        {"assignee_id": ID},
    )


def send_text_to_their_conversation(a: World, b: World) -> Target:
    """Free-form text into A's conversation, whose window is open (a body id)."""
    theirs = a.customer_says().id
    return Target(
        "/api/messages/send-text",
        theirs,
        conversation_view(a, theirs),
        {"text": "hello from another tenant", "conversation_id": ID},
    )


def send_template_to_their_conversation(a: World, b: World) -> Target:
    """B's own approved template, sent into A's conversation (a body id)."""
    mine = b.approved_template()
    theirs = a.customer_says().id
    return Target(
        "/api/messages/send-template",
        theirs,
        conversation_view(a, theirs),
        {"name": mine["name"], "language": "en", "conversation_id": ID, "body_params": ["1"]},
    )


def job(prepare: Callable[[World], str], path: str = "/api/jobs/{id}") -> Build:
    """A's job (an export), by id; A reads the job and the export back."""

    def build(a: World, b: World) -> Target:
        jid = prepare(a)
        return Target(
            path, jid, lambda: (_get(a, f"/api/jobs/{jid}"), _get(a, f"/api/exports/{jid}"))
        )

    return build


def export_their_conversation(a: World, b: World) -> Target:
    """A transcript of A's conversation, asked for by B (a body id)."""
    theirs = a.customer_says().id
    return Target(
        "/api/exports",
        theirs,
        lambda: (conversation_view(a, theirs)(), _get(a, "/api/jobs?status=queued")),
        {"kind": "transcript", "conversation_id": ID},
    )


SNIPPET = {"title": "Mine now", "body": "Overwritten by another team."}
BUTTONS = {"type": "button", "body": "Pick one", "buttons": [{"id": "a", "title": "A"}]}

ATTACKS: tuple[Attack, ...] = (
    Attack("GET", CONV, on_conversation("")),
    Attack("POST", f"{CONV}/messages", on_conversation("/messages", {"text": "hello"})),
    Attack("POST", f"{CONV}/interactive", on_conversation("/interactive", BUTTONS)),
    Attack("POST", f"{CONV}/messages/{{message_id:uuid}}/retry", retry_their_message, "message"),
    Attack("POST", f"{CONV}/messages/{{message_id:uuid}}/retry", retry_in_their_conversation,
           "conversation"),
    Attack("POST", f"{CONV}/assign", assign_to_my_self),
    Attack("POST", f"{CONV}/assign", on_conversation("/assign", {"assignee_id": None}), "unassign"),
    Attack("POST", f"{CONV}/resolve", on_conversation("/resolve")),
    Attack("POST", f"{CONV}/reopen", on_conversation("/reopen", prepare="resolved")),
    Attack("POST", f"{CONV}/read", on_conversation("/read")),
    Attack("POST", f"{CONV}/labels", on_conversation("/labels", {"label": "stolen"})),
    Attack("DELETE", f"{CONV}/labels/{{label:str}}",
           on_conversation("/labels/vip", prepare="labelled")),
    Attack("GET", f"{CONV}/notes", on_conversation("/notes")),
    Attack("POST", f"{CONV}/notes", on_conversation("/notes", {"body": "planted"})),
    Attack("POST", f"{CONV}/suggest", on_conversation("/suggest")),
    Attack("GET", f"{CONV}/summary", on_conversation("/summary")),
    Attack("GET", "/api/messages/{message_id:uuid}/media", media),
    Attack("POST", f"{CONV}/media", send_file),
    Attack("PATCH", "/api/templates/{template_id:uuid}", template("", {"body": "Hijacked {{1}}"})),
    Attack("POST", "/api/templates/{template_id:uuid}/submit", template("/submit")),
    Attack("DELETE", "/api/templates/{template_id:uuid}", template("")),
    Attack("DELETE", "/api/api-keys/{key_id:uuid}", api_key),
    Attack("PATCH", "/api/users/{user_id:uuid}", teammate),
    Attack("PATCH", "/api/contacts/{contact_id:uuid}", contact("", {"name": "Hijacked"})),
    Attack("DELETE", "/api/contacts/{contact_id:uuid}", contact("")),
    Attack("POST", "/api/contacts/{contact_id:uuid}/merge",
           contact("/merge", lambda b: {"other_id": b.contact(phone=False)["id"]}), "path"),
    Attack("POST", "/api/contacts/{contact_id:uuid}/merge", absorb_into_mine, "other_id"),
    Attack("DELETE", "/api/invitations/{invitation_id:uuid}", invitation),
    Attack("PATCH", "/api/webhooks/{subscription_id:uuid}", subscription("", {"active": False})),
    Attack("DELETE", "/api/webhooks/{subscription_id:uuid}", subscription("")),
    Attack("GET", "/api/webhooks/{subscription_id:uuid}/deliveries", subscription("/deliveries")),
    Attack("POST", "/api/webhook-deliveries/{delivery_id:uuid}/redeliver", redeliver),
    Attack("GET", "/api/knowledge/{snippet_id:uuid}", snippet()),
    Attack("PUT", "/api/knowledge/{snippet_id:uuid}", snippet(SNIPPET)),
    Attack("DELETE", "/api/knowledge/{snippet_id:uuid}", snippet()),
    Attack("GET", "/api/jobs/{job_id:uuid}", job(jobs.export)),
    Attack("POST", "/api/jobs/{job_id:uuid}/retry", job(jobs.dead_job, "/api/jobs/{id}/retry")),
    Attack("DELETE", "/api/jobs/{job_id:uuid}", job(jobs.dead_job)),
    Attack("GET", "/api/exports/{export_id:uuid}", job(jobs.export, "/api/exports/{id}")),
    Attack("GET", "/api/exports/{export_id:uuid}/download",
           job(jobs.ready_export, "/api/exports/{id}/download")),
    # ids in the body
    Attack("POST", f"{CONV}/assign", assign_mine_to_their_user, "assignee_id"),
    Attack("POST", "/api/messages/send-template", send_template_to_their_conversation,
           "conversation_id"),
    Attack("POST", "/api/messages/send-text", send_text_to_their_conversation,
           "conversation_id"),
    Attack("POST", "/api/exports", export_their_conversation, "conversation_id"),
)  # fmt: skip


def _put_id(value: Any, the_id: str) -> Any:
    if value == ID:
        return the_id
    if isinstance(value, dict):
        return {k: _put_id(v, the_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_id(v, the_id) for v in value]
    return value


def _send(b: World, method: str, target: Target, the_id: str) -> httpx.Response:
    return b.http.call(
        method, target.path.replace(ID, the_id), {**b.admin, **(target.headers or {})},
        json=_put_id(target.body, the_id), content=target.content,
    )  # fmt: skip


def _shape(response: httpx.Response, the_id: str) -> Any:
    """The answer with the id that was sent blanked out (echoing it back leaks nothing)."""
    return (response.status_code, response.text.replace(the_id, "<id>"))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.id)
def test_another_tenants_id_is_404_and_changes_nothing(http: Http, attack: Attack) -> None:
    a, b = World.register(http), World.register(http)
    target = attack.build(a, b)
    before = target.read_back(), _audit(a), _audit(b)

    theirs = _send(b, attack.method, target, target.foreign_id)
    unknown_id = str(uuid.uuid4())
    unknown = _send(b, attack.method, target, unknown_id)

    assert theirs.status_code == 404, theirs.text
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert theirs.json()["status"] == 404
    leaked = {m for m in a.markers - {target.foreign_id} if m in theirs.text}
    assert not leaked, f"the answer shows A's data {leaked}: {theirs.text}"
    assert _shape(theirs, target.foreign_id) == _shape(unknown, unknown_id), "existence oracle"
    assert (target.read_back(), _audit(a), _audit(b)) == before


def test_every_id_taking_route_is_attacked(http: Http) -> None:
    attacked = {(attack.method, attack.route) for attack in ATTACKS}
    with_ids = {
        (method, route.path)
        for route in http.client.app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api") and ":uuid}" in route.path
        for method in route.methods - {"OPTIONS", "HEAD"}
    }
    assert sorted(with_ids - attacked) == []
    body_ids = {(a.route, a.variant) for a in ATTACKS if a.variant}
    assert {
        ("/api/contacts/{contact_id:uuid}/merge", "other_id"),
        (f"{CONV}/assign", "assignee_id"),
        ("/api/messages/send-template", "conversation_id"),
        ("/api/messages/send-text", "conversation_id"),
    } <= body_ids


LISTS = (
    "/api/conversations",
    "/api/contacts",
    "/api/contacts/export",
    "/api/templates",
    "/api/users",
    "/api/api-keys",
    "/api/audit",
    "/api/invitations",
    "/api/webhooks",
    "/api/knowledge",
    "/api/tenant",
    "/api/auth/me",
    "/api/jobs?status=queued,running,retrying,dead,done",
    "/api/dashboard?days=90",
)


def test_no_list_shows_another_tenants_data(http: Http) -> None:
    a, b = World.register(http), World.register(http)
    conversation = a.customer_says()
    a.note(conversation.id)
    a.contact()
    a.template()
    a.user("agent")
    a.new_api_key()
    a.invitation()
    a.delivery(a.subscription()["id"])
    a.snippet()
    jobs.export(a)
    jobs.dead_job(a)
    b.customer_says()
    b.snippet()
    searches = [
        f"/api/contacts?q={conversation.phone}",
        f"/api/contacts?q={a.tag}",
        f"/api/search/similar?q={conversation.text}",
        f"/api/search/similar?q={a.tag}",
        f"/api/conversations?assignee_id={a.user_ids['agent']}",
    ]
    for path in (*LISTS, *searches):
        answer = b.http.call("GET", path, b.admin)
        assert answer.status_code == 200, (path, answer.text)
        leaked = {m for m in a.markers if m in answer.text}
        assert not leaked, f"{path} shows A's data {leaked}"


def test_claiming_another_tenants_number_is_refused(http: Http) -> None:
    """A phone number id routes Meta's webhooks: B must not take A's."""
    a, b = World.register(http), World.register(http)
    before = _get(b, "/api/tenant")
    taken = b.http.call("PATCH", "/api/tenant", b.admin, json={"phone_number_id": a.pnid})
    assert taken.status_code == 409, taken.text
    assert a.tag not in taken.text
    assert _get(b, "/api/tenant") == before
    conversation = a.customer_says()  # A's customers still reach A, not B
    assert _get(b, "/api/conversations") == []
    assert _get(a, f"/api/conversations/{conversation.id}")["conversation"]["id"] == conversation.id


def test_a_template_to_a_phone_another_tenant_knows_shows_nothing_of_theirs(http: Http) -> None:
    """Phone numbers belong to no tenant: B reaching A's customer makes B's own contact."""
    a, b = World.register(http), World.register(http)
    customer = a.customer_says()
    before = conversation_view(a, customer.id)()
    template = b.approved_template()
    sent = b.http.call(
        "POST", "/api/messages/send-template", b.admin,
        json={"name": template["name"], "language": "en", "to": {"phone": customer.phone},
              "body_params": ["1"]},
    )  # fmt: skip
    assert sent.status_code == 202, sent.text
    mine = sent.json()["conversation_id"]
    assert mine != customer.id
    theirs = a.markers - {customer.phone}
    for answer in (
        sent.text,
        str(_get(b, "/api/conversations")),
        str(conversation_view(b, mine)()),
    ):
        assert not {m for m in theirs if m in answer}
    assert conversation_view(a, customer.id)() == before
