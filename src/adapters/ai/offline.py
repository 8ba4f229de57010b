"""The offline provider: deterministic heuristics that work with no key and no network.

- classify: keyword/pattern scores per intent (``intent_rules``); the confidence grows
  with the winner's margin over the runner-up and with how much evidence it had.
- suggest: a template per intent and language (English, Portuguese, Spanish), greeting
  the contact by first name; grounded on the best knowledge snippet when there is one.
- summarize: extractive: counts, the topic, the customer's most telling sentences and
  where the conversation stands.

It is honest about being heuristics: ``provider="offline"`` on every answer, and a
message with no evidence is ``other`` with a low confidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.ai.intent_rules import normalize, scores
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    FALLBACK_INTENT,
    IntentResult,
    ReplyContext,
    Suggestion,
    Summary,
    Turn,
)

NAME = "offline"
MODEL = "rules-v2"  # v2: a faulty item that arrived is a complaint

_STOPWORDS = {
    "en": {"the", "my", "is", "you", "your", "i", "and", "to", "it", "do", "hi", "hello",
           "what", "where", "can", "thanks", "please", "order", "have", "this", "with"},
    "pt": {"o", "meu", "minha", "voce", "voces", "e", "nao", "de", "do", "da", "um", "uma",
           "oi", "ola", "obrigado", "obrigada", "tudo", "bom", "pedido", "quero", "para",
           "com", "tem", "esta", "qual", "consigo", "cade", "estou", "muito", "ninguem",
           "tenho", "mas", "preciso", "ajuda", "chegou", "vcs"},
    "es": {"el", "mi", "es", "usted", "y", "no", "de", "del", "la", "un", "una", "hola",
           "gracias", "pedido", "quiero", "para", "con", "tienen", "esta", "donde", "cual",
           "puedo", "buenos", "buenas", "los", "las", "que", "estoy", "muy", "nadie", "tengo",
           "por", "favor", "pero", "cuando", "llego", "necesito", "ayuda"},
}  # fmt: skip


def detect_language(text: str) -> str:
    words = re.findall(r"[a-z']+", normalize(text))
    counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(counts, key=lambda lang: counts[lang])
    return best if counts[best] else "en"


_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hi{name}!",
        "greeting": "Thanks for reaching out. How can I help you today?",
        "question": "Thanks for your question. Let me check that for you and I'll get right "
        "back to you.",
        "order_status": "Sorry for the wait. Could you send me your order number so I can "
        "check where it is?",
        "order_known": "I'm checking order {order} now and I'll update you in a moment.",
        "complaint": "I'm really sorry about this, and I understand your frustration. I'll "
        "look into it personally right away. Could you send me your order number and, if "
        "possible, a photo?",
        "purchase_intent": "Great choice! Which item and quantity would you like, and where "
        "should we deliver it? I'll send you the payment link.",
        "support": "Sorry you're having trouble. Could you tell me what you see on the "
        "screen (or send a screenshot) so I can help you fix it?",
        "other": "You're welcome! Let me know if there's anything else I can do for you.",
        "grounded": "{body}",
        "more": "Is there anything else I can help you with?",
    },
    "pt": {
        "hello": "Olá{name}!",
        "greeting": "Obrigado pelo contato. Como posso ajudar hoje?",
        "question": "Obrigado pela pergunta. Vou verificar e já te respondo.",
        "order_status": "Desculpe a demora. Pode me enviar o número do pedido para eu "
        "verificar onde ele está?",
        "order_known": "Estou verificando o pedido {order} agora e já te dou retorno.",
        "complaint": "Sinto muito por isso, entendo sua frustração. Vou verificar "
        "pessoalmente agora mesmo. Pode me enviar o número do pedido e, se possível, uma foto?",
        "purchase_intent": "Ótima escolha! Qual produto e quantidade você quer, e para qual "
        "endereço enviamos? Já te mando o link de pagamento.",
        "support": "Sinto muito pelo problema. Pode me dizer o que aparece na tela (ou "
        "enviar um print) para eu te ajudar a resolver?",
        "other": "Por nada! Se precisar de mais alguma coisa, é só chamar.",
        "grounded": "{body}",
        "more": "Posso ajudar em mais alguma coisa?",
    },
    "es": {
        "hello": "¡Hola{name}!",
        "greeting": "Gracias por escribirnos. ¿En qué puedo ayudarte hoy?",
        "question": "Gracias por tu pregunta. Lo reviso y te respondo enseguida.",
        "order_status": "Disculpa la espera. ¿Me envías el número de pedido para revisar "
        "dónde está?",
        "order_known": "Estoy revisando el pedido {order} ahora y te aviso en un momento.",
        "complaint": "Lamento mucho lo ocurrido y entiendo tu molestia. Lo reviso "
        "personalmente ahora mismo. ¿Me envías el número de pedido y, si es posible, una foto?",
        "purchase_intent": "¡Excelente elección! ¿Qué producto y cantidad quieres, y a qué "
        "dirección lo enviamos? Te mando el enlace de pago.",
        "support": "Lamento el inconveniente. ¿Me dices qué aparece en la pantalla (o me "
        "envías una captura) para ayudarte a resolverlo?",
        "other": "¡De nada! Si necesitas algo más, aquí estoy.",
        "grounded": "{body}",
        "more": "¿Puedo ayudarte con algo más?",
    },
}
_ORDER_NUMBER = re.compile(r"(?:#\s?|\b(?:order|pedido|orden)\s?#?)(\d{3,})", re.IGNORECASE)
# A snippet grounds the reply for these intents; a complaint gets an apology first.
_GROUNDABLE = {"question", "support", "order_status", "purchase_intent", "other"}


class OfflineProvider:
    """``IntentClassifier``, ``ReplySuggester`` and ``Summarizer`` without a model."""

    name = NAME

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        return classify_text(text, intents)

    async def suggest(self, context: ReplyContext) -> Suggestion:
        return suggest_text(context)

    async def summarize(self, turns: Sequence[Turn], *, contact_name: str | None) -> Summary:
        return summarize_turns(turns, contact_name)


def classify_text(text: str, intents: Sequence[str]) -> IntentResult:
    found = sorted(
        ((score, intent) for intent, score in scores(text).items() if intent in intents),
        reverse=True,
    )
    fallback = FALLBACK_INTENT if FALLBACK_INTENT in intents else intents[-1]
    if not found:
        return IntentResult(intent=fallback, confidence=0.3, provider=NAME, model=MODEL)
    top, intent = found[0]
    runner_up = found[1][0] if len(found) > 1 else 0.0
    margin = (top - runner_up) / top
    evidence = min(top, 3.0) / 3.0
    confidence = min(0.95, 0.4 + 0.35 * margin + 0.2 * evidence)
    return IntentResult(intent=intent, confidence=round(confidence, 3), provider=NAME, model=MODEL)


def _first_name(name: str | None) -> str:
    if not name or not name.strip():
        return ""
    first = name.strip().split()[0]
    return "" if first.lstrip("+").isdigit() else f" {first}"


def suggest_text(context: ReplyContext) -> Suggestion:
    customer = [t.text for t in context.turns if t.role == "customer"]
    last = customer[-1] if customer else ""
    intent = context.intent or classify_text(last, DEFAULT_INTENTS).intent
    if intent == "spam":
        return Suggestion(text="", provider=NAME, model=MODEL)  # nothing worth sending
    lang = detect_language(" ".join(customer[-3:]))
    words = _TEMPLATES[lang]
    parts = [words["hello"].format(name=_first_name(context.contact_name))]
    grounded: tuple[str, ...] = ()
    best = context.knowledge[0] if context.knowledge else None
    if best is not None and intent in _GROUNDABLE:
        parts += [words["grounded"].format(body=best.snippet.body), words["more"]]
        grounded = (str(best.snippet.id),)
    elif intent == "order_status" and (number := _ORDER_NUMBER.search(last)):
        parts.append(words["order_known"].format(order=number.group(1)))
    else:
        parts.append(words.get(intent, words["other"]))
    return Suggestion(text=" ".join(parts), provider=NAME, grounded_on=grounded, model=MODEL)


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def summarize_turns(turns: Sequence[Turn], contact_name: str | None) -> Summary:
    who = (contact_name or "The customer").strip()
    customer = [t.text for t in turns if t.role == "customer"]
    agents = len(turns) - len(customer)
    lines = [
        f"{who} sent {len(customer)} message{'s' * (len(customer) != 1)}; the team replied "
        f"{agents} time{'s' * (agents != 1)}."
    ]
    if customer:
        topic = classify_text(" ".join(customer), DEFAULT_INTENTS).intent
        lines.append(f"Topic: {topic.replace('_', ' ')}.")
        sentences = [s.strip() for text in customer for s in _SENTENCE.split(text) if s.strip()]
        ranked = sorted(
            range(len(sentences)),
            key=lambda i: (sum(scores(sentences[i]).values()), len(sentences[i])),
            reverse=True,
        )
        key_points = [_clip(sentences[i]) for i in sorted(ranked[:3])]
        lines.append("Key points: " + " | ".join(key_points))
    if turns:
        last = turns[-1]
        waiting = "waiting for the team" if last.role == "customer" else "waiting for the customer"
        lines.append(f"Last message ({last.role}): {_clip(last.text)} ({waiting}).")
    return Summary(text="\n".join(lines), provider=NAME, model=MODEL)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
