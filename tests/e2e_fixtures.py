"""Pytest fixtures for end-to-end tests: an OTLP sink and a rotel-agent collector in front of it.

Import them into a test module (``from tests.e2e_fixtures import otlp_sink,
rotel_agent``) or list this module in ``pytest_plugins`` in conftest.py.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from tests.otlp_sink import OtlpSink
from tests.rotel import RotelAgent


@pytest.fixture
def otlp_sink() -> Iterator[OtlpSink]:
    """A started OTLP/gRPC sink on a free loopback port."""
    with OtlpSink() as sink:
        yield sink


@pytest.fixture
def rotel_agent(otlp_sink: OtlpSink) -> Iterator[RotelAgent]:
    """A started rotel-agent that forwards to ``otlp_sink``."""
    with RotelAgent(otlp_sink.endpoint) as agent:
        yield agent
