"""The record levels that OTEL_DIFY_RECORDS_ENABLED turns on, and the metrics each one feeds."""

from __future__ import annotations

import enum


class Level(str, enum.Enum):
    """One kind of record collection, each with its own request cost."""

    #: Runs of workflow and advanced-chat apps, one list page per app and poll.
    WORKFLOW_RUNS = "workflow_runs"
    #: Node executions of each finished run: one request per run.
    LLM_USAGE = "llm_usage"
    #: Conversations and messages of chat, agent-chat and advanced-chat apps.
    MESSAGES = "messages"


LEVEL_NAMES: tuple[str, ...] = tuple(level.value for level in Level)

DEFAULT_LEVELS: tuple[str, ...] = (Level.WORKFLOW_RUNS.value, Level.LLM_USAGE.value)

LEVEL_METRICS: dict[Level, tuple[str, ...]] = {
    Level.WORKFLOW_RUNS: ("dify.workflow.runs", "dify.workflow.run.duration", "dify.workflow.tokens"),
    Level.LLM_USAGE: ("dify.llm.tokens", "dify.llm.cost", "dify.llm.calls", "dify.llm.duration"),
    Level.MESSAGES: ("dify.message.tokens", "dify.messages", "dify.message.latency"),
}


def active_levels(names: tuple[str, ...] | frozenset[str], enabled_metrics: frozenset[str]) -> frozenset[Level]:
    """Return the levels in ``names`` that feed at least one enabled metric.

    A level whose metrics are all disabled would spend requests on figures
    nobody receives, so it is left off.
    """
    levels = {Level(name) for name in names}
    return frozenset(level for level in levels if any(metric in enabled_metrics for metric in LEVEL_METRICS[level]))
