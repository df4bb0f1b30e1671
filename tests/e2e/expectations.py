"""Per-app totals: what the simulator's ground truth expects, what the exporter printed or sent, and the differences.

Values are keyed by :data:`Key`, ``(metric name, app id, currency)``, where
the currency is the ``dify.cost.currency`` attribute of ``dify.app.cost``
points and None for every other metric.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Iterable

from otel_dify.simulator import DifySimulator
from tests.e2e.processes import ExporterProcess, wait_for
from tests.otlp_sink import OtlpSink

Key = tuple[str, str, str | None]

MESSAGES = "dify.app.messages"
TOKENS = "dify.app.tokens"
COST = "dify.app.cost"
WORKFLOW_RUNS = "dify.app.workflow.runs"
WORKFLOW_TOKENS = "dify.app.workflow.tokens"
TOTAL_METRICS = (MESSAGES, TOKENS, COST, WORKFLOW_RUNS, WORKFLOW_TOKENS)

APP_ID = "dify.app.id"
CURRENCY = "dify.cost.currency"

MESSAGE_MODES = frozenset({"chat", "completion", "agent-chat", "advanced-chat"})
WORKFLOW_MODES = frozenset({"workflow", "advanced-chat"})

# Costs are decimals with 7 places in the simulator and doubles in OTLP, so a
# tolerance far below 1e-7 still accepts the rounding of the conversion.
COST_TOLERANCE = 1e-9

# One console line: name, optional {key="value",...}, value (or histogram count and sum), optional unit.
_CONSOLE_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.]+)(?P<attributes>\{.*\})? (?P<value>count=\d+ sum=\S+|\S+)(?: (?P<unit>\S+))?$"
)
_CONSOLE_PAIR = re.compile(r'(?P<key>[A-Za-z0-9_.]+)="(?P<value>(?:[^"\\]|\\.)*)"(?:,|$)')
_CONSOLE_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def expected_totals(simulator: DifySimulator) -> dict[Key, float]:
    """Return the ground-truth total of every counter for every app of the simulator.

    Message apps get messages, tokens and USD cost; workflow and
    advanced-chat apps get workflow runs and workflow tokens.
    """
    expected: dict[Key, float] = {}
    for app in simulator.apps():
        truth = simulator.ground_truth(app.id)
        mode = app.mode.value
        if mode in MESSAGE_MODES:
            expected[(MESSAGES, app.id, None)] = truth.messages
            expected[(TOKENS, app.id, None)] = truth.tokens
            expected[(COST, app.id, "USD")] = float(truth.cost.get("USD", Decimal(0)))
        if mode in WORKFLOW_MODES:
            expected[(WORKFLOW_RUNS, app.id, None)] = truth.workflow_runs
            expected[(WORKFLOW_TOKENS, app.id, None)] = truth.workflow_tokens
    return expected


def totals_mismatches(simulator: DifySimulator, observed: dict[Key, float]) -> list[str]:
    """Return one line per difference between ``observed`` and the simulator's ground truth; empty when equal.

    Besides wrong and missing values, a message metric for a workflow app
    and any point of an app that the simulator does not have count as
    differences.
    """
    expected = expected_totals(simulator)
    problems: list[str] = []
    for key in sorted(expected, key=_sort_key):
        want = expected[key]
        got = observed.get(key)
        if got is None:
            problems.append(f"{_describe(key)}: missing, expected {want}")
        elif not math.isclose(got, want, rel_tol=0.0, abs_tol=COST_TOLERANCE):
            problems.append(f"{_describe(key)}: got {got}, expected {want}")

    known_apps = {app.id: app.mode.value for app in simulator.apps()}
    for key in sorted(observed, key=_sort_key):
        metric, app_id, _currency = key
        if app_id not in known_apps:
            problems.append(f"{_describe(key)}: point for an app the simulator does not have")
        elif metric == MESSAGES and known_apps[app_id] not in MESSAGE_MODES:
            problems.append(f"{_describe(key)}: message count for a {known_apps[app_id]} app")
    return problems


def sink_totals(sink: OtlpSink) -> dict[Key, float]:
    """Return the latest value of every total metric per app that the sink received."""
    observed: dict[Key, float] = {}
    for metric in TOTAL_METRICS:
        for attributes, value in sink.points(metric):
            observed[_key(metric, attributes)] = float(value)
    return observed


async def wait_for_sink_truth(
    sink: OtlpSink, simulator: DifySimulator, process: ExporterProcess, timeout_s: float = 20.0
) -> None:
    """Wait until the sink's latest totals equal the simulator's ground truth; raise AssertionError otherwise."""
    matched = await wait_for(lambda: not totals_mismatches(simulator, sink_totals(sink)), timeout_s)
    assert matched, "\n".join(totals_mismatches(simulator, sink_totals(sink))) + "\n" + process.describe()


def newest_point_ns(sink: OtlpSink, metric: str) -> int:
    """Return the newest ``time_unix_nano`` among the points of sum ``metric`` at the sink, 0 when there is none."""
    return max(
        (point.time_unix_nano for received in sink.metrics(metric) for point in received.sum.data_points),
        default=0,
    )


def sink_points_by_attributes(sink: OtlpSink) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Return the latest value of every total metric per full attribute set, for comparing two runs."""
    by_metric: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for metric in TOTAL_METRICS:
        by_metric[metric] = {
            tuple(sorted((name, repr(attribute)) for name, attribute in attributes.items())): float(value)
            for attributes, value in sink.points(metric)
        }
    return by_metric


def console_totals(lines: Iterable[str]) -> dict[Key, float]:
    """Return the total metrics among the lines that ``otel-dify once --console`` printed.

    Raises AssertionError for a line that does not have the console format,
    and for a total metric printed twice for the same app.
    """
    observed: dict[Key, float] = {}
    for line in lines:
        if not line.strip():
            continue
        name, attributes, value = parse_console_line(line)
        if name not in TOTAL_METRICS:
            continue
        key = _key(name, attributes)
        assert key not in observed, f"{_describe(key)} printed twice"
        observed[key] = value
    return observed


def parse_console_line(line: str) -> tuple[str, dict[str, str], float]:
    """Split one console line into metric name, attributes and value.

    A histogram line (``count=N sum=X``) returns its sum. Raises
    AssertionError when the line does not have the format
    ``name{key="value",...} value unit``.
    """
    match = _CONSOLE_LINE.match(line)
    assert match is not None, f"not a console metric line: {line!r}"

    value = match["value"]
    if value.startswith("count="):
        value = value.split(" sum=")[1]
    return match["name"], _parse_console_attributes(match["attributes"] or "", line), float(value)


def _parse_console_attributes(text: str, line: str) -> dict[str, str]:
    if not text:
        return {}
    inner = text[1:-1]
    attributes: dict[str, str] = {}
    position = 0
    while position < len(inner):
        match = _CONSOLE_PAIR.match(inner, position)
        assert match is not None, f"invalid attributes at character {position} of {line!r}"
        attributes[match["key"]] = re.sub(r"\\.", _unescape, match["value"])
        position = match.end()
    return attributes


def _unescape(escape: re.Match[str]) -> str:
    return _CONSOLE_ESCAPES.get(escape.group(), escape.group())


def _key(metric: str, attributes: dict[str, object]) -> Key:
    currency = attributes.get(CURRENCY)
    return (metric, str(attributes.get(APP_ID)), None if currency is None else str(currency))


def _describe(key: Key) -> str:
    metric, app_id, currency = key
    return f"{metric} app={app_id}" + (f" currency={currency}" if currency else "")


def _sort_key(key: Key) -> tuple[str, str, str]:
    return (key[0], key[1], key[2] or "")
