"""OpenAI through the official ``openai`` SDK (async), with Structured Outputs (a strict
JSON schema) whose text is decoded with msgspec."""

from __future__ import annotations

from typing import Any

import openai

from adapters.ai.model_provider import ModelProvider, Raw, retry_after
from adapters.ai.prompts import Prompt
from whatsapp_core.ai import AiProviderError, TokenUsage

NAME = "openai"
DEFAULT_MODEL = "gpt-5.4-mini"


class OpenAIProvider(ModelProvider):
    name = NAME

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        http_client: Any = None,  # an httpx2.AsyncClient (the SDK's HTTP library)
        timeout: float = 15.0,
        max_retries: int = 1,
        max_tokens: int = 600,
        base_url: str | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            http_client=http_client,
            timeout=timeout,
            max_retries=max_retries,
            base_url=base_url,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def _complete(self, prompt: Prompt) -> tuple[Raw, TokenUsage, str]:
        request: dict[str, Any] = {
            "model": self.model,
            "max_completion_tokens": self.max_tokens,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": prompt.tool, "schema": prompt.schema, "strict": True},
            },
        }
        try:
            completion = await self._client.chat.completions.create(**request)
        except openai.APIError as exc:
            raise _translated(exc) from exc
        if not isinstance(completion, openai.types.chat.ChatCompletion):
            raise AiProviderError(
                "OpenAI's answer was not a chat completion", provider=NAME, kind="malformed"
            )
        usage = (
            TokenUsage(
                input_tokens=completion.usage.prompt_tokens,
                output_tokens=completion.usage.completion_tokens,
            )
            if completion.usage is not None
            else TokenUsage()
        )
        choice = completion.choices[0] if completion.choices else None
        if choice is None or choice.finish_reason != "stop" or not choice.message.content:
            reason = "no choice" if choice is None else choice.finish_reason
            refusal = getattr(choice.message, "refusal", None) if choice else None
            raise AiProviderError(
                f"OpenAI gave no usable answer ({refusal or reason})",
                provider=NAME,
                kind="malformed",
            )
        return choice.message.content, usage, completion.model


def _translated(exc: openai.APIError) -> AiProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return AiProviderError("OpenAI timed out", provider=NAME, kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return AiProviderError(f"OpenAI unreachable: {exc}", provider=NAME, kind="unreachable")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            kind = "rate_limited"
        elif status >= 500:
            kind = "server_error"
        else:
            kind = "refused"
        return AiProviderError(
            f"OpenAI answered HTTP {status} ({kind}): {exc.message}",
            provider=NAME,
            kind=kind,
            retry_after=retry_after(exc.response.headers),
        )
    return AiProviderError(
        f"OpenAI's answer was not usable: {exc}", provider=NAME, kind="malformed"
    )
