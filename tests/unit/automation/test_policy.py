"""The pure parts of Flow 4: target-URL policy, signatures, outcome rules, catalogue."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.automation import (
    EVENT_CATALOGUE,
    EVENT_TYPES,
    DeliveryResult,
    DeliveryState,
    WebhookSubscription,
    address_refusal,
    check_target_url,
    event_headers,
    excerpt,
    routed_address,
    sign,
    validate_events,
    verify_signature,
)
from whatsapp_core.errors import InvalidInput
from whatsapp_core.services.automation import DeliveryPolicy, count_outcome, judge

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/n8n/webhook/abc",
        "http://automation.example.org:5678/webhook/x?y=1",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
    ],
)
def test_public_http_targets_are_accepted(url: str) -> None:
    assert check_target_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:pw@example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("http://example.com:99999/", "invalid port"),
        ("http://127.0.0.1:5678/webhook", "private, loopback"),
        ("http://10.1.2.3/webhook", "private, loopback"),
        ("http://192.168.0.10/webhook", "private, loopback"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[::1]:8080/", "private, loopback"),
        ("http://[::ffff:127.0.0.1]/", "private, loopback"),
        ("http://localhost:5678/webhook", "private network name"),
        ("http://n8n:5678/webhook/abc", "private network name"),
        ("http://printer.local/", "private network name"),
        ("http://2130706433/", "dotted decimal"),
        ("http://0x7f.0.0.1/", "dotted decimal"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://0.0.0.0/", "not a host address"),
    ],
)
def test_unsafe_targets_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        check_target_url(url, allow_private=False)
    assert caught.value.details["field"] == "url"


@pytest.mark.parametrize(
    "url", ["http://n8n:5678/webhook/abc", "http://127.0.0.1:5678/x", "http://10.0.0.5/x"]
)
def test_an_admin_can_allow_private_targets_for_self_hosted_n8n(url: str) -> None:
    assert check_target_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://169.254.10.1:5678/", "link-local"),
        ("http://[fe80::1]:5678/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),  # the same address, IPv6-mapped
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # ... through NAT64
        ("http://[2002:a9fe:a9fe::1]/", "metadata"),  # ... through 6to4
        ("http://0.0.0.0:5678/", "not a host address"),
        ("http://224.0.0.1/", "not a host address"),
        ("http://255.255.255.255/", "not a host address"),
    ],
)
def test_the_never_list_stays_refused_even_when_private_targets_are_allowed(
    url: str, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_target_url(url, allow_private=True)


def test_addresses_wrapped_in_ipv6_are_judged_by_where_they_go() -> None:
    v4 = ipaddress.IPv4Address("10.0.0.5")
    for wrapped in ("::ffff:10.0.0.5", "64:ff9b::a00:5", "2002:a00:5::1"):
        assert routed_address(ipaddress.ip_address(wrapped)) == v4
    assert address_refusal(ipaddress.ip_address("64:ff9b::808:808"), allow_private=False) is None
    native = ipaddress.ip_address("2001:4860:4860::8888")
    assert routed_address(native) == native


def _never(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    routed = routed_address(address)
    return (
        routed.is_link_local or routed.is_multicast or routed.is_unspecified
        or routed in ipaddress.ip_network("0.0.0.0/8")
        or str(routed) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200",
                           "255.255.255.255")
    )  # fmt: skip


@given(st.ip_addresses())
def test_an_address_is_refused_iff_it_is_not_global_unless_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    refused = address_refusal(address, allow_private=False)
    routed = routed_address(address)  # where a connection to it really goes
    if routed.is_global and not (routed.is_reserved or _never(address)):
        assert refused is None
    else:
        assert refused is not None


@given(st.ip_addresses())
def test_with_private_targets_allowed_only_the_never_list_is_refused(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert (address_refusal(address, allow_private=True) is not None) == _never(address)


def test_signature_verifies_with_the_secret_timestamp_and_exact_body() -> None:
    body = b'{"type":"message.received"}'
    ts = int(NOW.timestamp())
    headers = event_headers("whsec_s3cret", ts, body, uuid.uuid4(), "message.received")
    sig, stamp = headers["X-Signature-256"], headers["X-Webhook-Timestamp"]
    assert sig == sign("whsec_s3cret", ts, body)
    assert sig.startswith("sha256=")
    assert verify_signature("whsec_s3cret", body, sig, stamp, now=NOW)
    assert not verify_signature("whsec_other", body, sig, stamp, now=NOW)
    assert not verify_signature("whsec_s3cret", body + b" ", sig, stamp, now=NOW)
    assert not verify_signature("whsec_s3cret", body, sig, str(ts + 1), now=NOW)
    assert not verify_signature("whsec_s3cret", body, None, stamp, now=NOW)
    # Replays older than the window are refused even with a valid signature.
    late = datetime.fromtimestamp(ts + 301, UTC)
    assert not verify_signature("whsec_s3cret", body, sig, stamp, now=late)


def _result(status: int | None = None, **kw: object) -> DeliveryResult:
    return DeliveryResult(status_code=status, latency_ms=12.0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result", "final", "state"),
    [
        (_result(200), False, DeliveryState.DELIVERED),
        (_result(204), True, DeliveryState.DELIVERED),
        (_result(500), False, DeliveryState.RETRYING),
        (_result(503), True, DeliveryState.FAILED),
        (_result(429), False, DeliveryState.RETRYING),
        (_result(408), False, DeliveryState.RETRYING),
        (_result(None, error="timed out after 10 s"), False, DeliveryState.RETRYING),
        (_result(400), False, DeliveryState.FAILED),
        (_result(404), False, DeliveryState.FAILED),
        (_result(410), False, DeliveryState.FAILED),
        (_result(301), False, DeliveryState.FAILED),
        (_result(None, error="private", refused=True), False, DeliveryState.FAILED),
    ],
)
def test_5xx_429_and_timeouts_retry_other_answers_do_not(
    result: DeliveryResult, final: bool, state: DeliveryState
) -> None:
    assert judge(result, final=final)[0] is state


def _sub(**kw: object) -> WebhookSubscription:
    return WebhookSubscription(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), url="https://x.example/h",
        events=("message.received",), secret="s", created_at=NOW, updated_at=NOW,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_nth_consecutive_failed_delivery_disables_and_a_success_resets() -> None:
    policy = DeliveryPolicy(disable_after=3)
    s = _sub()
    s = count_outcome(s, DeliveryState.RETRYING, "x", policy, NOW)
    assert s.consecutive_failures == 0  # a retry is not a failed delivery (yet)
    s = count_outcome(s, DeliveryState.FAILED, "x", policy, NOW)
    s = count_outcome(s, DeliveryState.FAILED, "x", policy, NOW)
    assert (s.active, s.consecutive_failures) == (True, 2)
    assert count_outcome(s, DeliveryState.DELIVERED, "ok", policy, NOW).consecutive_failures == 0
    s = count_outcome(s, DeliveryState.FAILED, "failed: HTTP 500", policy, NOW)
    assert not s.active
    assert "3 consecutive failed deliveries" in (s.disabled_reason or "")


def test_the_catalogue_has_every_event_of_the_issue_versioned_with_schemas() -> None:
    assert set(EVENT_TYPES) == {
        "message.received", "message.status", "conversation.opened", "conversation.assigned",
        "conversation.resolved", "contact.created", "template.status", "ai.classified",
    }  # fmt: skip
    for spec in EVENT_CATALOGUE.values():
        assert spec.version == 1
        assert spec.summary
        schema = msgspec.json.schema(spec.data)
        assert schema["$defs"]  # documented shape, served at GET /api/webhooks/events
    assert validate_events(["ai.classified", "ai.classified"]) == ("ai.classified",)
    with pytest.raises(InvalidInput, match="unknown event"):
        validate_events(["message.deleted"])
    with pytest.raises(InvalidInput, match="at least one"):
        validate_events([])


def test_response_excerpts_are_at_most_500_characters() -> None:
    assert excerpt("x" * 499) == "x" * 499
    long = excerpt("y" * 5000)
    assert long is not None
    assert len(long) == 500
    assert long.endswith("…")
