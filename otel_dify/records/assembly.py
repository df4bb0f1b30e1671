"""Build record collection from the settings: state, recorder, collectors and the runtime."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable, Sequence

from otel_dify.config import Settings
from otel_dify.dify.client import DifyClient
from otel_dify.dify.records_client import ServiceApiClient
from otel_dify.records.collector import ConsoleRecordsCollector, ErrorSink, RecordOptions
from otel_dify.records.end_users import EndUserLabels
from otel_dify.records.levels import Level, active_levels
from otel_dify.records.recorder import HistogramRecorder, Recorder, RecordStats
from otel_dify.records.runtime import RecordsRuntime, WorkspaceRecords
from otel_dify.records.service_api import SERVICE_API_KEY, ServiceRecordsCollector
from otel_dify.records.state import DEFAULT_SEEN_BOUND, RecordState
from otel_dify.records.store import StateStore

logger = logging.getLogger(__name__)

#: The levels that need console access; the service API has no node executions and no chat records.
CONSOLE_ONLY_LEVELS = frozenset({Level.LLM_USAGE, Level.MESSAGES})


def record_levels(settings: Settings, enabled_metrics: frozenset[str], *, service_api_only: bool) -> frozenset[Level]:
    """Return the levels to run: those configured, with an enabled metric, and reachable with the credentials."""
    levels = active_levels(tuple(settings.records_enabled), enabled_metrics)
    if service_api_only and levels & CONSOLE_ONLY_LEVELS:
        logger.info(
            "record levels that need a console login are off with app API keys only",
            extra={"levels_off": sorted(level.value for level in levels & CONSOLE_ONLY_LEVELS)},
        )
        levels -= CONSOLE_ONLY_LEVELS
    return levels


def build_records_runtime(
    settings: Settings,
    console_clients: Sequence[tuple[str, DifyClient]],
    service_clients: Sequence[ServiceApiClient],
    enabled_metrics: frozenset[str],
    *,
    on_error: ErrorSink,
    histograms: HistogramRecorder | None,
    wall_clock: Callable[[], datetime],
    monotonic: Callable[[], float] = time.monotonic,
) -> RecordsRuntime | None:
    """Return the record runtime, or None when no record level is on.

    Loads the state file when OTEL_DIFY_STATE_DIR is set; a damaged file is
    moved aside and counting starts from now (see :class:`StateStore`).
    """
    levels = record_levels(settings, enabled_metrics, service_api_only=not console_clients)
    if not levels:
        return None

    def unix_now() -> float:
        return wall_clock().timestamp()

    store: StateStore | None = None
    if settings.state_dir is not None:
        store = StateStore(settings.state_dir, wall_clock=unix_now)
        state = store.load(seen_bound=DEFAULT_SEEN_BOUND, backlog_bound=settings.llm_usage_backlog)
    else:
        state = RecordState(backlog_bound=settings.llm_usage_backlog)

    salt = settings.end_user_salt.get_secret_value() if settings.end_user_salt is not None else None
    labels = EndUserLabels(
        settings.end_user_attribute, salt=salt, top_n=settings.end_user_top_n, tables=state.end_users
    )
    recorder = Recorder(state, levels, labels, RecordStats(), histograms=histograms, wall_clock=unix_now)
    options = RecordOptions(
        levels=levels,
        overlap_s=int(settings.records_overlap),
        max_pages=settings.records_max_pages,
        usage_budget=settings.llm_usage_budget,
        usage_concurrency=settings.llm_usage_concurrency,
        max_concurrency=settings.max_concurrency,
    )

    console = {
        key: ConsoleRecordsCollector(key, client, recorder, options, on_error=on_error, monotonic=monotonic)
        for key, client in console_clients
    }
    collectors: dict[str, WorkspaceRecords] = dict(console)
    if service_clients:
        collectors[SERVICE_API_KEY] = ServiceRecordsCollector(
            SERVICE_API_KEY, service_clients, recorder, options, on_error=on_error
        )

    logger.info(
        "record collection configured",
        extra={
            "levels": sorted(level.value for level in levels),
            "state_dir": str(settings.state_dir) if settings.state_dir is not None else None,
            "overlap_s": options.overlap_s,
        },
    )
    return RecordsRuntime(
        recorder,
        options,
        collectors,
        {key: collector.records_client for key, collector in console.items()},
        store=store,
        max_series=settings.max_series_per_metric,
        on_error=on_error,
    )
