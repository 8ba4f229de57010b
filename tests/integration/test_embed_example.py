"""The embedding example runs as a user would run it, and the public API is complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import whatsapp_core

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_embed_example_stores_a_signed_webhook_and_replies_through_its_gateway() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed" / "service.py")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "forged signature -> 401 missing or invalid X-Hub-Signature-256",
        "signed delivery  -> 200, stored 1 message",
        "redelivery       -> 200, stored 0 message",
        "agent reply      -> sent via own gateway: [('5511999999999', 'On its way!')]",
    ]


def test_every_public_name_resolves() -> None:
    assert sorted(whatsapp_core.__all__) == whatsapp_core.__all__
    for name in whatsapp_core.__all__:
        assert getattr(whatsapp_core, name) is not None, name
