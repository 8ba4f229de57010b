"""Claude through the official ``anthropic`` SDK (async), answering through a forced tool
call whose input is decoded with msgspec.

The SDK's own retries are kept low (``max_retries``): the fallback chain and its
circuit breaker decide what happens after a failure, not a long retry loop here.
"""

from __future__ import annotations

from typing import Any

import anthropic

from adapters.ai.model_provider import ModelProvider, Raw, retry_after
from adapters.ai.prompts import Prompt
from whatsapp_core.ai import AiProviderError, TokenUsage

NAME = "anthropic"
DEFAULT_MODEL = "claude-haiku-4-5"


class AnthropicProvider(ModelProvider):
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
        self._client = anthropic.AsyncAnthropic(
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
            "max_tokens": self.max_tokens,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
            "tools": [
                {
                    "name": prompt.tool,
                    "description": "Record the answer.",
                    "input_schema": prompt.schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": prompt.tool},
        }
        try:
            message = await self._client.messages.create(**request)
        except anthropic.APIError as exc:
            raise _translated(exc) from exc
        if not isinstance(message, anthropic.types.Message):  # e.g. a proxy's HTML page
            raise AiProviderError(
                "Claude's answer was not a Messages API response", provider=NAME, kind="malformed"
            )
        usage = TokenUsage(
            input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens
        )
        for block in message.content:
            if block.type == "tool_use" and block.name == prompt.tool:
                if not isinstance(block.input, dict):
                    break
                return block.input, usage, message.model
        raise AiProviderError(
            f"Claude did not call {prompt.tool} (stop reason {message.stop_reason})",
            provider=NAME,
            kind="malformed",
        )


def _translated(exc: anthropic.APIError) -> AiProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return AiProviderError("Claude timed out", provider=NAME, kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return AiProviderError(f"Claude unreachable: {exc}", provider=NAME, kind="unreachable")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        wait = retry_after(exc.response.headers)
        if status == 429:
            kind = "rate_limited"
        elif status == 529:
            kind = "overloaded"
        elif status >= 500:
            kind = "server_error"
        else:
            kind = "refused"  # 400 bad request, 401 key, 403, 404 model...
        return AiProviderError(
            f"Claude answered HTTP {status} ({kind}): {exc.message}",
            provider=NAME,
            kind=kind,
            retry_after=wait,
        )
    return AiProviderError(
        f"Claude's answer was not usable: {exc}", provider=NAME, kind="malformed"
    )
