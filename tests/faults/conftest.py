"""Fixtures of the fault tests: log scans for every test, and the end-to-end fixtures for process-level ones.

Every test here fails when a log record at ERROR or above carries a
traceback (``exc_info``), because each fault injected is one the exporter
is expected to handle. The secret scan of the integration tests applies too.
"""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from tests.e2e.conftest import launcher, make_simulator, output_ledger, restartable_rotel  # noqa: F401 - fixtures
from tests.e2e_fixtures import otlp_sink, rotel_agent  # noqa: F401 - fixtures
from tests.integration.conftest import no_secret_in_logs  # noqa: F401 - autouse fixture

SOAK_MARKER = "soak: the short soak run (about two minutes); deselect with -m 'not soak'"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SOAK_MARKER)


class _ErrorRecords(logging.Handler):
    """Keeps every record at ERROR or above."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_error_traceback() -> Iterator[list[logging.LogRecord]]:
    """Fail the test when a log record at ERROR or above carries exception information.

    Yields the list of ERROR records, for tests that check which errors were logged.
    """
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)

    with_traceback = [f"{record.name}: {record.getMessage()}" for record in handler.records if record.exc_info]
    assert with_traceback == [], "an ERROR log record carries a traceback"
