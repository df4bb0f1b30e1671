"""Benchmark figures, their targets, and the table that prints them.

Each figure is one measured value for one app count. A figure with a target
gets PASS or MISS, and one without a target is shown for information. A
figure that could not be measured shows the reason instead of a value, and
one whose own consistency check failed shows FAIL and the reason.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from bench.startup import StartupTimes

#: Bytes in a megabyte (decimal, as the memory target is stated).
MB = 1_000_000

#: Largest app count at which the HTTP memory target applies.
RSS_TARGET_MAX_APPS = 1000


@dataclass(frozen=True)
class Target:
    """A condition a figure should meet, and how the table shows it."""

    text: str
    met: Callable[[float], bool]


REQUESTS_RATIO_TARGET = Target("= 1.00", lambda value: abs(value - 1.0) < 0.005)
WALL_RATIO_TARGET = Target("<= 1.2", lambda value: value <= 1.2)
CPU_TARGET = Target("<= 1.0 ms", lambda value: value <= 1.0)
RSS_TARGET = Target("<= 60 MB", lambda value: value <= 60.0)
GROWTH_TARGET = Target("<= 2 %", lambda value: value <= 2.0)


@dataclass(frozen=True)
class Figure:
    """One row of the table.

    ``value`` is None when the figure was not measured, and ``note`` gives
    the reason. ``failure`` is the reason the measured value cannot be
    trusted, such as counts that do not match; the row then shows FAIL.
    """

    apps: int
    name: str
    value: float | None
    text: str
    target: Target | None = None
    note: str = ""
    failure: str = ""

    @property
    def result(self) -> str:
        if self.value is None:
            return "n/a"
        if self.failure:
            return "FAIL"
        if self.target is None:
            return "-"
        return "PASS" if self.target.met(self.value) else "MISS"

    @property
    def shown_text(self) -> str:
        """The value column: the text, the failure after it, or the reason when not measured."""
        if self.value is None:
            return f"not measured: {self.note}"
        if self.failure:
            return f"{self.text}; check failed: {self.failure}"
        return self.text

    def as_dict(self) -> dict[str, Any]:
        return {
            "apps": self.apps,
            "figure": self.name,
            "value": self.value,
            "text": self.text,
            "target": self.target.text if self.target else None,
            "result": self.result,
            "note": self.note,
            "failure": self.failure,
        }


def not_measured(apps: int, name: str, reason: str) -> Figure:
    return Figure(apps, name, None, "-", note=reason)


def timed_figures(result: dict[str, Any], *, latency_ms: float, concurrency: int) -> list[Figure]:
    """Return the request, wall-time and CPU figures of a ``timed`` worker result.

    Needs at least one steady-state poll. The ideal wall time of a poll is its
    requests × the added latency ÷ the maximum concurrency. The second wall
    time ratio adds the simulator's measured handler time per request to the
    latency. A result without server times gets no second ratio.
    """
    apps = result["apps"]
    polls = result["polls"]
    first = polls[0]
    steady = polls[1:]
    if not steady:
        raise ValueError("the timed run has no steady-state poll")

    requests = [sum(poll["requests"].values()) for poll in steady]
    minimum = [poll["minimum"] for poll in steady]
    ideal_s = [count * latency_ms / 1000 / concurrency for count in requests]
    wall_ratios = [poll["duration_s"] / ideal for poll, ideal in zip(steady, ideal_s)]
    cpu_ms_per_app = result["cpu_steady_s"] / len(steady) / apps * 1000
    export_ms_per_app = result["cpu_export_s"] / len(steady) / apps * 1000
    first_requests = sum(first["requests"].values())
    ratio = sum(requests) / sum(minimum)
    kinds = _kinds_text(steady)
    load = f", load {result['load_1min']:.1f}" if "load_1min" in result else ""

    return [
        Figure(apps, "requests, first poll (with history)", first_requests,
               f"{first_requests} (minimum {first['minimum']})"),
        Figure(apps, "requests per steady-state poll", statistics.fmean(requests),
               f"{statistics.fmean(requests):.1f} ({kinds})"),
        Figure(apps, "requests / minimum", ratio, f"{ratio:.2f} (minimum {statistics.fmean(minimum):.1f})",
               REQUESTS_RATIO_TARGET),
        Figure(apps, "poll wall time / ideal", statistics.fmean(wall_ratios),
               f"{statistics.fmean(wall_ratios):.2f} ({statistics.fmean(poll['duration_s'] for poll in steady):.3f} s"
               f" vs {statistics.fmean(ideal_s):.3f} s{load})",
               WALL_RATIO_TARGET),
        *_server_time_figures(apps, steady, requests, latency_ms=latency_ms, concurrency=concurrency),
        Figure(apps, "CPU per poll per app", cpu_ms_per_app,
               f"{cpu_ms_per_app:.2f} ms (of which export {export_ms_per_app:.2f} ms)", CPU_TARGET),
    ]


def _server_time_figures(
    apps: int, steady: Sequence[dict[str, Any]], requests: Sequence[int], *, latency_ms: float, concurrency: int
) -> list[Figure]:
    """Return the wall time ratio against requests × (latency + measured handler time) ÷ concurrency."""
    if any(not poll.get("server_requests") for poll in steady):
        return []

    handler_s = [poll["server_handler_s"] / poll["server_requests"] for poll in steady]
    ideal_s = [count * (latency_ms / 1000 + handler) / concurrency for count, handler in zip(requests, handler_s)]
    ratios = [poll["duration_s"] / ideal for poll, ideal in zip(steady, ideal_s)]
    ratio = statistics.fmean(ratios)
    text = (
        f"{ratio:.2f} ({statistics.fmean(poll['duration_s'] for poll in steady):.3f} s"
        f" vs {statistics.fmean(ideal_s):.3f} s; server handler {statistics.fmean(handler_s) * 1000:.2f} ms"
        f" per request + {latency_ms:g} ms latency"
    )
    if all("server_cpu_s" in poll for poll in steady):
        # The simulator's CPU time is not in the ideal: it shows what the handler time leaves out.
        cpu_ms = sum(poll["server_cpu_s"] for poll in steady) / sum(poll["server_requests"] for poll in steady) * 1000
        text += f"; simulator CPU {cpu_ms:.2f} ms per request"
    text += ")"
    return [Figure(apps, "poll wall time / ideal with measured server time", ratio, text, WALL_RATIO_TARGET)]


def _kinds_text(steady: Sequence[dict[str, Any]]) -> str:
    totals: dict[str, int] = {}
    for poll in steady:
        for kind, count in poll["requests"].items():
            totals[kind] = totals.get(kind, 0) + count
    return ", ".join(f"{kind} {count / len(steady):.1f}" for kind, count in totals.items() if count)


def memory_figures(result: dict[str, Any], *, protocol: str, fast_polls_skipped: str = "") -> list[Figure]:
    """Return the resident-memory figures of a ``memory`` worker result.

    The 60 MB target applies to the HTTP exporter at up to 1,000 apps. The
    growth is measured from the ``--polls`` checkpoint to the last poll;
    ``fast_polls_skipped`` gives the reason when the run stopped at the checkpoint.
    """
    apps = result["apps"]
    label = "HTTP" if protocol == "http/protobuf" else "gRPC"
    rss_target = RSS_TARGET if protocol == "http/protobuf" and apps <= RSS_TARGET_MAX_APPS else None
    polls_mb = result["after_polls"]["rss"] / MB
    seconds_per_poll = result["elapsed_s"] / result["fast_polls"]

    figures = [
        _rss_figure(apps, f"RSS {label}, before the first poll", result["start"], None),
        _rss_figure(apps, f"RSS {label}, after {result['polls']} polls", result["after_polls"], rss_target),
    ]
    if fast_polls_skipped:
        figures.append(not_measured(apps, f"RSS {label}, growth over fast polls", fast_polls_skipped))
    else:
        fast_mb = result["after_fast_polls"]["rss"] / MB
        growth_pct = (fast_mb - polls_mb) / polls_mb * 100
        figures += [
            _rss_figure(apps, f"RSS {label}, after {result['fast_polls']} polls", result["after_fast_polls"], rss_target),
            Figure(apps, f"RSS {label}, growth {result['polls']} -> {result['fast_polls']} polls", growth_pct,
                   f"{growth_pct:+.2f} %", GROWTH_TARGET),
        ]
    figures.append(
        Figure(apps, f"time per poll {label}, no latency", seconds_per_poll, f"{seconds_per_poll * 1000:.0f} ms")
    )
    return figures


def _rss_figure(apps: int, name: str, checkpoint: dict[str, int], target: Target | None) -> Figure:
    rss_mb = checkpoint["rss"] / MB
    anonymous_mb = checkpoint["anonymous"] / MB
    return Figure(apps, name, rss_mb, f"{rss_mb:.1f} MB (private {anonymous_mb:.1f} MB)", target)


def startup_figures(apps: int, times: StartupTimes, *, protocol: str) -> list[Figure]:
    """Return the time from process start to the first export the sink received."""
    label = "HTTP" if protocol == "http/protobuf" else "gRPC"
    parts = []
    if times.started_s is not None:
        parts.append(f"loop running at {times.started_s:.2f} s")
    if times.first_poll_s is not None:
        parts.append(f"first poll done at {times.first_poll_s:.2f} s")
    detail = f" ({', '.join(parts)})" if parts else ""
    figures = [
        Figure(apps, f"start to first export {label}", times.first_export_s, f"{times.first_export_s:.2f} s{detail}"),
        Figure(apps, f"SIGTERM to exit {label}", times.stop_s, f"{times.stop_s:.2f} s (exit status {times.exit_status})"),
    ]
    if times.rss_after_first_export is not None:
        rss_mb = times.rss_after_first_export / MB
        figures.append(Figure(apps, f"RSS of otel-dify run {label}, at first export", rss_mb, f"{rss_mb:.1f} MB"))
    return figures


def render_table(figures: Sequence[Figure]) -> str:
    """Return the figures as one Markdown table; a figure not measured or failed shows its reason."""
    header = ("apps", "figure", "value", "target", "result")
    rows = [
        (
            str(figure.apps),
            figure.name,
            figure.shown_text,
            figure.target.text if figure.target else "-",
            figure.result,
        )
        for figure in figures
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])
