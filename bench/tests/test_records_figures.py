import pytest

from bench.figures import render_table
from bench.records_figures import (
    REQUESTS_FIGURE,
    THROUGHPUT_FIGURE,
    added_totals,
    check_records,
    records_figures,
)

NODE_EXECUTIONS = "/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions"
APP_LOGS = "/console/api/apps/{app_id}/workflow-app-logs"


def records_poll(runs: int = 100, cpu_poll_s: float = 0.08, cpu_export_s: float = 0.02) -> dict:
    return {
        "added": {"runs": runs, "llm_calls": 3 * runs, "input_tokens": 400 * runs, "output_tokens": 100 * runs},
        "requests": {"app_list": 1, "statistics": 0, "records": runs + 4, "session": 0, "other": 0},
        "endpoints": {"/console/api/apps": 1, APP_LOGS: 4, NODE_EXECUTIONS: runs},
        "errors": 0,
        "duration_s": 0.4,
        "cpu_poll_s": cpu_poll_s,
        "cpu_export_s": cpu_export_s,
    }


def records_result(polls: int = 2, per_poll: int = 100, **changes: float) -> dict:
    """A result whose counters match what was added, apart from ``changes``."""
    total = polls * per_poll
    counters = {
        "runs": total,
        "llm_calls": 3 * total,
        "tokens": 500 * total,
        "input_tokens": 400 * total,
        "output_tokens": 100 * total,
        "overflow_tokens": 0,
        "usage_requests": total,
        "backlog": 0,
        "dropped": 0,
        "errors": 0,
    }
    counters.update(changes)
    return {
        "mode": "records",
        "apps": 10,
        "runs_per_poll": per_poll,
        "llm_usage_budget": 100,
        "polls": [records_poll(per_poll) for _ in range(polls)],
        "counters": counters,
    }


def by_name(figures, name):
    return next(figure for figure in figures if figure.name == name)


def test_added_totals_sum_polls():
    totals = added_totals([records_poll(10), records_poll(5)])

    assert totals == {"runs": 15, "llm_calls": 45, "input_tokens": 6000, "output_tokens": 1500}


def test_check_records_all_match():
    result = records_result()

    assert check_records(added_totals(result["polls"]), result["counters"]) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"runs": 150}, "runs counted in dify.workflow.runs 150, added 200"),
        ({"usage_requests": 199}, "node-execution reads 199, added 200"),
        ({"llm_calls": 601}, "LLM calls in dify.llm.calls 601, added 600"),
        ({"tokens": 99999}, "tokens in dify.llm.tokens 99999, added 100000"),
        ({"input_tokens": 1}, "input tokens in dify.llm.tokens 1, added 80000"),
        ({"output_tokens": 0}, "output tokens in dify.llm.tokens 0, added 20000"),
        ({"backlog": 3}, "3 runs still in the backlog"),
        ({"dropped": 2}, "2 runs dropped from a full backlog"),
        ({"errors": 1}, "1 exporter errors"),
    ],
)
def test_check_records_reports_each_difference(changes, message):
    result = records_result(**changes)

    problems = check_records(added_totals(result["polls"]), result["counters"])

    assert problems == [message]


def test_check_records_overflow_skips_split():
    # 30000 tokens sit in the overflow series, without a token type.
    result = records_result(input_tokens=60_000, output_tokens=10_000, overflow_tokens=30_000)

    assert check_records(added_totals(result["polls"]), result["counters"]) == []


def test_check_records_overflow_keeps_sum():
    result = records_result(tokens=90_000, input_tokens=60_000, output_tokens=10_000, overflow_tokens=20_000)

    problems = check_records(added_totals(result["polls"]), result["counters"])

    assert problems == ["tokens in dify.llm.tokens 90000, added 100000"]


def test_records_throughput_per_cpu_second():
    # 200 runs over 2 polls of 0.1 s CPU each: 1000 runs per CPU-second.
    figures = records_figures(records_result())

    throughput = by_name(figures, THROUGHPUT_FIGURE)
    assert throughput.value == pytest.approx(1000.0)
    assert throughput.result == "PASS"
    assert "200 runs in 2 polls" in throughput.text
    assert "export 0.040 s" in throughput.text


def test_records_drain_polls_count():
    result = records_result()
    drain = records_poll(runs=0, cpu_poll_s=0.15, cpu_export_s=0.05)
    drain["endpoints"][NODE_EXECUTIONS] = 20
    result["polls"].append(drain)

    throughput = by_name(records_figures(result), THROUGHPUT_FIGURE)

    # The drain poll's 0.2 s CPU counts: 200 runs in 0.4 s.
    assert throughput.value == pytest.approx(500.0)
    assert "200 runs in 2 polls and 1 drain poll," in throughput.text
    assert throughput.result == "PASS"


def test_records_throughput_below_target():
    result = records_result()
    result["polls"] = [records_poll(cpu_poll_s=0.9, cpu_export_s=0.1) for _ in range(2)]

    throughput = by_name(records_figures(result), THROUGHPUT_FIGURE)

    assert throughput.value == pytest.approx(100.0)
    assert throughput.result == "MISS"


def test_records_mismatch_fails_row():
    throughput = by_name(records_figures(records_result(usage_requests=150)), THROUGHPUT_FIGURE)

    assert throughput.result == "FAIL"
    assert "node-execution reads 150, added 200" in throughput.failure


def test_records_budget_hint_on_failure():
    result = records_result(per_poll=150, usage_requests=200, backlog=100)

    throughput = by_name(records_figures(result), THROUGHPUT_FIGURE)

    assert throughput.result == "FAIL"
    assert "OTEL_DIFY_LLM_USAGE_BUDGET 100" in throughput.failure


def test_records_requests_per_run():
    requests = by_name(records_figures(records_result()), REQUESTS_FIGURE)

    # Per poll: 100 node executions, 4 log pages and 1 app-list page for 100 runs.
    assert requests.value == pytest.approx(1.05)
    assert "node executions 1.00" in requests.text
    assert "other records 0.04" in requests.text
    assert "app_list 0.01" in requests.text
    assert "statistics" not in requests.text
    assert requests.target is None


def test_records_requests_statistics_shown():
    result = records_result()
    for records_poll_result in result["polls"]:
        records_poll_result["requests"]["statistics"] = 58

    requests = by_name(records_figures(result), REQUESTS_FIGURE)

    assert requests.value == pytest.approx(1.63)
    assert "statistics 0.58" in requests.text


def test_records_no_run_processed():
    with pytest.raises(ValueError, match="processed no run"):
        records_figures(records_result(usage_requests=0))


def test_records_rows_render():
    failed = records_figures(records_result(usage_requests=150))

    lines = render_table(failed).splitlines()

    assert THROUGHPUT_FIGURE in lines[2]
    assert "check failed: node-execution reads 150" in lines[2]
    assert lines[2].rstrip(" |").endswith("FAIL")
    assert REQUESTS_FIGURE in lines[3]
    assert len({len(line) for line in lines}) == 1
