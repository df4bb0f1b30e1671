"""Figures of a ``records`` worker result, and the check that its runs were all processed.

A run is processed when the exporter counted it in ``dify.workflow.runs``,
read its node executions once (one ``llm_usage`` request) and added its LLM
calls and tokens to ``dify.llm.calls`` and ``dify.llm.tokens``. The check
compares these counters' change over the timed polls with what the
simulator added. Any difference, a record error, a dropped run or a run
left in the backlog fails the throughput figure, because its runs would
then not match its CPU time.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from otel_dify.dify.records_client import NODE_EXECUTIONS_ENDPOINT

from bench.figures import Figure, Target
from bench.request_counts import KIND_RECORDS, KINDS

RUNS_PER_CPU_SECOND_TARGET = Target(">= 200", lambda value: value >= 200.0)

#: Names of the records rows in the table.
THROUGHPUT_FIGURE = "records: runs processed per CPU-second"
REQUESTS_FIGURE = "records: requests per run"


def added_totals(polls: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Return the runs, LLM calls and tokens the simulator added over ``polls``."""
    totals = {"runs": 0, "llm_calls": 0, "input_tokens": 0, "output_tokens": 0}
    for poll in polls:
        for key in totals:
            totals[key] += poll["added"][key]
    return totals


def check_records(added: Mapping[str, int], counters: Mapping[str, float]) -> list[str]:
    """Return one line per way the exporter's counter changes differ from what was ``added``; empty when all match.

    Tokens in the series-cap overflow series have no token type, so the
    input and output tokens are compared only when no token overflowed,
    and their sum always.
    """
    problems = []
    expected = {
        "runs": ("runs counted in dify.workflow.runs", added["runs"]),
        "usage_requests": ("node-execution reads", added["runs"]),
        "llm_calls": ("LLM calls in dify.llm.calls", added["llm_calls"]),
        "tokens": ("tokens in dify.llm.tokens", added["input_tokens"] + added["output_tokens"]),
    }
    if not counters["overflow_tokens"]:
        expected["input_tokens"] = ("input tokens in dify.llm.tokens", added["input_tokens"])
        expected["output_tokens"] = ("output tokens in dify.llm.tokens", added["output_tokens"])
    for counter, (label, want) in expected.items():
        if counters[counter] != want:
            problems.append(f"{label} {counters[counter]:g}, added {want}")

    if counters["backlog"]:
        problems.append(f"{counters['backlog']:g} runs still in the backlog")
    if counters["dropped"]:
        problems.append(f"{counters['dropped']:g} runs dropped from a full backlog")
    if counters["errors"]:
        problems.append(f"{counters['errors']:g} exporter errors")
    return problems


def records_figures(result: Mapping[str, Any]) -> list[Figure]:
    """Return the throughput and requests-per-run figures of a ``records`` worker result.

    The throughput is the node-execution reads of the timed polls ÷ the
    process CPU time of those polls and their exports, drain polls included. Raises ValueError
    when the run processed no run, since then no rate exists.
    """
    apps = result["apps"]
    polls = result["polls"]
    counters = result["counters"]
    added = added_totals(polls)
    processed = counters["usage_requests"]
    if not polls or processed <= 0:
        raise ValueError(f"the records run processed no run (added {added['runs']} in {len(polls)} polls)")

    cpu_s = sum(poll["cpu_poll_s"] + poll["cpu_export_s"] for poll in polls)
    export_s = sum(poll["cpu_export_s"] for poll in polls)
    rate = processed / cpu_s
    drain_polls = sum(1 for poll in polls if not poll["added"]["runs"])
    polls_text = _count_text(len(polls) - drain_polls, "poll")
    if drain_polls:
        polls_text += f" and {_count_text(drain_polls, 'drain poll')}"
    load = f", load {result['load_1min']:.1f}" if "load_1min" in result else ""
    failure = "; ".join(check_records(added, counters))
    if failure and result["runs_per_poll"] > result["llm_usage_budget"]:
        failure += f" (more runs per poll than OTEL_DIFY_LLM_USAGE_BUDGET {result['llm_usage_budget']})"
    throughput = Figure(
        apps,
        THROUGHPUT_FIGURE,
        rate,
        f"{rate:.0f} ({processed:g} runs in {polls_text}, {cpu_s:.3f} s CPU, of which export {export_s:.3f} s{load})",
        RUNS_PER_CPU_SECOND_TARGET,
        failure=failure,
    )

    node_reads = sum(poll["endpoints"].get(NODE_EXECUTIONS_ENDPOINT, 0) for poll in polls)
    by_kind = {kind: sum(poll["requests"].get(kind, 0) for poll in polls) for kind in KINDS}
    all_requests = sum(by_kind.values())
    parts = {"node executions": node_reads, "other records": by_kind[KIND_RECORDS] - node_reads}
    parts |= {kind: count for kind, count in by_kind.items() if kind != KIND_RECORDS}
    breakdown = ", ".join(f"{name} {count / processed:.2f}" for name, count in parts.items() if count)
    per_run = all_requests / processed
    requests = Figure(apps, REQUESTS_FIGURE, per_run, f"{per_run:.2f} ({breakdown})")
    return [throughput, requests]


def _count_text(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
