"""Keyword and pattern rules per intent, in English, Portuguese and Spanish.

Text is compared lower-cased and without accents ("não" -> "nao", "¿Dónde" -> "¿donde"),
so each pattern is written once for both spellings. Each matching pattern adds its
weight to its intent once; the best total wins and the margin over the runner-up sets
the confidence (``offline.OfflineProvider.classify``).

A faulty item (damaged, broken, defective, the wrong one) is a complaint even when the
message also says it arrived or was delivered: the fault scores on its own and again when
an arrival verb is near it, and the two together (4.5) outweigh everything order_status
can score (4.0), so "My parcel arrived damaged" is a complaint while "Has my parcel
arrived?" stays order_status.
"""

from __future__ import annotations

import re
import unicodedata

Rule = tuple[re.Pattern[str], float]


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.lower()).strip()


def _r(pattern: str, weight: float) -> Rule:
    return re.compile(pattern), weight


# What is wrong with the item itself, in the three languages (text already normalized).
_FAULT = (
    r"damaged|broken|defective|faulty|smashed|shattered|incomplete|"
    r"wrong (size|item|product|colou?r|model|one|order|thing)|"
    r"(not|isn'?t|wasn'?t) what i (ordered|bought|paid for)|"
    r"quebrad[oa]s?|danificad[oa]s?|defeito|defeituos[oa]s?|avariad[oa]s?|"
    r"(produto|item|tamanho|cor|modelo|pedido|peca) errad[oa]|(veio|vieram) errad[oa]s?|"
    r"rot[oa]s?|danad[oa]s?|estropead[oa]s?|defectuos[oa]s?|con (un )?defecto|"
    r"averiad[oa]s?|(producto|articulo|talla|color|modelo|pedido) "
    r"(equivocad[oa]|incorrect[oa])|incomplet[oa]s?"
)
# It came: the delivery vocabulary that otherwise points to order_status.
_ARRIVED = (
    r"arrived?|arrives|came|delivered|received|got|showed up|turned up|"
    r"chegou|chegaram|veio|vieram|recebi|recebemos|entregue|entregaram|entregou|"
    r"llego|llegaron|vino|vinieron|recibi|recibimos|entregaron|entrego"
)
# A fault within a few words of the arrival, either way round ("arrived damaged",
# "the lamp I received is defective", "llegó roto", "quebrado, chegou assim").
_FAULT_ON_ARRIVAL = (
    rf"\b({_ARRIVED})\b.{{0,60}}\b({_FAULT})\b|\b({_FAULT})\b.{{0,60}}\b({_ARRIVED})\b"
)


RULES: dict[str, list[Rule]] = {
    "greeting": [
        _r(r"^(hi|hello|hey|hiya|ola|oi|hola|ei|e ai)\b", 1.5),
        _r(
            r"\b(good (morning|afternoon|evening)|bom dia|boa (tarde|noite)|buen(os|as)? "
            r"(dia|dias|tardes|noches)|buenas)\b",
            1.5,
        ),
        _r(r"\b(tudo (bem|bom|certo)\?|que tal|how are you|como (estas|esta|vai))\b", 1.0),
        _r(r"\b(anyone there|alguem ai|hay alguien)\b", 1.0),
    ],
    "question": [
        _r(r"\?\s*$", 0.5),
        _r(
            r"^(what|which|is|are|do|does|can|qual|quais|quanto|voces|cual|cuanto|tienen|"
            r"hacen|aceptan|el precio)\b",
            0.5,
        ),
        _r(
            r"\b(what time|opening hours|do you (have|deliver|accept|ship|sell|open|take)|"
            r"available|how much|price|cost|warranty|difference|ship internationally)\b",
            1.0,
        ),
        _r(
            r"\b(voces (aceitam|tem|entregam|abrem|fazem|vendem|trabalham)|qual (o|a|e)|"
            r"quanto (custa|e|fica)|horario|funcionamento|frete|diferenca|garantia|"
            r"aceitam)\b",
            1.0,
        ),
        _r(
            r"\b(tienen|cual es|cuanto (cuesta|vale)|horario|aceptan|hacen envios|precio|"
            r"incluye|tienda fisica|envian a)\b",
            1.0,
        ),
    ],
    "order_status": [
        _r(
            r"\b(my (order|package|parcel|delivery|shipment)|order (#|number|no)|"
            r"meu pedido|minha (encomenda|compra|entrega)|mi (pedido|paquete|orden|compra|envio)|"
            r"status|estado de mi)\b",
            2.0,
        ),
        _r(
            r"\b(tracking|track|shipped|been sent|arrived?|arrive|delivered|update on|"
            r"rastreio|rastreamento|foi enviado|chegou|cade|seguimiento|rastreo|llega|enviaron|"
            r"still nothing|i ordered|pedi hace|ainda nao)\b",
            1.0,
        ),
        _r(r"(#\s?\d{3,}|\b(pedido|order|orden)\s?#?\d{3,})", 1.0),
    ],
    "complaint": [
        _r(
            r"\b(unacceptable|disappointed|terrible|awful|worst|horrible|angry|"
            r"annoyed|ridiculous|rude|refund|complain\w*|nobody (answers|responds|replies)|"
            r"no one (answers|responds)|never again|third time)\b",
            2.0,
        ),
        _r(
            r"\b(absurdo|pessimo|pessima|horrivel|decepcionad[oa]|insatisfeit[oa]|"
            r"reclama\w*|reembolso|ninguem (me )?responde|vergonha|"
            r"cobraram|cobrado duas|nunca mais|dinheiro de volta)\b",
            2.0,
        ),
        _r(
            r"\b(pesimo|pesima|molest[oa]|enojad[oa]|indignad[oa]|verguenza|"
            r"reclamo|queja|nadie (me )?(contesta|responde)|estafa|"
            r"decepcionad[oa]|cobraron|exijo)\b",
            2.0,
        ),
        _r(rf"\b({_FAULT})\b", 2.0),
        # ... and it arrived that way: outweighs "my order" + "arrived" + "#1234" (4.0).
        _r(_FAULT_ON_ARRIVAL, 2.5),
    ],
    "purchase_intent": [
        _r(
            r"\b(i'?d like to (buy|order|purchase)|i (want|would like) to (buy|order|purchase)|"
            r"place an order|i'?ll take|i will take|link to pay|payment link|how do i pay|"
            r"add to cart|checkout|can i buy|buy)\b",
            2.0,
        ),
        _r(
            r"\b(quero (comprar|levar|encomendar|pedir)|gostaria de (comprar|encomendar|pedir)|"
            r"encomendar|fazer um pedido|fechar (o )?pedido|como pago|link de pagamento|"
            r"comprar)\b",
            2.0,
        ),
        _r(
            r"\b(quiero (comprar|pedir)|quisiera (comprar|pedir|hacer un pedido)|"
            r"hacer un pedido|me interesa|contrat\w+|link de pago|comprar)\b",
            2.0,
        ),
    ],
    "support": [
        _r(
            r"\b(can'?t|cannot|unable to|doesn'?t work|does not work|not working|error|"
            r"crash\w*|bug|log ?in|sign ?in|password|reset|account|forgot|"
            r"how (do|can) i (change|update|reset|cancel)|update my|change my|cancel my)\b",
            1.5,
        ),
        _r(
            r"\b(nao consigo|nao funciona|erro|travando|senha|conta|acessar|login|ajuda|suporte|"
            r"configurar|como faco|trocar o endereco|alterar|cancelar|cadastro)\b",
            1.5,
        ),
        _r(
            r"\b(no puedo|no funciona|contrasena|cuenta|iniciar sesion|ayuda|soporte|"
            r"configurar|cambiar (mi|la)|cancel\w*|suscripcion)\b",
            1.5,
        ),
    ],
    "spam": [
        _r(r"(https?://|www\.|bit\.ly|\.biz\b|\.xyz\b)", 2.0),
        _r(
            r"\b(congratulations|you (have )?won|winner|free (iphone|gift|money)|click (here|now)|"
            r"earn \$?\d+|from home|guaranteed|double your money|crypto|bitcoin|invest|"
            r"followers|loan approved|prize|lottery|cheap|gift card|selected|singles|profit)\b",
            1.5,
        ),
        _r(
            r"\b(ganhe dinheiro|dinheiro facil|clique (no|aqui)|premio|imperdivel|emprestimo|"
            r"sem consulta|renda extra|sorteado|parabens|garantid[oa]|de casa)\b",
            1.5,
        ),
        _r(
            r"\b(felicidades|seleccionad[oa]|premio|haga clic|haz clic|gana dinero|desde casa|"
            r"metodo secreto|prestamo|ganador|sin buro)\b",
            1.5,
        ),
        _r(r"!!!", 1.0),
        _r(r"\$\s?\d|\d+\s?%", 0.5),
    ],
    "other": [
        _r(
            r"^(ok|okay|okey|k|thanks|thank you|thx|ty|obrigad[oa]|muito obrigad[oa]|valeu|"
            r"gracias|muchas gracias|perfect[oa]?|perfeito|ta bom|tudo certo|de nada|blz|"
            r"beleza|vale|entendido|got it|sure|bye|tchau|adios|kk+|(ha)+|(ja)+|rs+)\b",
            1.5,
        ),
        _r(
            r"\b(wrong number|numero errado|numero equivocado|by mistake|sem querer|"
            r"por error|ate mais|ate logo|hasta luego)\b",
            2.0,
        ),
    ],
}


def scores(text: str) -> dict[str, float]:
    """Each intent's total weight for ``text`` (missing intents scored 0)."""
    normalized = normalize(text)
    found: dict[str, float] = {}
    for intent, rules in RULES.items():
        total = sum(weight for pattern, weight in rules if pattern.search(normalized))
        if total:
            found[intent] = total
    if _shouting(text):
        found["spam"] = found.get("spam", 0.0) + 1.0
    return found


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 15 and sum(c.isupper() for c in letters) / len(letters) > 0.6
