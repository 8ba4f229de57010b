"""The Claude and OpenAI adapters over ``httpx2.MockTransport`` (the HTTP library both
official SDKs use): bodies shaped like the real Messages API and Chat Completions API,
their error bodies, rate limits and malformed model output. No network call is made."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from adapters.ai.anthropic import AnthropicProvider
from adapters.ai.openai import OpenAIProvider
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    AiProviderError,
    KnowledgeHit,
    KnowledgeSnippet,
    ReplyContext,
    Turn,
)

pytestmark = pytest.mark.unit
ANTHROPIC_KEY = "sk-ant-api03-test-key-never-sent-anywhere"
OPENAI_KEY = "sk-proj-test-key-never-sent-anywhere"
Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    def __init__(self, *responses: httpx2.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.responses.pop(0)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def claude(recorder: Recorder) -> AnthropicProvider:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(recorder))
    return AnthropicProvider(ANTHROPIC_KEY, http_client=client, max_retries=0, timeout=5)


def gpt(recorder: Recorder) -> OpenAIProvider:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(recorder))
    return OpenAIProvider(OPENAI_KEY, http_client=client, max_retries=0, timeout=5)


def claude_tool(
    name: str, tool_input: Any, *, usage: tuple[int, int] = (412, 31)
) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": name,
                 "input": tool_input},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        },
    )  # fmt: skip


def claude_error(status: int, kind: str, message: str, **headers: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers={"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", **headers},
        json={"type": "error", "error": {"type": kind, "message": message},
              "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"},
    )  # fmt: skip


def gpt_content(
    content: str | None, *, finish: str = "stop", refusal: str | None = None
) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "chat.completion",
            "created": 1741570283,
            "model": "gpt-5.4-mini-2026-03-17",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content,
                 "refusal": refusal, "annotations": []}, "logprobs": None,
                 "finish_reason": finish},
            ],
            "usage": {"prompt_tokens": 301, "completion_tokens": 18, "total_tokens": 319,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
            "service_tier": "default",
            "system_fingerprint": None,
        },
    )  # fmt: skip


def gpt_error(
    status: int, kind: str, message: str, code: str | None = None, **headers: str
) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"error": {"message": message, "type": kind, "param": None, "code": code}},
    )


async def test_claude_classifies_through_a_forced_tool_call() -> None:
    recorder = Recorder(
        claude_tool("record_intent", {"intent": "order_status", "confidence": 0.93})
    )
    result = await claude(recorder).classify(
        "Where is my order #4521?",
        intents=DEFAULT_INTENTS,
        context=[Turn(role="agent", text="Hi!")],
    )
    assert (result.intent, result.confidence, result.provider) == (
        "order_status",
        0.93,
        "anthropic",
    )
    assert result.model == "claude-haiku-4-5-20251001"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (412, 31)

    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/v1/messages")
    body = recorder.body
    assert body["model"] == "claude-haiku-4-5"
    assert body["tool_choice"] == {"type": "tool", "name": "record_intent"}
    assert body["tools"][0]["input_schema"]["properties"]["intent"]["enum"] == list(DEFAULT_INTENTS)
    assert "Where is my order #4521?" in body["messages"][0]["content"]
    assert ANTHROPIC_KEY not in request.content.decode()  # the key is a header, never the prompt


async def test_claude_suggests_and_keeps_only_the_sources_it_was_given() -> None:
    snippet = KnowledgeSnippet(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), title="Returns", body="30 days.",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    invented = str(uuid.uuid4())
    recorder = Recorder(
        claude_tool("draft_reply", {"reply": " Hi Ana! You have 30 days. ",
                                    "grounded_on": [str(snippet.id), invented]})
    )  # fmt: skip
    context = ReplyContext(
        contact_name="Ana", turns=(Turn(role="customer", text="Can I return it?"),),
        intent="question", knowledge=(KnowledgeHit(snippet=snippet, score=0.8),),
    )  # fmt: skip
    suggestion = await claude(recorder).suggest(context)
    assert suggestion.text == "Hi Ana! You have 30 days."
    assert suggestion.grounded_on == (str(snippet.id),)  # the invented id is dropped
    assert f"id={snippet.id}" in recorder.body["messages"][0]["content"]


@pytest.mark.parametrize(
    ("response", "kind", "retry_after"),
    [
        (
            claude_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                **{"retry-after": "17"},
            ),
            "rate_limited",
            17.0,
        ),
        (claude_error(529, "overloaded_error", "Overloaded"), "overloaded", None),
        (claude_error(500, "api_error", "Internal server error"), "server_error", None),
        (claude_error(401, "authentication_error", "invalid x-api-key"), "refused", None),
        (
            claude_tool("record_intent", {"intent": "refund_request", "confidence": 0.9}),
            "malformed",
            None,
        ),
        (
            claude_tool("record_intent", {"intent": "greeting", "confidence": "high"}),
            "malformed",
            None,
        ),
        (claude_tool("some_other_tool", {"x": 1}), "malformed", None),
        (httpx2.Response(200, text="<html>502 Bad Gateway</html>"), "malformed", None),
    ],
    ids=["429", "529", "500", "401", "unknown-intent", "bad-confidence", "wrong-tool", "html"],
)
async def test_claude_failures_become_provider_errors(
    response: httpx2.Response, kind: str, retry_after: float | None
) -> None:
    with pytest.raises(AiProviderError) as caught:
        await claude(Recorder(response)).classify("hello", intents=DEFAULT_INTENTS)
    assert (caught.value.provider, caught.value.kind) == ("anthropic", kind)
    assert caught.value.retry_after == retry_after


async def test_claude_timeout_is_a_provider_error() -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(slow))
    provider = AnthropicProvider(ANTHROPIC_KEY, http_client=client, max_retries=0)
    with pytest.raises(AiProviderError) as caught:
        await provider.summarize([Turn(role="customer", text="hi")], contact_name=None)
    assert caught.value.kind == "timeout"


async def test_openai_classifies_with_a_strict_json_schema() -> None:
    recorder = Recorder(gpt_content('{"intent": "complaint", "confidence": 0.88}'))
    result = await gpt(recorder).classify("Péssimo atendimento", intents=DEFAULT_INTENTS)
    assert (result.intent, result.confidence, result.provider) == ("complaint", 0.88, "openai")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (301, 18)
    assert result.model == "gpt-5.4-mini-2026-03-17"

    (request,) = recorder.requests
    assert request.url.path == "/v1/chat/completions"
    body = recorder.body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert OPENAI_KEY not in request.content.decode()


async def test_openai_summarizes() -> None:
    recorder = Recorder(gpt_content('{"summary": "Ana asks where order 4521 is."}'))
    summary = await gpt(recorder).summarize(
        [Turn(role="customer", text="Where is 4521?")], contact_name="Ana"
    )
    assert (summary.text, summary.provider) == ("Ana asks where order 4521 is.", "openai")


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (gpt_error(429, "requests", "Rate limit reached for gpt-5.4-mini", "rate_limit_exceeded",
                   **{"retry-after": "2"}), "rate_limited"),
        (gpt_error(429, "insufficient_quota", "You exceeded your current quota",
                   "insufficient_quota"), "rate_limited"),
        (gpt_error(503, "server_error", "The engine is currently overloaded"), "server_error"),
        (gpt_error(400, "invalid_request_error", "Invalid schema"), "refused"),
        (gpt_content('{"intent": "complaint", "confidence": 0.9'), "malformed"),
        (gpt_content("Sure! The intent is complaint."), "malformed"),
        (gpt_content('{"intent": "complaint"}'), "malformed"),
        (gpt_content(None, refusal="I can't help with that."), "malformed"),
        (gpt_content('{"intent": "compl', finish="length"), "malformed"),
    ],
    ids=["429", "quota", "503", "400", "truncated-json", "prose", "missing-field", "refusal",
         "length"],
)  # fmt: skip
async def test_openai_failures_become_provider_errors(response: httpx2.Response, kind: str) -> None:
    with pytest.raises(AiProviderError) as caught:
        await gpt(Recorder(response)).classify("hello", intents=DEFAULT_INTENTS)
    assert (caught.value.provider, caught.value.kind) == ("openai", kind)


async def test_openai_non_json_body_is_malformed() -> None:
    with pytest.raises(AiProviderError) as caught:
        await gpt(Recorder(httpx2.Response(200, text="<html>oops</html>"))).classify(
            "hello", intents=DEFAULT_INTENTS
        )
    assert caught.value.kind == "malformed"
