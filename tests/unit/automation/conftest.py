from __future__ import annotations

import pytest

from tests.unit.services.harness import Harness


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    return harness
