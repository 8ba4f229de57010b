"""AI for agents: reply suggestions, summaries, the knowledge base, search by meaning."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from entrypoints.bootstrap import Runtime
from entrypoints.http.routes_ai_settings import AiSettingsController
from whatsapp_core.ai import KnowledgeSnippet
from whatsapp_core.domain.model import Principal
from whatsapp_core.services import ai as ai_service


class SuggestionOut(msgspec.Struct, kw_only=True):
    text: str
    provider: str
    model: str
    grounded_on: list[str]


class SummaryOut(msgspec.Struct, kw_only=True):
    text: str
    provider: str
    model: str


class SnippetIn(msgspec.Struct, kw_only=True):
    title: str
    body: str


class SnippetOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    title: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, s: KnowledgeSnippet) -> SnippetOut:
        return cls(id=s.id, title=s.title, body=s.body, created_at=s.created_at)


class SnippetHitOut(msgspec.Struct, kw_only=True):
    snippet: SnippetOut
    score: float


class MessageHitOut(msgspec.Struct, kw_only=True):
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    direction: str
    text: str | None
    created_at: datetime
    score: float


class SimilarOut(msgspec.Struct, kw_only=True):
    snippets: list[SnippetHitOut]
    messages: list[MessageHitOut]


class ConversationAiController(Controller):
    path = "/api/conversations"
    tags = ("ai",)

    @post("/{conversation_id:uuid}/suggest", status_code=200, summary="Suggest a reply")
    async def suggest(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> SuggestionOut:
        ai = runtime.ai
        s = await ai_service.suggest_reply(
            runtime.services, ai.router, principal, conversation_id, embedder=ai.embedder
        )
        return SuggestionOut(
            text=s.text, provider=s.provider, model=s.model, grounded_on=list(s.grounded_on)
        )

    @get("/{conversation_id:uuid}/summary", summary="Summarise the conversation")
    async def summary(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> SummaryOut:
        s = await ai_service.summarize(
            runtime.services, runtime.ai.router, principal, conversation_id
        )
        return SummaryOut(text=s.text, provider=s.provider, model=s.model)


class KnowledgeController(Controller):
    path = "/api/knowledge"
    tags = ("ai",)

    @get(summary="Knowledge snippets, newest first (ai.manage)")
    async def list_(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        limit: FromQuery[int] = 100,
    ) -> list[SnippetOut]:
        found = await ai_service.list_snippets(runtime.services, principal, limit=limit)
        return [SnippetOut.of(s) for s in found]

    @post(status_code=201, summary="Add a snippet (embedded for search)")
    async def create(
        self,
        data: JSONBody[SnippetIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> SnippetOut:
        s = await ai_service.add_snippet(
            runtime.services, runtime.ai.embedder, principal, data.title, data.body
        )
        return SnippetOut.of(s)

    @get("/{snippet_id:uuid}")
    async def get_(
        self,
        snippet_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> SnippetOut:
        return SnippetOut.of(await ai_service.get_snippet(runtime.services, principal, snippet_id))

    @put("/{snippet_id:uuid}")
    async def update(
        self,
        snippet_id: FromPath[uuid.UUID],
        data: JSONBody[SnippetIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> SnippetOut:
        s = await ai_service.update_snippet(
            runtime.services, runtime.ai.embedder, principal, snippet_id, data.title, data.body
        )
        return SnippetOut.of(s)

    @delete("/{snippet_id:uuid}", status_code=204)
    async def remove(
        self,
        snippet_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await ai_service.delete_snippet(runtime.services, principal, snippet_id)


class SearchController(Controller):
    path = "/api/search"
    tags = ("ai",)

    @get("/similar", summary="Snippets and past messages closest in meaning (cosine)")
    async def similar(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        q: FromQuery[str],
        limit: FromQuery[int] = 5,
    ) -> SimilarOut:
        found = await ai_service.search_similar(
            runtime.services, runtime.ai.embedder, principal, q, limit=limit
        )
        return SimilarOut(
            snippets=[
                SnippetHitOut(snippet=SnippetOut.of(h.snippet), score=h.score)
                for h in found.snippets
            ],
            messages=[
                MessageHitOut(
                    message_id=m.id, conversation_id=m.conversation_id,
                    direction=m.direction.value, text=m.text, created_at=m.created_at,
                    score=score,
                )
                for m, score in found.messages
            ],
        )  # fmt: skip


AI_CONTROLLERS = (
    ConversationAiController,
    KnowledgeController,
    SearchController,
    AiSettingsController,
)
