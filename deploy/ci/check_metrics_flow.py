"""Check that otel-dify's metrics reached the collector, from rotel-agent's debug log.

CI only. rotel-agent started with ``--debug-log metrics --debug-log-verbosity
detailed`` prints every data point it receives; .ci/deploy.sh saves that output
with ``podman logs`` and runs::

    python deploy/ci/check_metrics_flow.py LOG [--resource-attribute KEY=VALUE ...]

The check passes when these metrics arrived with the unit and instrument kind
of otel_dify/catalog.py: every statistics metric that otel-dify emits by
default, and the exporter's own up, last_success, poll.duration and requests.
The app metrics must carry app attributes, a token total must be above 0, and
the resource must carry every ``--resource-attribute``. Exit code 0 on success,
1 with one line per failed condition otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from otel_dify.catalog import ATTR_APP_NAME, METRICS, MetricSpec

# Metrics that need more than a running exporter and a simulator: errors
# appear with the first error only, and record-level metrics need their own
# settings.
_EXPORTER_METRICS = {
    "dify.exporter.up",
    "dify.exporter.last_success",
    "dify.exporter.poll.duration",
    "dify.exporter.requests",
}

# rotel-agent names the OTLP data types like the collector's debug exporter.
_DATA_TYPES = {"counter": "Sum", "gauge": "Gauge", "histogram": "Histogram"}

# "     -> key: value" lines: descriptor fields print plain values, resource
# and data point attributes wrap them in their type, as in "Str(otel-dify)".
_ARROW_LINE = re.compile(r"^\s*-> ([^:]+): ?(.*)$")
_TYPED_VALUE = re.compile(r"^\w+\((.*)\)$")


@dataclass
class ReceivedMetric:
    """Descriptor fields and data points of one metric name, over every batch."""

    units: set[str] = field(default_factory=set)
    data_types: set[str] = field(default_factory=set)
    monotonic: set[str] = field(default_factory=set)
    point_attributes: list[dict[str, str]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class ReceivedLog:
    """Metrics and resources parsed from one rotel-agent debug log."""

    metrics: dict[str, ReceivedMetric] = field(default_factory=dict)
    resources: list[dict[str, str]] = field(default_factory=list)


def parse_debug_log(text: str) -> ReceivedLog:
    """Parse rotel-agent's detailed metrics debug output.

    Lines outside the debug blocks (rotel's own log lines, podman's messages)
    are skipped.
    """
    received = ReceivedLog()
    section = ""
    metric: ReceivedMetric | None = None

    for line in text.splitlines():
        stripped = line.strip()

        if stripped == "Resource attributes:":
            section = "resource"
            received.resources.append({})
            continue
        if stripped == "Descriptor:":
            section = "descriptor"
            continue
        if stripped == "Data point attributes:":
            section = "point"
            if metric is not None:
                metric.point_attributes.append({})
            continue
        if stripped.startswith("Value: "):
            if metric is not None:
                metric.values.append(float(stripped.removeprefix("Value: ")))
            continue

        arrow = _ARROW_LINE.match(line)
        if arrow is None:
            continue
        key, raw = arrow.group(1), arrow.group(2).strip()

        if section == "descriptor":
            if key == "Name":
                metric = received.metrics.setdefault(raw, ReceivedMetric())
            elif metric is not None and key == "Unit":
                metric.units.add(raw)
            elif metric is not None and key == "DataType":
                metric.data_types.add(raw)
            elif metric is not None and key == "IsMonotonic":
                metric.monotonic.add(raw)
            continue

        typed = _TYPED_VALUE.match(raw)
        value = typed.group(1) if typed else raw
        if section == "resource":
            received.resources[-1][key] = value
        elif section == "point" and metric is not None:
            metric.point_attributes[-1][key] = value

    return received


def required_metrics() -> list[MetricSpec]:
    """Return the metrics that a run against the simulator with default settings must deliver."""
    return [
        spec
        for spec in METRICS
        if spec.enabled_by_default
        and ("/statistics/" in spec.source or spec.name == "dify.apps" or spec.name in _EXPORTER_METRICS)
    ]


def check(received: ReceivedLog, resource_attributes: dict[str, str]) -> list[str]:
    """Return one message per failed condition; empty when the flow is complete."""
    failures = []
    by_name = {spec.name: spec for spec in METRICS}

    for spec in required_metrics():
        if spec.name not in received.metrics:
            failures.append(f"metric {spec.name} did not arrive")

    for name, metric in sorted(received.metrics.items()):
        spec = by_name.get(name)
        if spec is None:
            failures.append(f"metric {name} arrived but is not in otel_dify/catalog.py")
            continue
        if metric.units != {spec.unit}:
            failures.append(f"metric {name} arrived with units {sorted(metric.units)}, expected {spec.unit!r}")
        if metric.data_types != {_DATA_TYPES[spec.instrument]}:
            failures.append(
                f"metric {name} arrived as {sorted(metric.data_types)}, expected {_DATA_TYPES[spec.instrument]}"
            )
        if spec.instrument == "counter" and metric.monotonic != {"true"}:
            failures.append(f"counter {name} arrived with IsMonotonic {sorted(metric.monotonic)}, expected true")

    tokens = received.metrics.get("dify.app.tokens")
    if tokens is not None:
        if not any(ATTR_APP_NAME in attributes for attributes in tokens.point_attributes):
            failures.append(f"dify.app.tokens arrived without the {ATTR_APP_NAME} attribute")
        if not any(value > 0 for value in tokens.values):
            failures.append("dify.app.tokens arrived, but every total is 0")

    if not received.resources:
        failures.append("no resource arrived")
    for key, expected in sorted(resource_attributes.items()):
        seen = {resource.get(key) for resource in received.resources}
        if seen != {expected}:
            failures.append(f"resource attribute {key} is {sorted(map(str, seen))}, expected {expected!r}")

    return failures


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="rotel-agent output saved with podman logs")
    parser.add_argument(
        "--resource-attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a resource attribute every received resource must carry; repeatable",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    expected = dict(item.split("=", 1) for item in args.resource_attribute)
    received = parse_debug_log(args.log.read_text(encoding="utf-8", errors="replace"))

    failures = check(received, expected)
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        return 1

    points = sum(len(metric.point_attributes) for metric in received.metrics.values())
    print(f"OK {len(received.metrics)} metrics, {points} data points, {len(received.resources)} resources received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
