"""A local embedder with no model: signed feature hashing of words, word pairs and
character trigrams into 384 dimensions, L2-normalised.

Chosen over the packaged all-MiniLM-L6-v2 (``adapters.ai.minilm``) as the default
because that one needs torch: measured on the 2-core CI machine, installing torch 2.13
CPU + sentence-transformers takes about 2 minutes and 1.5 GB, and importing them about
10 s, per fresh machine. This one costs nothing to install and embeds a message in
well under a millisecond.

What it captures: shared words and word pieces (so "entrega"/"entregar", typos and
accents still overlap), not meaning: "refund" and "money back" are unrelated to it.
Vectors are stable across processes and machines (blake2b, not Python's ``hash``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

from adapters.ai.intent_rules import normalize

DIMENSIONS = 384
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_WEIGHTS = {"w": 1.0, "b": 0.7, "c": 0.35}
# Function words of English, Portuguese and Spanish carry no topic: left out, they would
# make every two questions look alike.
_STOP = frozenset(
    " ".join(
        (
            "a an the and or but to of in on at for with is are was be do does did you your i",
            "me my we our it this that what when where how can could would please hi hello",
            "o os as um uma e ou de do da dos das em no na para com por voce voces eu meu",
            "minha que qual quando onde como esta tem ser oi ola",
            "el la los las un una y en del al con mi tu su es son cual cuando donde hola favor",
        )
    ).split()
)


def _bucket(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIMENSIONS, 1.0 if (value >> 63) & 1 else -1.0


def _features(text: str) -> list[tuple[str, float]]:
    words = [w for w in _WORD.findall(normalize(text)) if w not in _STOP]
    found: list[tuple[str, float]] = [(f"w:{w}", _WEIGHTS["w"]) for w in words]
    found += [(f"b:{a} {b}", _WEIGHTS["b"]) for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        found += [(f"c:{padded[i : i + 3]}", _WEIGHTS["c"]) for i in range(len(padded) - 2)]
    return found


def hash_embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for feature, weight in _features(text):
        index, sign = _bucket(feature)
        vector[index] += sign * weight
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


class HashingEmbedder:
    """``Embedder`` over feature hashing; an empty text embeds to the zero vector."""

    name = "hashing-384"

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [hash_embed(text) for text in texts]
