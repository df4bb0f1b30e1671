"""Checks of ``otel-dify`` subprocesses under faults: clean output, readiness, and record totals at the sink."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timedelta, timezone
from urllib.error import HTTPError, URLError

from otel_dify.simulator import DifySimulator
from tests.e2e.ledger import OutputLedger
from tests.e2e.processes import ExporterProcess
from tests.otlp_sink import OtlpSink

RECORD_RUNS = "dify.workflow.runs"
RECORD_TOKENS = "dify.workflow.tokens"

#: Message of the log line with which record-level collection starts counting.
COUNTING_STARTS = "record counting starts"


def output_problems(process: ExporterProcess, ledger: OutputLedger) -> list[str]:
    """Return one line per traceback in the process's output and per secret in any recorded output."""
    problems = [
        f"{process.name} {stream}: traceback"
        for stream, text in (("stdout", process.stdout()), ("stderr", process.stderr()))
        if "Traceback" in text
    ]
    problems += [f"{leak.path.name}: {leak.label}: {leak.excerpt}" for leak in ledger.scan()]
    return problems


def http_status(url: str) -> int | None:
    """GET ``url`` and return the status code, or None when no response arrived."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except HTTPError as error:
        with error:
            return error.code
    except (URLError, OSError):
        return None


def record_totals(sink: OtlpSink) -> dict[tuple[str, str], float]:
    """Return the latest record-level run count and token total per app id at the sink, summed over attributes."""
    totals: dict[tuple[str, str], float] = {}
    for metric in (RECORD_RUNS, RECORD_TOKENS):
        for attributes, value in sink.points(metric):
            key = (metric, str(attributes.get("dify.app.id")))
            totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def expected_record_totals(simulator: DifySimulator, since: datetime) -> dict[tuple[str, str], float]:
    """Return the record truth of every app with runs since ``since``, keyed like :func:`record_totals`."""
    expected: dict[tuple[str, str], float] = {}
    for app in simulator.apps():
        if app.mode.value not in ("workflow", "advanced-chat"):
            continue
        truth = simulator.record_truth(app.id, since=since)
        if truth.run_count == 0:
            continue
        expected[(RECORD_RUNS, app.id)] = float(truth.run_count)
        expected[(RECORD_TOKENS, app.id)] = float(truth.workflow_tokens)
    return expected


def add_finished_runs(simulator: DifySimulator, *, seconds_ago: float = 0.5) -> None:
    """Add two finished runs to every workflow app and a chat turn (message and run) to every advanced-chat app.

    They are dated ``seconds_ago`` before the simulator's now and finish
    0.2 s later, so they are final by the time they are listed.
    """
    created_at = simulator.clock.now() - timedelta(seconds=seconds_ago)
    for app in simulator.apps():
        if app.mode.value == "workflow":
            for tokens in (150, 90):
                simulator.dataset.add_workflow_run(app.id, created_at, total_tokens=tokens, elapsed_time=0.2)
        elif app.mode.value == "advanced-chat":
            simulator.dataset.add_message(
                app.id, created_at, message_tokens=60, answer_tokens=30, provider_response_latency=0.0
            )


def counting_started_at(process: ExporterProcess) -> datetime:
    """Return the record counting start that the process logged ("record counting starts"), as aware UTC."""
    stamps = [record["started_at"] for record in process.log_records() if record.get("message") == COUNTING_STARTS]
    assert stamps, f"{COUNTING_STARTS!r} was not logged\n{process.describe()}"
    return datetime.fromtimestamp(float(stamps[0]), timezone.utc)
