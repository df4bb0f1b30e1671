"""Fixtures: a simulator in the 1.15 profile served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from otel_dify.simulator import DifySimulator
from tests.simulator.support import Console, serving

ADMIN_KEY = "sim-admin-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def simulator() -> DifySimulator:
    return DifySimulator(profile="1.15", seed=7, admin_api_key=ADMIN_KEY, secret_key="s" * 48)


@pytest.fixture
async def console(simulator: DifySimulator) -> AsyncIterator[Console]:
    async with serving(simulator) as client:
        yield client
