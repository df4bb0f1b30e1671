"""The effects of counting a record: totals, histograms, the end-user label and the usage backlog."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, runtime_checkable

from otel_dify.catalog import (
    APP_ATTRIBUTES,
    ATTR_APP_ID,
    ATTR_APP_MODE,
    ATTR_APP_NAME,
    ATTR_COST_CURRENCY,
    ATTR_END_USER_ID,
    ATTR_GEN_AI_PROVIDER_NAME,
    ATTR_GEN_AI_REQUEST_MODEL,
    ATTR_GEN_AI_TOKEN_TYPE,
    ATTR_LLM_PROVIDER_ID,
    ATTR_MESSAGE_STATUS,
    ATTR_WORKFLOW_RUN_CREATED_FROM,
    ATTR_WORKFLOW_RUN_STATUS,
    ATTR_WORKSPACE_ID,
    ATTR_WORKSPACE_NAME,
)
from otel_dify.dify.models import App
from otel_dify.records.end_users import EndUserLabels
from otel_dify.records.levels import Level
from otel_dify.records.models import MessageRecord, NodeUsage, RunRecord
from otel_dify.records.providers import UNKNOWN_PROVIDER, provider_name
from otel_dify.records.state import BacklogItem, RecordState

logger = logging.getLogger(__name__)

RUNS_METRIC = "dify.workflow.runs"
RUN_DURATION_METRIC = "dify.workflow.run.duration"
RUN_TOKENS_METRIC = "dify.workflow.tokens"
LLM_TOKENS_METRIC = "dify.llm.tokens"
LLM_COST_METRIC = "dify.llm.cost"
LLM_CALLS_METRIC = "dify.llm.calls"
LLM_DURATION_METRIC = "dify.llm.duration"
MESSAGES_METRIC = "dify.messages"
MESSAGE_TOKENS_METRIC = "dify.message.tokens"
MESSAGE_LATENCY_METRIC = "dify.message.latency"
USAGE_MISMATCHES_METRIC = "dify.exporter.records.usage_mismatches"

#: The counters whose totals :class:`Recorder` keeps, in the order the snapshot lists them.
TOTAL_METRICS: tuple[str, ...] = (
    RUNS_METRIC,
    RUN_TOKENS_METRIC,
    LLM_TOKENS_METRIC,
    LLM_COST_METRIC,
    LLM_CALLS_METRIC,
    MESSAGES_METRIC,
    MESSAGE_TOKENS_METRIC,
    USAGE_MISMATCHES_METRIC,
)


@runtime_checkable
class HistogramRecorder(Protocol):
    """The histogram call of :class:`otel_dify.telemetry.Telemetry`."""

    def record_histogram(self, name: str, value: float, attributes: Mapping[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class AppContext:
    """An app as the records of one poll see it, with the workspace and the collector that reads it."""

    workspace_key: str
    workspace_id: str
    workspace_name: str
    app: App

    def attributes(self) -> dict[str, str]:
        """Return the app attributes that every record metric carries."""
        values = {
            ATTR_WORKSPACE_ID: self.workspace_id,
            ATTR_WORKSPACE_NAME: self.workspace_name,
            ATTR_APP_ID: self.app.id,
            ATTR_APP_NAME: self.app.name,
            ATTR_APP_MODE: self.app.mode,
        }
        return {key: values[key] for key in APP_ATTRIBUTES}


class RecordStats:
    """The process-lifetime self-statistics of record collection: requests by level and dropped runs."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.dropped = 0

    def request(self, level: Level) -> None:
        self.requests[level.value] += 1


class Recorder:
    """Adds counted records to the state's totals and records their histograms.

    ``levels`` are the active record levels: a run is added to the run
    counters only with ``workflow_runs`` and queued for its node executions
    only with ``llm_usage``. ``histograms`` is None when no telemetry
    pipeline exists (a test); the totals are kept all the same.
    ``wall_clock`` returns Unix seconds.
    """

    def __init__(
        self,
        state: RecordState,
        levels: frozenset[Level],
        labels: EndUserLabels,
        stats: RecordStats,
        *,
        histograms: HistogramRecorder | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.levels = levels
        self.labels = labels
        self.stats = stats
        self._histograms = histograms
        self._wall_clock = wall_clock

    def unix_now(self) -> int:
        """Return the wall clock's current time in whole Unix seconds."""
        return int(self._wall_clock())

    def count_run(self, context: AppContext, run: RunRecord, *, queue_usage: bool = True) -> None:
        """Count one finished run. ``queue_usage=False`` skips the node-execution read (no console access)."""
        app_id = context.app.id
        tokens = run.total_tokens or 0

        if Level.WORKFLOW_RUNS in self.levels:
            end_user = self.labels.label(app_id, run.end_user, tokens)
            run_attributes = {ATTR_WORKFLOW_RUN_STATUS: run.status}
            if run.created_from:
                run_attributes[ATTR_WORKFLOW_RUN_CREATED_FROM] = run.created_from
            user_attributes = {ATTR_END_USER_ID: end_user} if end_user is not None else {}

            self.state.totals.add(RUNS_METRIC, app_id, {**run_attributes, **user_attributes}, 1)
            self.state.totals.add(RUN_TOKENS_METRIC, app_id, user_attributes, tokens)
            if run.elapsed_s is not None and run.elapsed_s >= 0:
                self._record(
                    RUN_DURATION_METRIC, run.elapsed_s, {**context.attributes(), ATTR_WORKFLOW_RUN_STATUS: run.status}
                )

        if queue_usage and Level.LLM_USAGE in self.levels:
            self.queue_usage(context, run.id, run.total_tokens, ready_at=self.unix_now())

    def queue_usage(self, context: AppContext, run_id: str, run_tokens: int | None, *, ready_at: int) -> None:
        """Queue a finished run for its node executions; count it as dropped when the backlog is full."""
        item = BacklogItem(
            workspace_key=context.workspace_key,
            app_id=context.app.id,
            run_id=run_id,
            run_tokens=run_tokens,
            ready_at=ready_at,
        )
        if self.state.backlog.push(item):
            return
        self.stats.dropped += 1
        logger.warning(
            "usage backlog is full; the run's model usage will not be read",
            extra={"app_id": context.app.id, "run_id": run_id, "backlog": len(self.state.backlog)},
        )

    def count_usage(self, context: AppContext, item: BacklogItem, usage: NodeUsage) -> None:
        """Count the model usage of one run's leaf nodes and cross-check it with the run's total."""
        app_id = context.app.id
        for leaf in usage.leaves:
            model_attributes = {
                ATTR_GEN_AI_PROVIDER_NAME: provider_name(leaf.provider_id),
                ATTR_LLM_PROVIDER_ID: leaf.provider_id or UNKNOWN_PROVIDER,
                ATTR_GEN_AI_REQUEST_MODEL: leaf.model,
            }
            if leaf.input_tokens is not None:
                self.state.totals.add(
                    LLM_TOKENS_METRIC, app_id, {**model_attributes, ATTR_GEN_AI_TOKEN_TYPE: "input"}, leaf.input_tokens
                )
            if leaf.output_tokens is not None:
                self.state.totals.add(
                    LLM_TOKENS_METRIC,
                    app_id,
                    {**model_attributes, ATTR_GEN_AI_TOKEN_TYPE: "output"},
                    leaf.output_tokens,
                )
            self.state.totals.add(LLM_CALLS_METRIC, app_id, model_attributes, 1)
            if leaf.price is not None and leaf.currency:
                self.state.totals.add(
                    LLM_COST_METRIC, app_id, {**model_attributes, ATTR_COST_CURRENCY: leaf.currency}, leaf.price
                )
            if leaf.latency_s is not None and leaf.latency_s >= 0:
                self._record(LLM_DURATION_METRIC, leaf.latency_s, {**context.attributes(), **model_attributes})

        leaf_tokens = sum(leaf.total_tokens for leaf in usage.leaves)
        if item.run_tokens is not None and leaf_tokens != item.run_tokens:
            self.state.totals.add(USAGE_MISMATCHES_METRIC, app_id, {}, 1)
            logger.info(
                "leaf-node tokens differ from the run's total tokens",
                extra={
                    "app_id": app_id,
                    "run_id": item.run_id,
                    "leaf_tokens": leaf_tokens,
                    "run_tokens": item.run_tokens,
                },
            )

    def count_message(self, context: AppContext, message: MessageRecord, end_user: str | None) -> None:
        """Count one chat message, its tokens and its latency."""
        app_id = context.app.id
        label = self.labels.label(app_id, end_user, message.input_tokens + message.output_tokens)
        user_attributes = {ATTR_END_USER_ID: label} if label is not None else {}

        self.state.totals.add(MESSAGES_METRIC, app_id, {ATTR_MESSAGE_STATUS: message.status, **user_attributes}, 1)
        self.state.totals.add(
            MESSAGE_TOKENS_METRIC, app_id, {ATTR_GEN_AI_TOKEN_TYPE: "input", **user_attributes}, message.input_tokens
        )
        self.state.totals.add(
            MESSAGE_TOKENS_METRIC, app_id, {ATTR_GEN_AI_TOKEN_TYPE: "output", **user_attributes}, message.output_tokens
        )
        if message.latency_s > 0:
            self._record(
                MESSAGE_LATENCY_METRIC, message.latency_s, {**context.attributes(), ATTR_MESSAGE_STATUS: message.status}
            )

    def _record(self, metric: str, value: float, attributes: dict[str, str]) -> None:
        if self._histograms is not None:
            self._histograms.record_histogram(metric, value, attributes)
