"""Shared helpers of the record tests: captured bodies, an app context, a recorder and a histogram sink."""

from __future__ import annotations

import copy
from typing import Any, Mapping

from otel_dify.dify.models import App
from otel_dify.records.end_users import EndUserLabels
from otel_dify.records.levels import Level
from otel_dify.records.recorder import AppContext, Recorder, RecordStats
from otel_dify.records.state import RecordState
from tests.fixtures_loader import capture

WORKFLOW_APP_ID = "b00662bb-7c42-4914-8671-17ba410b0001"
ADVANCED_CHAT_APP_ID = "ee54285a-768e-4d97-ad79-f6f2635ff3d8"
CHAT_APP_ID = "68167749-6ab4-41cf-8a4a-ac508633d245"
ALL_LEVELS = frozenset(Level)


def record_capture(name: str) -> dict[str, Any]:
    """Return a captured Dify 1.15.0 exchange of a record endpoint (``tests/fixtures/dify-1.15/records/``)."""
    return capture(f"records/{name}")


def body(name: str) -> Any:
    """Return a deep copy of the response body of a captured record exchange."""
    return copy.deepcopy(record_capture(name)["response"]["body"])


def context(app_id: str = WORKFLOW_APP_ID, mode: str = "workflow", name: str = "Invoice Extractor") -> AppContext:
    return AppContext("console", "ws-1", "Ada's Workspace", App(id=app_id, name=name, mode=mode))


class Histograms:
    """Keeps every histogram recording as (name, value, attributes)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, dict[str, str]]] = []

    def record_histogram(self, name: str, value: float, attributes: Mapping[str, str] | None = None) -> None:
        self.records.append((name, value, dict(attributes or {})))

    def values(self, name: str) -> list[float]:
        return [value for metric, value, _attributes in self.records if metric == name]


def make_recorder(
    *,
    levels: frozenset[Level] = ALL_LEVELS,
    started_at: int | None = 1_000,
    backlog_bound: int = 10_000,
    end_users: str = "off",
    salt: str | None = None,
    top_n: int = 10,
    now: float = 2_000.0,
) -> tuple[Recorder, Histograms]:
    state = RecordState(backlog_bound=backlog_bound, started_at=started_at)
    labels = EndUserLabels(end_users, salt=salt, top_n=top_n, tables=state.end_users)  # type: ignore[arg-type]
    histograms = Histograms()
    recorder = Recorder(state, levels, labels, RecordStats(), histograms=histograms, wall_clock=lambda: now)
    return recorder, histograms
