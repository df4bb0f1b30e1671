"""Soak run: thousands of polls against a simulator that keeps receiving records and injects faults at random.

``python -m bench.soak --polls 3000 --seed 1`` wires the exporter's parts
(settings, transport, clients, collectors, record collection, poller, and
the telemetry pipeline with an in-memory reader) to a Dify simulator on
loopback in this process. Each poll advances the simulator's clock and the
exporter's monotonic clock by ``--interval`` seconds, so hours of exporter
time pass in minutes. Before each poll a seeded random draw may start a
fault episode of one to four polls. The episodes are 5xx bursts, dropped
connections, a closed listener, timeouts, HTML and broken JSON bodies, CSRF
rejections, revoked or logged-out sessions, login lockouts and failing
record endpoints.

Records arrive during the whole run: messages and workflow runs are
generated at the start with creation times spread over the run, and some
runs start as ``running`` and finish polls later. The simulator serves only
records created before its clock's now, so each poll sees new ones, while
the simulator's own memory stays out of the measured growth.

The run fails (exit status 1) when:

- at the end, after the faults stop and a few settling polls, a statistics
  counter differs from the simulator's ground truth or a record counter
  (workflow runs, workflow tokens, LLM tokens, LLM calls) from the record
  truth since the first poll, both read from what the metric reader
  collects;
- at a checkpoint every ``--check-every`` polls, a poll that succeeded with
  no fault active left a statistics counter different from the ground truth;
- a cumulative counter went down between two collections;
- a log record at ERROR or above carries a traceback, or a log record at
  INFO or above contains the password or a session token;
- the resident memory grew by more than ``--max-rss-growth`` (2 %) from the
  end of the warm-up (the first fifth of the polls) to the last poll.

The summary goes to stdout, as text or with ``--json`` as one JSON object.

Short run, as CI runs it from tests/faults/test_soak.py: ``python -m
bench.soak --polls 500 --seed 3`` (about a minute on two cores).

Long run: ``python -m bench.soak --polls 3000 --seed 7`` covers 50 hours of
exporter time with one-minute polls. Measured on a 2-core, 24 GiB Linux
machine with Python 3.11.7 and aiohttp 3.14: 576 s wall time, 162 of 3000
polls failed by 212 fault episodes (1469 faulted requests), 15 logins and
71 refreshes, final totals exact, resident memory 73.7 MiB after the
warm-up and 73.9 MiB at the end (+0.22 %). A poll costs more as the run
goes on, because the simulator sums every record of an app for each
statistics request, and each fault episode that fails requests also waits
for the transport's real retry back-off (up to 1.5 s per request).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: import ``bench`` and ``otel_dify`` from the checkout.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData, Sum  # noqa: E402

from otel_dify import catalog  # noqa: E402
from otel_dify.config import load_settings  # noqa: E402
from otel_dify.runtime.assembly import Assembly, assemble  # noqa: E402
from otel_dify.simulator import DifySimulator, SessionTokens  # noqa: E402
from otel_dify.simulator.faults import (  # noqa: E402
    Fault,
    FaultInjector,
    SwitchableServer,
    before,
    csrf_rejection,
    delay,
    drop_connection,
    drop_row_field,
    error_status,
    html_page,
    login_lockout,
    logout_latest_session,
    revoke_access_tokens,
    rewrite_json,
    run_switchable_simulator,
    set_row_field,
    truncated_json,
)
from otel_dify.simulator.records import Account  # noqa: E402
from otel_dify.snapshot import SnapshotHolder  # noqa: E402
from otel_dify.telemetry import Telemetry  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_POLLS = 3000
DEFAULT_SEED = 1
#: Exporter time between two polls, in seconds.
DEFAULT_INTERVAL_S = 60.0
#: Chance that a fault episode starts before a poll while none is active.
DEFAULT_FAULT_RATE = 0.08
#: Largest allowed growth of the resident memory after the warm-up, as a fraction.
DEFAULT_MAX_RSS_GROWTH = 0.02
DEFAULT_CHECK_EVERY = 100

#: Short, because every timed-out attempt costs real time.
REQUEST_TIMEOUT_S = 0.5
WARMUP_FRACTION = 0.2
MIN_WARMUP_POLLS = 20
#: Polls after the faults stop that may pass before the totals must be exact:
#: a failed login during the run waits out a 900 s back-off (15 polls of 60 s).
MAX_SETTLE_POLLS = 40
#: Polls a fault episode lasts, at least and at most.
EPISODE_POLLS = (1, 4)
ACCESS_TOKEN_TTL_S = 3600
COST_TOLERANCE = 1e-9

APPS_LIST = "/console/api/apps"
STATISTICS = "/console/api/apps/*/statistics/*"
TOKEN_COSTS = "/console/api/apps/*/statistics/token-costs"
LOGIN = "/console/api/login"
REFRESH = "/console/api/refresh-token"
RECORD_PATHS = (
    "/console/api/apps/*/workflow-app-logs",
    "/console/api/apps/*/advanced-chat/workflow-runs",
    "/console/api/apps/*/workflow-runs/*/node-executions",
)
STATISTICS_COUNTERS = ("dify.app.messages", "dify.app.tokens", "dify.app.workflow.runs", "dify.app.workflow.tokens")
RECORD_COUNTERS = ("dify.workflow.runs", "dify.workflow.tokens", "dify.llm.tokens", "dify.llm.calls")
MESSAGE_MODES = ("chat", "completion", "agent-chat", "advanced-chat")
WORKFLOW_MODES = ("workflow", "advanced-chat")


@dataclass(frozen=True)
class SoakOptions:
    """Settings of one soak run; see the module docstring and ``--help``."""

    polls: int = DEFAULT_POLLS
    seed: int = DEFAULT_SEED
    interval_s: float = DEFAULT_INTERVAL_S
    fault_rate: float = DEFAULT_FAULT_RATE
    max_rss_growth: float = DEFAULT_MAX_RSS_GROWTH
    check_every: int = DEFAULT_CHECK_EVERY

    @property
    def warmup_polls(self) -> int:
        return max(MIN_WARMUP_POLLS, int(self.polls * WARMUP_FRACTION))


@dataclass
class SoakReport:
    """Counts and findings of one soak run; :attr:`failures` is empty when it passed."""

    polls: int = 0
    failed_polls: int = 0
    settle_polls: int = 0
    episodes: dict[str, int] = field(default_factory=dict)
    faulted_requests: int = 0
    requests: int = 0
    logins: int = 0
    refreshes: int = 0
    records_scheduled: int = 0
    checkpoints: int = 0
    rss_warmup_bytes: int = 0
    rss_end_bytes: int = 0
    wall_s: float = 0.0
    #: Exporter clock time from the first poll to the last settling poll, in seconds.
    exporter_s: float = 0.0
    log_records: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        if self.rss_warmup_bytes == 0:
            return 0.0
        return (self.rss_end_bytes - self.rss_warmup_bytes) / self.rss_warmup_bytes

    def fail(self, message: str) -> None:
        # Bounded, so a systematic failure does not fill the memory being measured.
        if len(self.failures) < 50:
            self.failures.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": not self.failures,
            "polls": self.polls,
            "failed_polls": self.failed_polls,
            "settle_polls": self.settle_polls,
            "exporter_hours": round(self.exporter_s / 3600, 2),
            "episodes_total": sum(self.episodes.values()),
            "episodes": dict(sorted(self.episodes.items())),
            "faulted_requests": self.faulted_requests,
            "requests": self.requests,
            "logins": self.logins,
            "refreshes": self.refreshes,
            "records_scheduled": self.records_scheduled,
            "checkpoints": self.checkpoints,
            "rss_warmup_mib": round(self.rss_warmup_bytes / 2**20, 2),
            "rss_end_mib": round(self.rss_end_bytes / 2**20, 2),
            "rss_growth_percent": round(100 * self.rss_growth, 3),
            "wall_s": round(self.wall_s, 1),
            "log_records": dict(sorted(self.log_records.items())),
            "failures": list(self.failures),
        }


# -- memory ----------------------------------------------------------------


def rss_bytes() -> int:
    """Return this process's resident set size (``VmRSS`` of /proc/self/status) in bytes.

    Raises RuntimeError where /proc/self/status has no VmRSS line (not Linux).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmRSS line; the soak run measures memory on Linux only")


def settled_rss_bytes() -> int:
    """Collect garbage first, so the reading does not depend on when the collector last ran."""
    gc.collect()
    return rss_bytes()


# -- logs ------------------------------------------------------------------


class LogAudit(logging.Handler):
    """Counts log records by level and reports tracebacks at ERROR and secrets, keeping no record.

    ``secrets`` grows as the simulator issues tokens; it is checked against
    the message and every attribute of each record at INFO or above.
    """

    def __init__(self, report: SoakReport, secrets: set[str]) -> None:
        super().__init__(level=logging.INFO)
        self._report = report
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        counts = self._report.log_records
        counts[record.levelname] = counts.get(record.levelname, 0) + 1
        if record.levelno >= logging.ERROR and record.exc_info:
            self._report.fail(f"traceback logged at {record.levelname} by {record.name}: {record.getMessage()[:200]}")
        text = record.getMessage() + " " + " ".join(str(value) for value in record.__dict__.values())
        for secret in self._secrets:
            if secret in text:
                self._report.fail(f"a secret appears in a log record of {record.name}: {record.getMessage()[:80]}")
                break


def record_issued_tokens(simulator: DifySimulator, secrets: set[str]) -> None:
    """Add every token the simulator issues (login or refresh) to ``secrets``."""
    issue_session = simulator.auth.issue_session

    def recording_issue_session(account: Account, *, record_login: bool = True) -> SessionTokens:
        tokens = issue_session(account, record_login=record_login)
        secrets.update(token for token in (tokens.access_token, tokens.refresh_token, tokens.csrf_token) if token)
        return tokens

    simulator.auth.issue_session = recording_issue_session  # type: ignore[method-assign]


# -- traffic ---------------------------------------------------------------


@dataclass
class TrafficPlan:
    """Records dated over the whole run, and the running runs to finish at given times."""

    records: int = 0
    # (finish time, run id), sorted by time.
    finishes: list[tuple[datetime, str]] = field(default_factory=list)
    _next_finish: int = 0

    def finish_due(self, simulator: DifySimulator) -> None:
        """Finish every running run whose time has come, at the simulator's now."""
        now = simulator.clock.now()
        while self._next_finish < len(self.finishes) and self.finishes[self._next_finish][0] <= now:
            simulator.finish_run(self.finishes[self._next_finish][1])
            self._next_finish += 1


def plan_traffic(simulator: DifySimulator, rng: random.Random, start: datetime, options: SoakOptions) -> TrafficPlan:
    """Add the run's records to the simulator, dated after ``start``, and return the plan.

    Each message app gets up to two messages per poll interval, and each
    workflow app up to two runs, one in eight of them running for one to
    three intervals. Extra polls at the end find nothing new.
    """
    plan = TrafficPlan()
    dataset = simulator.dataset
    interval = timedelta(seconds=options.interval_s)
    for index in range(options.polls):
        window_start = start + index * interval + timedelta(seconds=1)
        for app in simulator.apps():
            mode = app.mode.value
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                created_at = window_start + timedelta(seconds=rng.uniform(0, options.interval_s - 2))
                if mode in MESSAGE_MODES:
                    tokens = rng.randint(10, 400)
                    dataset.add_message(app.id, created_at, message_tokens=tokens, answer_tokens=tokens // 3)
                elif rng.random() < 1 / 8:
                    run = dataset.add_workflow_run(app.id, created_at, status="running")
                    finish_at = created_at + timedelta(seconds=rng.uniform(1, 3) * options.interval_s)
                    plan.finishes.append((finish_at, run.id))
                else:
                    dataset.add_workflow_run(app.id, created_at, total_tokens=rng.randint(20, 900))
                plan.records += 1
    plan.finishes.sort()
    return plan


# -- faults ----------------------------------------------------------------


@dataclass
class Episode:
    """One fault episode: its rules, how to end it, and the poll index at which it ends."""

    kind: str
    ends_at_poll: int
    faults: list[Fault] = field(default_factory=list)
    undo: Callable[[], Any] | None = None


class FaultSchedule:
    """Starts and ends seeded random fault episodes, one at a time."""

    def __init__(self, soak: Soak, rng: random.Random) -> None:
        self._soak = soak
        self._rng = rng
        self.episode: Episode | None = None
        # Kind -> (weight of the draw, starter). A starter returns the episode
        # or, when it must wait for the server, a coroutine that does.
        self._kinds: dict[str, tuple[int, Callable[[], Any]]] = {
            "5xx burst": (4, self._burst),
            "dropped connections": (2, self._dropped),
            "listener closed": (2, self._listener_closed),
            "request timeout": (1, self._timeout),
            "slow apps list": (1, self._slow_apps),
            "html page": (2, self._html),
            "truncated json": (1, self._truncated),
            "row without date": (1, self._missing_date),
            "token count as list": (1, self._wrong_type),
            "csrf rejection": (2, self._csrf),
            "revoked tokens": (1, self._revoked),
            "logout elsewhere": (1, self._logout),
            "token expiry mid-poll": (1, self._expiry_mid_poll),
            "login lockout": (1, self._lockout),
            "record endpoints failing": (2, self._records_failing),
        }

    async def before_poll(self, index: int, fault_rate: float) -> None:
        """End the episode that is over and maybe start a new one, before poll ``index``."""
        if self.episode is not None and index >= self.episode.ends_at_poll:
            await self.end()
        if self.episode is None and self._rng.random() < fault_rate:
            names = list(self._kinds)
            weights = [self._kinds[name][0] for name in names]
            kind = self._rng.choices(names, weights)[0]
            started = self._kinds[kind][1]()
            if asyncio.iscoroutine(started):
                started = await started
            self.episode = started
            self.episode.kind = kind
            self.episode.ends_at_poll = index + self._rng.randint(*EPISODE_POLLS)
            report = self._soak.report
            report.episodes[kind] = report.episodes.get(kind, 0) + 1

    async def end(self) -> None:
        """End the active episode, if any: stop its rules and undo its changes."""
        episode, self.episode = self.episode, None
        if episode is None:
            return
        for fault in episode.faults:
            self._soak.report.faulted_requests += fault.applied
            self._soak.faults.remove(fault)
        if episode.undo is not None:
            result = episode.undo()
            if asyncio.iscoroutine(result):
                await result

    def _rule(self, action: Any, path: str, **options: Any) -> Episode:
        fault = self._soak.faults.add(action, path=path, seed=self._rng.randrange(2**31), **options)
        return Episode("", 0, [fault])

    def _burst(self) -> Episode:
        status = self._rng.choice((500, 502, 503))
        path = self._rng.choice((APPS_LIST, STATISTICS, *RECORD_PATHS))
        return self._rule(error_status(status, html=status == 502), path, count=self._rng.randint(1, 8))

    def _dropped(self) -> Episode:
        return self._rule(drop_connection(), self._rng.choice(("*", STATISTICS, APPS_LIST)), probability=0.3)

    async def _listener_closed(self) -> Episode:
        server = self._soak.server
        await server.close_listener()
        return Episode("", 0, undo=server.open_listener)

    def _timeout(self) -> Episode:
        return self._rule(delay(REQUEST_TIMEOUT_S * 3), APPS_LIST, method="GET", count=3)

    def _slow_apps(self) -> Episode:
        return self._rule(delay(REQUEST_TIMEOUT_S / 5), APPS_LIST, method="GET")

    def _html(self) -> Episode:
        app = self._rng.choice(self._soak.simulator.apps())
        return self._rule(html_page(self._rng.choice((200, 404))), STATISTICS, app_id=app.id)

    def _truncated(self) -> Episode:
        return self._rule(truncated_json(), TOKEN_COSTS, probability=0.5)

    def _missing_date(self) -> Episode:
        return self._rule(rewrite_json(drop_row_field("date")), STATISTICS, probability=0.3)

    def _wrong_type(self) -> Episode:
        return self._rule(rewrite_json(set_row_field("token_count", [1])), TOKEN_COSTS)

    def _csrf(self) -> Episode:
        return self._rule(csrf_rejection(), STATISTICS, count=self._rng.randint(1, 3))

    def _revoked(self) -> Episode:
        revoke_access_tokens(self._soak.simulator)
        return Episode("", 0)

    def _logout(self) -> Episode:
        logout_latest_session(self._soak.simulator)
        return Episode("", 0)

    def _expiry_mid_poll(self) -> Episode:
        clock = self._soak.simulator.clock
        return self._rule(before(lambda: clock.advance(ACCESS_TOKEN_TTL_S + 1)), STATISTICS, skip=2, count=1)

    def _lockout(self) -> Episode:
        return self._rule(login_lockout(), LOGIN, method="POST")

    def _records_failing(self) -> Episode:
        return self._rule(error_status(503), self._rng.choice(RECORD_PATHS), probability=0.5)


# -- metrics ---------------------------------------------------------------


def iter_points(data: MetricsData | None) -> Iterator[tuple[str, Any, dict[str, Any], bool]]:
    """Yield (metric name, data point, attributes, is a cumulative monotonic sum) for every point in ``data``."""
    if data is None:
        return
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                monotonic = isinstance(metric.data, Sum) and metric.data.is_monotonic
                for point in metric.data.data_points:
                    yield metric.name, point, dict(point.attributes or {}), monotonic


class CounterWatch:
    """Remembers the last value of every monotonic sum series and reports decreases."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, frozenset[tuple[str, Any]]], float] = {}

    def check(self, data: MetricsData | None, report: SoakReport, poll: int) -> None:
        for name, point, attributes, monotonic in iter_points(data):
            if not monotonic:
                continue
            key = (name, frozenset(attributes.items()))
            previous = self._last.get(key)
            if previous is not None and point.value < previous - COST_TOLERANCE:
                report.fail(f"poll {poll}: {name} {attributes.get('dify.app.id')} went down from {previous} to {point.value}")
            self._last[key] = point.value


def app_sums(data: MetricsData | None, metrics: tuple[str, ...]) -> dict[tuple[str, str], float]:
    """Return the value of each metric in ``metrics`` per app id, summed over the other attributes."""
    sums: dict[tuple[str, str], float] = {}
    for name, point, attributes, _monotonic in iter_points(data):
        if name in metrics and "dify.app.id" in attributes:
            key = (name, str(attributes["dify.app.id"]))
            sums[key] = sums.get(key, 0.0) + float(point.value)
    return sums


def statistics_mismatches(simulator: DifySimulator, data: MetricsData | None) -> list[str]:
    """Return one line per statistics counter (cost included) that differs from the ground truth."""
    observed = app_sums(data, (*STATISTICS_COUNTERS, "dify.app.cost"))
    problems: list[str] = []
    for app in simulator.apps():
        truth = simulator.ground_truth(app.id)
        mode = app.mode.value
        expected: dict[str, float] = {}
        if mode in MESSAGE_MODES:
            expected |= {"dify.app.messages": truth.messages, "dify.app.tokens": truth.tokens}
            expected["dify.app.cost"] = float(truth.cost.get("USD", Decimal(0)))
        if mode in WORKFLOW_MODES:
            expected |= {"dify.app.workflow.runs": truth.workflow_runs, "dify.app.workflow.tokens": truth.workflow_tokens}
        for metric, want in expected.items():
            got = observed.get((metric, app.id))
            if got is None or not math.isclose(got, want, rel_tol=0.0, abs_tol=COST_TOLERANCE):
                problems.append(f"{metric} {mode} {app.id}: got {got}, expected {want}")
    return problems


def record_mismatches(simulator: DifySimulator, data: MetricsData | None, since: datetime) -> list[str]:
    """Return one line per record counter of a workflow or advanced-chat app that differs from the record truth."""
    observed = app_sums(data, RECORD_COUNTERS)
    problems: list[str] = []
    for app in simulator.apps():
        if app.mode.value not in WORKFLOW_MODES:
            continue
        truth = simulator.record_truth(app.id, since=since)
        expected = {
            "dify.workflow.runs": truth.run_count,
            "dify.workflow.tokens": truth.workflow_tokens,
            "dify.llm.tokens": sum(usage.input_tokens + usage.output_tokens for usage in truth.models.values()),
            "dify.llm.calls": sum(usage.calls for usage in truth.models.values()),
        }
        for metric, want in expected.items():
            got = observed.get((metric, app.id), 0.0)
            if got != want:
                problems.append(f"{metric} {app.mode.value} {app.id}: got {got}, expected {want}")
    return problems


def backlog(data: MetricsData | None) -> float:
    """Return ``dify.exporter.records.backlog``: runs waiting for their node executions."""
    return sum(float(point.value) for name, point, _a, _m in iter_points(data) if name == "dify.exporter.records.backlog")


# -- the run ---------------------------------------------------------------


class MonotonicClock:
    """The exporter's monotonic clock, moved only by the soak run."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Soak:
    """The parts of one soak run."""

    options: SoakOptions
    simulator: DifySimulator
    faults: FaultInjector
    server: SwitchableServer
    assembly: Assembly
    reader: InMemoryMetricReader
    monotonic: MonotonicClock
    report: SoakReport

    def advance(self, seconds: float) -> None:
        self.simulator.clock.advance(seconds)
        self.monotonic.now += seconds

    async def poll(self) -> bool:
        summary = await self.assembly.poller.poll_once()
        self.report.requests += summary.requests
        return summary.succeeded


async def run_soak(options: SoakOptions) -> SoakReport:
    """Run the soak described in the module docstring and return its report."""
    report = SoakReport()
    rng = random.Random(options.seed)
    faults = FaultInjector(options.seed)
    simulator = DifySimulator(
        profile="1.15",
        seed=options.seed,
        days=3,
        access_token_ttl_s=ACCESS_TOKEN_TTL_S,
        request_log_limit=1000,
        faults=faults,
    )
    secrets: set[str] = {simulator.admin_password}
    record_issued_tokens(simulator, secrets)
    audit = LogAudit(report, secrets)
    root = logging.getLogger()
    root.addHandler(audit)
    previous_level = root.level
    root.setLevel(logging.INFO)

    started = time.monotonic()
    try:
        async with run_switchable_simulator(simulator) as server:
            soak = _wire(options, simulator, faults, server, report)
            try:
                await _drive(soak, rng)
            finally:
                await soak.assembly.close()
    finally:
        root.removeHandler(audit)
        root.setLevel(previous_level)
    report.wall_s = time.monotonic() - started
    return report


def _wire(
    options: SoakOptions, simulator: DifySimulator, faults: FaultInjector, server: SwitchableServer, report: SoakReport
) -> Soak:
    environ = {
        "OTEL_DIFY_BASE_URL": server.base_url,
        "OTEL_DIFY_EMAIL": simulator.admin.email,
        "OTEL_DIFY_PASSWORD": simulator.admin_password,
        "OTEL_DIFY_POLL_INTERVAL": str(options.interval_s),
        "OTEL_DIFY_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
        "OTEL_DIFY_HEALTH_PORT": "0",
    }
    settings = load_settings(environ, env_file=None)
    holder = SnapshotHolder()
    reader = InMemoryMetricReader()
    specs = catalog.enabled_metrics(settings.metrics_enabled, settings.metrics_disabled)
    telemetry = Telemetry(specs, holder, None, export_interval_s=math.inf, extra_readers=[reader])
    monotonic = MonotonicClock()
    assembly = assemble(settings, holder, durations=telemetry, wall_clock=simulator.clock.now, monotonic=monotonic)
    return Soak(options, simulator, faults, server, assembly, reader, monotonic, report)


async def _drive(soak: Soak, rng: random.Random) -> None:
    options, report, simulator = soak.options, soak.report, soak.simulator
    since = simulator.clock.now()
    exporter_start_s = soak.monotonic.now
    plan = plan_traffic(simulator, rng, since, options)
    report.records_scheduled = plan.records
    schedule = FaultSchedule(soak, rng)
    watch = CounterWatch()

    # Rules that only count, added first so that they see every login and
    # refresh, also those that a later rule rejects.
    logins = soak.faults.add(before(_nothing), path=LOGIN, method="POST", name="count logins")
    refreshes = soak.faults.add(before(_nothing), path=REFRESH, method="POST", name="count refreshes")

    await soak.poll()
    for index in range(1, options.polls + 1):
        await schedule.before_poll(index, options.fault_rate)
        fault_active = schedule.episode is not None
        soak.advance(options.interval_s)
        plan.finish_due(simulator)

        succeeded = await soak.poll()
        report.polls += 1
        report.failed_polls += 0 if succeeded else 1
        data = soak.reader.get_metrics_data()
        watch.check(data, report, index)

        if index % options.check_every == 0 and succeeded and not fault_active:
            report.checkpoints += 1
            for problem in statistics_mismatches(simulator, data)[:5]:
                report.fail(f"checkpoint at poll {index}: {problem}")
        if index == options.warmup_polls:
            report.rss_warmup_bytes = settled_rss_bytes()
        del data
    report.rss_end_bytes = settled_rss_bytes()

    await schedule.end()
    await _settle(soak, watch, since)
    report.exporter_s = soak.monotonic.now - exporter_start_s
    report.logins = logins.applied
    report.refreshes = refreshes.applied

    growth_limit = options.max_rss_growth
    if report.rss_growth > growth_limit:
        report.fail(f"resident memory grew {100 * report.rss_growth:.2f} % after the warm-up, more than {100 * growth_limit:.2f} %")


def _nothing() -> None:
    """Do nothing: the callback of the counting rules."""


async def _settle(soak: Soak, watch: CounterWatch, since: datetime) -> None:
    """Poll without faults until two polls in a row succeed with an empty backlog, then compare the totals."""
    report = soak.report
    clean_in_a_row = 0
    data: MetricsData | None = None
    while report.settle_polls < MAX_SETTLE_POLLS and clean_in_a_row < 2:
        soak.advance(soak.options.interval_s)
        succeeded = await soak.poll()
        report.settle_polls += 1
        data = soak.reader.get_metrics_data()
        watch.check(data, report, report.polls + report.settle_polls)
        clean_in_a_row = clean_in_a_row + 1 if succeeded and backlog(data) == 0 else 0

    if clean_in_a_row < 2:
        report.fail(f"no clean poll within {MAX_SETTLE_POLLS} polls after the faults stopped")
    for problem in statistics_mismatches(soak.simulator, data):
        report.fail(f"final statistics: {problem}")
    for problem in record_mismatches(soak.simulator, data, since):
        report.fail(f"final records: {problem}")


# -- command line ----------------------------------------------------------


def parse_options(argv: list[str] | None = None) -> tuple[SoakOptions, bool, bool]:
    """Return the options, the JSON flag and the verbose flag from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--polls", type=int, default=DEFAULT_POLLS, help="polls to run before the settling polls (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the data, traffic and faults (default: %(default)s)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        help="exporter time between polls, in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=DEFAULT_FAULT_RATE,
        help="chance, 0 to 1, that a fault episode starts before a poll while none is active (default: %(default)s)",
    )
    parser.add_argument(
        "--max-rss-growth",
        type=float,
        default=DEFAULT_MAX_RSS_GROWTH,
        help="largest allowed growth of the resident memory after the warm-up, as a fraction: 0.02 is 2 %% "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--check-every",
        type=int,
        default=DEFAULT_CHECK_EVERY,
        help="polls between two checks against ground truth (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--verbose", action="store_true", help="print the exporter's WARNING and ERROR logs to stderr")
    args = parser.parse_args(argv)

    if args.polls < 1:
        parser.error(f"--polls must be at least 1, got {args.polls}")
    if args.interval <= 0:
        parser.error(f"--interval must be positive, got {args.interval}")
    if not 0 <= args.fault_rate <= 1:
        parser.error(f"--fault-rate must be between 0 and 1, got {args.fault_rate}")
    if args.check_every < 1:
        parser.error(f"--check-every must be at least 1, got {args.check_every}")
    options = SoakOptions(
        polls=args.polls,
        seed=args.seed,
        interval_s=args.interval,
        fault_rate=args.fault_rate,
        max_rss_growth=args.max_rss_growth,
        check_every=args.check_every,
    )
    return options, args.json, args.verbose


def render_text(report: SoakReport) -> str:
    """Return the summary as lines of ``name: value``, then the failures."""
    summary = report.as_dict()
    failures = summary.pop("failures")
    lines = [f"{name}: {value}" for name, value in summary.items()]
    lines += [f"FAIL {failure}" for failure in failures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the summary; return 0 when it passed and 1 otherwise."""
    options, as_json, verbose = parse_options(argv)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(handler)

    report = asyncio.run(run_soak(options))
    print(json.dumps(report.as_dict()) if as_json else render_text(report))
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main())
