"""Prompts and structured answers shared by the Claude and OpenAI adapters.

A prompt carries only what the use case handed over: one tenant's recent turns, the
contact's name, the intent and that tenant's knowledge snippets; never keys, phone
numbers or ids other than snippet ids. Answers are JSON objects decoded with msgspec
into the Structs below; anything else is ``AiProviderError(kind="malformed")`` so the
fallback chain moves on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from whatsapp_core.ai import AiProviderError, ReplyContext, Turn

MAX_TURN_CHARS = 1000


class Prompt(msgspec.Struct, frozen=True, kw_only=True):
    system: str
    user: str
    tool: str  # the name of the structured answer ("record_intent", ...)
    schema: dict[str, Any]  # JSON Schema of the answer


class IntentAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    intent: str
    confidence: float


class ReplyAnswer(msgspec.Struct, frozen=True):
    reply: str
    grounded_on: list[str] = []


class SummaryAnswer(msgspec.Struct, frozen=True):
    summary: str


A = TypeVar("A", IntentAnswer, ReplyAnswer, SummaryAnswer)


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _transcript(turns: Sequence[Turn]) -> str:
    return "\n".join(f"[{t.role}] {t.text[:MAX_TURN_CHARS]}" for t in turns) or "(none)"


def classification_prompt(text: str, intents: Sequence[str], context: Sequence[Turn]) -> Prompt:
    return Prompt(
        system=(
            "You classify WhatsApp messages a business receives from its customers. "
            "Messages may be in any language (often English, Portuguese or Spanish). "
            f"Answer with exactly one intent from this list: {', '.join(intents)}. "
            "confidence is your probability (0 to 1) that the intent is right."
        ),
        user=(
            f"Earlier messages, oldest first:\n{_transcript(context)}\n\n"
            f"Message to classify:\n{text[:MAX_TURN_CHARS]}"
        ),
        tool="record_intent",
        schema=_object(
            {
                "intent": {"type": "string", "enum": list(intents)},
                "confidence": {"type": "number"},
            },
            ["intent", "confidence"],
        ),
    )


def suggestion_prompt(context: ReplyContext) -> Prompt:
    snippets = "\n".join(
        f"- id={hit.snippet.id} | {hit.snippet.title}: {hit.snippet.body}"
        for hit in context.knowledge
    )
    return Prompt(
        system=(
            "You draft the next WhatsApp reply for a business's support agent, who will "
            "review it before sending. Reply in the customer's language, briefly and "
            "warmly, without promising what the knowledge base does not say. Use the "
            "knowledge snippets when they answer the question and list the ids you used "
            "in grounded_on. Never invent order numbers, prices or links."
        ),
        user=(
            f"Customer name: {context.contact_name or 'unknown'}\n"
            f"Detected intent of the last message: {context.intent or 'unknown'}\n"
            f"Knowledge snippets:\n{snippets or '(none)'}\n\n"
            f"Conversation, oldest first:\n{_transcript(context.turns)}"
        ),
        tool="draft_reply",
        schema=_object(
            {
                "reply": {"type": "string"},
                "grounded_on": {"type": "array", "items": {"type": "string"}},
            },
            ["reply", "grounded_on"],
        ),
    )


def summary_prompt(turns: Sequence[Turn], contact_name: str | None) -> Prompt:
    return Prompt(
        system=(
            "You summarise a WhatsApp conversation between a customer and a business's "
            "support team for an agent taking it over: what the customer wants, what was "
            "done, what is still open. At most five short sentences, in English."
        ),
        user=f"Customer name: {contact_name or 'unknown'}\n\n{_transcript(turns)}",
        tool="record_summary",
        schema=_object({"summary": {"type": "string"}}, ["summary"]),
    )


def decode_answer(raw: bytes | str | dict[str, Any], shape: type[A], provider: str) -> A:
    """Decode a model's JSON (text or an already-parsed tool input) into ``shape``."""
    try:
        if isinstance(raw, dict):
            return msgspec.convert(raw, shape)
        return msgspec.json.decode(raw, type=shape)
    except msgspec.DecodeError as exc:
        raise AiProviderError(
            f"{provider} answered something that is not the expected JSON: {exc}",
            provider=provider,
            kind="malformed",
        ) from exc


def checked_intent(answer: IntentAnswer, intents: Sequence[str], provider: str) -> IntentAnswer:
    if answer.intent not in intents or not 0.0 <= answer.confidence <= 1.0:
        raise AiProviderError(
            f"{provider} answered intent {answer.intent!r} with confidence "
            f"{answer.confidence}, outside what was asked",
            provider=provider,
            kind="malformed",
        )
    return answer


def known_grounding(answer: ReplyAnswer, context: ReplyContext) -> tuple[str, ...]:
    """Only ids of snippets the model was given (it may not invent sources)."""
    given = {str(hit.snippet.id) for hit in context.knowledge}
    return tuple(i for i in answer.grounded_on if i in given)
