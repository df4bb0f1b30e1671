"""The record runtime built from settings carries the settings that size its request pools."""

from __future__ import annotations

from datetime import datetime, timezone

from otel_dify.records.assembly import build_records_runtime
from otel_dify.records.levels import LEVEL_METRICS, Level
from tests.config_helpers import load


def _build(**overrides: str):
    settings = load(OTEL_DIFY_RECORDS_ENABLED="workflow_runs", **overrides)
    return build_records_runtime(
        settings,
        [],
        [],
        frozenset(LEVEL_METRICS[Level.WORKFLOW_RUNS]),
        on_error=lambda *args, **kwargs: None,
        histograms=None,
        wall_clock=lambda: datetime(2026, 12, 4, tzinfo=timezone.utc),
    )


def test_options_take_max_concurrency() -> None:
    runtime = _build(OTEL_DIFY_MAX_CONCURRENCY="7")

    assert runtime is not None
    assert runtime.options.max_concurrency == 7


def test_options_keep_levels() -> None:
    runtime = _build(OTEL_DIFY_MAX_CONCURRENCY="2")

    assert runtime is not None
    assert Level.WORKFLOW_RUNS in runtime.options.levels
