"""Fixtures of the end-to-end tests: collector, launcher, simulators, and the session's secret ledger."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import pytest

from tests.e2e.collector import RestartableRotel
from tests.e2e.ledger import OutputLedger
from tests.e2e.processes import Launcher
from tests.e2e.simulated import E2ESimulator
from tests.e2e_fixtures import otlp_sink, rotel_agent  # noqa: F401 - fixtures used by the test modules
from tests.otlp_sink import OtlpSink

SECRET_SCAN_MODULE = "test_secret_scan.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the secret scan module after every other test, so that it reads all their output files."""
    scans = [item for item in items if item.path.name == SECRET_SCAN_MODULE]
    others = [item for item in items if item.path.name != SECRET_SCAN_MODULE]
    items[:] = others + scans


@pytest.fixture(scope="session")
def output_ledger() -> OutputLedger:
    """Output files and secrets of every subprocess in this session."""
    return OutputLedger()


@pytest.fixture
async def launcher(tmp_path: Path, output_ledger: OutputLedger) -> AsyncIterator[Launcher]:
    """Starts otel-dify subprocesses in ``tmp_path``; kills any still running when the test ends."""
    started = Launcher(tmp_path, output_ledger)
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
def make_simulator(output_ledger: OutputLedger) -> Callable[..., E2ESimulator]:
    """Return a factory of E2ESimulator instances that report their secrets to the session's ledger."""

    def make(**options: object) -> E2ESimulator:
        return E2ESimulator(output_ledger, **options)

    return make


@pytest.fixture
def restartable_rotel(otlp_sink: OtlpSink) -> Iterator[RestartableRotel]:  # noqa: F811 - the imported fixture
    """A started rotel-agent, forwarding to ``otlp_sink``, that can restart on the same ports."""
    agent = RestartableRotel(otlp_sink.endpoint)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()
