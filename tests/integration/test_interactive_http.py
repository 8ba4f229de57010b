"""Reply buttons, lists and template delete through HTTP, on real PostgreSQL and Redis
(Meta's side is the in-memory gateway): happy paths, problem details on bad input,
the customer's choice in the thread, and the audit trail."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.http_world import Http, World, redis_reachable, running_app
from whatsapp_core.services.outbound import deliver_message

pytestmark = pytest.mark.integration

BUTTONS = {
    "type": "button",
    "body": "Keep your booking for Friday?",
    "footer": "Acme Travel",
    "buttons": [{"id": "keep", "title": "Keep it"}, {"id": "cancel", "title": "Cancel"}],
}
LIST = {
    "type": "list",
    "body": "Which shipping option do you prefer?",
    "header": "Shipping",
    "button": "Options",
    "sections": [
        {"title": "Fast", "rows": [{"id": "express", "title": "Express", "description": "1 day"}]},
        {"title": "Cheap", "rows": [{"id": "ground", "title": "Ground"}]},
    ],
}


@pytest.fixture(scope="module")
def http(embedded_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    if not redis_reachable():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (bash scripts/services.sh starts it)")
    with running_app(embedded_pg, tmp_path_factory.mktemp("interactive")) as running:
        yield running


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _thread(w: World, cid: str) -> list[dict[str, Any]]:
    answer = w.http.call("GET", f"/api/conversations/{cid}", w.admin)
    assert answer.status_code == 200, answer.text
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


def _send_now(w: World, message_id: str) -> str:
    """What the worker's msg.send does, on the app's own loop; the wamid Meta gave."""
    runtime = w.http.runtime
    outcome = w.http.run(
        lambda: deliver_message(
            runtime.services, w.http.gateway, uuid.UUID(w.tenant_id), uuid.UUID(message_id)
        )
    )
    assert outcome == "sent"
    sent = w.http.gateway.sent[-1]
    return sent.wamid


@pytest.mark.parametrize(
    ("body", "tap", "chosen"),
    [
        (BUTTONS, {"type": "button_reply", "button_reply": {"id": "cancel", "title": "Cancel"}},
         "Cancel"),
        (LIST, {"type": "list_reply",
                "list_reply": {"id": "ground", "title": "Ground", "description": ""}}, "Ground"),
    ],
    ids=["buttons", "list"],
)  # fmt: skip
def test_an_agent_sends_options_and_the_customers_choice_shows_in_the_thread(
    http: Http, body: dict[str, Any], tap: dict[str, Any], chosen: str
) -> None:
    w = World.register(http)
    customer = w.customer_says()
    agent = w.user("agent")
    answer = http.call("POST", f"/api/conversations/{customer.id}/interactive", agent, json=body)
    assert answer.status_code == 202, answer.text
    question = answer.json()
    assert (question["type"], question["text"], question["status"]) == (
        "interactive", body["body"], "accepted",
    )  # fmt: skip
    assert question["content"]["interactive"]["type"] == body["type"]

    wamid = _send_now(w, question["id"])
    sent = http.gateway.sent[-1].message
    assert sent.interactive is not None
    assert sent.interactive.body == body["body"]

    tapped = {
        "from": customer.phone, "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time()) + 1), "type": "interactive", "interactive": tap,
        "context": {"from": "15550001111", "id": wamid},
    }  # fmt: skip
    report = w.webhook(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": w.pnid},
            "contacts": [{"profile": {"name": customer.name}, "wa_id": customer.phone}],
            "messages": [tapped],
        }
    )
    assert report["stored"] == 1, report
    newest, asked, *_ = _thread(w, customer.id)
    assert asked["id"] == question["id"]
    assert asked["wamid"] == wamid
    assert (newest["direction"], newest["type"], newest["text"]) == (
        "inbound", "interactive", chosen,
    )  # fmt: skip
    picked = newest["content"]["interactive"]
    assert (picked.get("button_reply") or picked.get("list_reply"))["title"] == chosen

    audit = w.http.call("GET", "/api/audit", w.admin).json()
    assert any(
        e["action"] == "message.send" and e["entity_id"] == question["id"]
        and e["after"]["type"] == "interactive"
        for e in audit
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"buttons": [{"id": "a", "title": "A title over 20 chars"}]}, "buttons[0].title"),
        ({"buttons": [{"id": f"b{i}", "title": f"B{i}"} for i in range(4)]}, "buttons"),
        ({"buttons": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}, "buttons[1].id"),
        ({"body": "x" * 1025}, "body"),
        ({"header": "h" * 61}, "header"),
        ({"type": "carousel"}, "type"),
        ({"type": "list", "buttons": [], "button": "Open", "sections": [
            {"rows": [{"id": f"r{i}", "title": "Row"} for i in range(11)]}]}, "sections"),
        ({"type": "list", "buttons": [], "button": "Open", "sections": [
            {"rows": [{"id": "r", "title": "Row", "description": "d" * 73}]}]},
         "sections[0].rows[0].description"),
    ],
    ids=["title", "four", "same-id", "body", "header", "type", "eleven-rows", "description"],
)  # fmt: skip
def test_a_field_over_metas_limits_is_a_422_naming_it(
    http: Http, change: dict[str, Any], field: str
) -> None:
    w = World.register(http)
    customer = w.customer_says()
    before = _thread(w, customer.id)
    answer = http.call(
        "POST", f"/api/conversations/{customer.id}/interactive", w.admin,
        json={**BUTTONS, **change},
    )  # fmt: skip
    problem = _problem(answer, 422)
    assert (problem["code"], problem["field"]) == ("invalid_input", field)
    assert _thread(w, customer.id) == before


def test_a_malformed_body_is_a_400_problem(http: Http) -> None:
    w = World.register(http)
    customer = w.customer_says()
    for body in ({"type": "button"}, {**BUTTONS, "buttons": "keep"}, [1, 2]):
        answer = http.call(
            "POST", f"/api/conversations/{customer.id}/interactive", w.admin, json=body
        )
        _problem(answer, 400)


def test_outside_the_window_it_is_a_409_problem(http: Http) -> None:
    w = World.register(http)
    long_ago = str(int(time.time()) - 25 * 3600)
    customer = w.customer_says({"type": "text", "text": {"body": "hi"}, "timestamp": long_ago})
    answer = http.call(
        "POST", f"/api/conversations/{customer.id}/interactive", w.admin, json=BUTTONS
    )
    assert _problem(answer, 409)["code"] == "window_closed"


# -- template delete -------------------------------------------------------------------


def _templates(w: World) -> dict[str, dict[str, Any]]:
    answer = w.http.call("GET", "/api/templates", w.admin)
    assert answer.status_code == 200, answer.text
    return {t["id"]: t for t in answer.json()}


def test_a_draft_is_removed_and_a_submitted_template_deleted_at_meta(http: Http) -> None:
    w = World.register(http)
    draft = w.template()
    gone = http.call("DELETE", f"/api/templates/{draft['id']}", w.user("manager"))
    assert gone.status_code == 204, gone.text
    assert draft["id"] not in _templates(w)

    approved = w.approved_template()
    meta_id = _templates(w)[approved["id"]]["meta_id"]
    deleted = http.call("DELETE", f"/api/templates/{approved['id']}", w.admin)
    assert deleted.status_code == 204, deleted.text
    assert _templates(w)[approved["id"]]["status"] == "DELETED"
    assert (w.waba_id, approved["name"], meta_id) in http.gateway.deleted

    again = http.call("DELETE", f"/api/templates/{approved['id']}", w.admin)
    assert _problem(again, 409)["code"] == "illegal_transition"
    # A deleted template cannot be sent.
    customer = w.customer_says()
    send = http.call(
        "POST", "/api/messages/send-template", w.admin,
        json={"name": approved["name"], "language": "en", "conversation_id": customer.id,
              "body_params": ["A-1"]},
    )  # fmt: skip
    assert _problem(send, 409)["code"] == "template_not_approved"

    audit = [e for e in http.call("GET", "/api/audit", w.admin).json()
             if e["action"] == "template.delete"]  # fmt: skip
    assert {e["entity_id"] for e in audit} == {draft["id"], approved["id"]}


def test_an_unknown_template_is_a_404_problem(http: Http) -> None:
    w = World.register(http)
    answer = http.call("DELETE", f"/api/templates/{uuid.uuid4()}", w.admin)
    _problem(answer, 404)
