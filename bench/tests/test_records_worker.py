import math

import pytest

from otel_dify.snapshot import Point, Snapshot

from bench.control import RUN_AGE_S
from bench.records_worker import (
    WHOLE_SECOND_MARGIN_S,
    RecordCounters,
    counting_start_delay,
    next_second_delay,
    read_counters,
)


def snapshot(runs: float = 5, calls: float = 12, usage_requests: float = 5, backlog: float = 0) -> Snapshot:
    return Snapshot.build(
        {
            "dify.workflow.runs": [
                Point({"dify.app.id": "a", "dify.workflow.run.status": "succeeded"}, runs - 1),
                Point({"dify.app.id": "b", "dify.workflow.run.status": "failed"}, 1),
            ],
            "dify.llm.calls": [Point({"dify.app.id": "a", "gen_ai.request.model": "gpt-4o"}, calls)],
            "dify.llm.tokens": [
                Point({"dify.app.id": "a", "gen_ai.token.type": "input"}, 300),
                Point({"dify.app.id": "b", "gen_ai.token.type": "input"}, 100),
                Point({"dify.app.id": "a", "gen_ai.token.type": "output"}, 90),
                Point({"otel.metric.overflow": True}, 50),
            ],
            "dify.exporter.records.requests": [
                Point({"dify.records.level": "workflow_runs"}, 40),
                Point({"dify.records.level": "llm_usage"}, usage_requests),
            ],
            "dify.exporter.records.backlog": [Point({}, backlog)],
            "dify.exporter.records.dropped": [Point({}, 0)],
            "dify.exporter.errors": [Point({"dify.workspace.id": "w", "error.type": "timeout"}, 2)],
        }
    )


def test_read_counters_sums_series():
    counters = read_counters(snapshot())

    assert counters.runs == 5
    assert counters.llm_calls == 12
    assert counters.tokens == 540
    assert counters.input_tokens == 400
    assert counters.output_tokens == 90
    assert counters.overflow_tokens == 50
    assert counters.usage_requests == 5
    assert counters.errors == 2


def test_read_counters_missing_metrics():
    counters = read_counters(Snapshot())

    assert counters == RecordCounters(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def test_counters_since_keeps_backlog():
    earlier = read_counters(snapshot(runs=5, usage_requests=5, backlog=7))
    later = read_counters(snapshot(runs=105, usage_requests=95, backlog=10))

    change = later.since(earlier)

    assert change.runs == 100
    assert change.usage_requests == 90
    assert change.llm_calls == 0
    assert change.backlog == 10


def test_counting_start_delay_reaches_next_second():
    now = 1000.3

    delay = counting_start_delay(now, runs=100)

    # The oldest run, RUN_AGE_S and 100 microseconds before the request, lies after second 1000.
    oldest_run = now + delay - RUN_AGE_S - 100e-6
    assert oldest_run >= math.floor(now)
    assert delay == pytest.approx(RUN_AGE_S + 100e-6 + WHOLE_SECOND_MARGIN_S - 0.3)


def test_counting_start_delay_at_whole_second():
    assert counting_start_delay(1000.0, runs=0) == pytest.approx(RUN_AGE_S + WHOLE_SECOND_MARGIN_S)


def test_next_second_delay_passes_boundary():
    assert next_second_delay(1000.75) == pytest.approx(0.25 + WHOLE_SECOND_MARGIN_S)
    assert next_second_delay(1000.0) == pytest.approx(1.0 + WHOLE_SECOND_MARGIN_S)
