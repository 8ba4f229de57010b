"""What the Claude and OpenAI adapters share: the three AI ports on top of one
structured call (``_complete``) that each adapter makes with its own SDK."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Self

from adapters.ai.prompts import (
    IntentAnswer,
    Prompt,
    ReplyAnswer,
    SummaryAnswer,
    checked_intent,
    classification_prompt,
    decode_answer,
    known_grounding,
    suggestion_prompt,
    summary_prompt,
)
from whatsapp_core.ai import IntentResult, ReplyContext, Suggestion, Summary, TokenUsage, Turn

Raw = bytes | str | dict[str, Any]


class ModelProvider:
    name = "model"
    model = ""

    def using(self, model: str) -> Self:
        """The same provider (same SDK client and connection pool) asking ``model``."""
        variant = copy.copy(self)
        variant.model = model
        return variant

    async def _complete(self, prompt: Prompt) -> tuple[Raw, TokenUsage, str]:
        """The model's structured answer (JSON text or a tool's input), tokens, model."""
        raise NotImplementedError

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        raw, usage, model = await self._complete(classification_prompt(text, intents, context))
        answer = checked_intent(decode_answer(raw, IntentAnswer, self.name), intents, self.name)
        return IntentResult(
            intent=answer.intent,
            confidence=answer.confidence,
            provider=self.name,
            model=model,
            usage=usage,
        )

    async def suggest(self, context: ReplyContext) -> Suggestion:
        raw, usage, model = await self._complete(suggestion_prompt(context))
        answer = decode_answer(raw, ReplyAnswer, self.name)
        return Suggestion(
            text=answer.reply.strip(),
            provider=self.name,
            grounded_on=known_grounding(answer, context),
            model=model,
            usage=usage,
        )

    async def summarize(self, turns: Sequence[Turn], *, contact_name: str | None) -> Summary:
        raw, usage, model = await self._complete(summary_prompt(turns, contact_name))
        answer = decode_answer(raw, SummaryAnswer, self.name)
        return Summary(text=answer.summary.strip(), provider=self.name, model=model, usage=usage)


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``retry-after`` header (seconds or an HTTP date), if any."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
