"""The fewest requests a poll can make, and the exporter's request counts grouped by kind.

The minimum of a steady-state poll is the app-list pages plus, for every app,
one request per statistics source that its mode supports and the enabled
metrics need (``sources_for``). Historic totals are read in the first poll
and then once per history refresh interval, so a steady-state poll reads each
total source once (the trailing window). Record collection adds one list page
per app and active record level whose records the app's mode has. Logins and
profile reads count only when they are due.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping

from otel_dify import catalog
from otel_dify.collect.sources import Shape, sources_for
from otel_dify.collect.workspace import PROFILE_REFRESH_S
from otel_dify.dify.auth.console import LOGIN_ENDPOINT, REFRESH_ENDPOINT, SETUP_ENDPOINT
from otel_dify.dify.auth.session import REFRESH_MARGIN_S
from otel_dify.dify.client import APPS_ENDPOINT, APPS_PAGE_LIMIT, PROFILE_ENDPOINT, WORKSPACE_ENDPOINT
from otel_dify.dify.models import AppMode
from otel_dify.dify.records_client import (
    ADVANCED_CHAT_RUNS_ENDPOINT,
    CHAT_CONVERSATIONS_ENDPOINT,
    CHAT_MESSAGES_ENDPOINT,
    NODE_EXECUTIONS_ENDPOINT,
    WORKFLOW_APP_LOGS_ENDPOINT,
    WORKFLOW_RUN_ENDPOINT,
)
from otel_dify.records.levels import Level

#: Request kinds reported by the benchmark. ``other`` is every endpoint that
#: the benchmark does not know, which the minimum does not cover.
KIND_APP_LIST = "app_list"
KIND_STATISTICS = "statistics"
KIND_RECORDS = "records"
KIND_SESSION = "session"
KIND_OTHER = "other"
KINDS = (KIND_APP_LIST, KIND_STATISTICS, KIND_RECORDS, KIND_SESSION, KIND_OTHER)

SESSION_ENDPOINTS = frozenset({SETUP_ENDPOINT, LOGIN_ENDPOINT, REFRESH_ENDPOINT, PROFILE_ENDPOINT, WORKSPACE_ENDPOINT})
RECORD_ENDPOINTS = frozenset(
    {
        WORKFLOW_APP_LOGS_ENDPOINT,
        ADVANCED_CHAT_RUNS_ENDPOINT,
        WORKFLOW_RUN_ENDPOINT,
        NODE_EXECUTIONS_ENDPOINT,
        CHAT_CONVERSATIONS_ENDPOINT,
        CHAT_MESSAGES_ENDPOINT,
    }
)
STATISTICS_PREFIX = "/console/api/apps/{app_id}/"

#: App modes whose records each record level lists, one list page per app and
#: poll while no new record arrives. The llm_usage level costs one request per
#: run that finished since the previous poll, which the benchmark's simulator,
#: with no new traffic, never has.
RECORD_LIST_MODES: dict[Level, frozenset[str]] = {
    Level.WORKFLOW_RUNS: frozenset({AppMode.WORKFLOW.value, AppMode.ADVANCED_CHAT.value}),
    Level.MESSAGES: frozenset({AppMode.CHAT.value, AppMode.AGENT_CHAT.value, AppMode.ADVANCED_CHAT.value}),
}

#: Requests of the first console login with the default password encoding
#: (auto): the version probe that decides the encoding, the login itself,
#: the account profile and the current workspace.
LOGIN_REQUESTS = 4
#: Requests that renew the timezone and the workspace name: profile and workspace.
PROFILE_REQUESTS = 2
#: Requests of one token refresh.
REFRESH_REQUESTS = 1


def request_kind(endpoint: str) -> str:
    """Return the kind of an endpoint template as the exporter records it."""
    if endpoint == APPS_ENDPOINT:
        return KIND_APP_LIST
    if endpoint in SESSION_ENDPOINTS:
        return KIND_SESSION
    if endpoint in RECORD_ENDPOINTS:
        return KIND_RECORDS
    if endpoint.startswith(STATISTICS_PREFIX) and "statistics/" in endpoint:
        return KIND_STATISTICS
    return KIND_OTHER


def count_by_endpoint(
    before: Mapping[tuple[str, int], int], after: Mapping[tuple[str, int], int]
) -> dict[str, int]:
    """Return the requests made between two ``SelfStats.requests()`` copies, per endpoint template."""
    counts: Counter[str] = Counter()
    for key, total in after.items():
        made = total - before.get(key, 0)
        if made:
            counts[key[0]] += made
    return dict(counts)


def count_by_kind(per_endpoint: Mapping[str, int]) -> dict[str, int]:
    """Return the counts of :func:`count_by_endpoint` summed per kind, every kind present."""
    counts = {kind: 0 for kind in KINDS}
    for endpoint, made in per_endpoint.items():
        counts[request_kind(endpoint)] += made
    return counts


def app_list_pages(apps: int) -> int:
    """Return the pages of ``GET /console/api/apps`` needed to list ``apps`` apps (at least one)."""
    return max(1, math.ceil(apps / APPS_PAGE_LIMIT))


def statistics_requests(apps_by_mode: Mapping[str, int], enabled_metrics: frozenset[str], *, history: bool) -> int:
    """Return the statistics requests of one poll; ``history=True`` adds one history read per total source."""
    requests = 0
    for mode, count in apps_by_mode.items():
        sources = sources_for(mode, enabled_metrics)
        per_app = len(sources)
        if history:
            per_app += sum(1 for source in sources if source.shape is Shape.TOTAL)
        requests += count * per_app
    return requests


def statistics_metric_names() -> frozenset[str]:
    """Return the catalog's metrics that come from statistics requests of at least one app mode."""
    return frozenset(
        spec.name
        for spec in catalog.METRICS
        if any(sources_for(mode.value, frozenset({spec.name})) for mode in AppMode)
    )


def record_requests(apps_by_mode: Mapping[str, int], levels: frozenset[Level]) -> int:
    """Return the record list pages of a poll without new records, for the active record ``levels``."""
    return sum(
        count
        for level in levels
        for mode, count in apps_by_mode.items()
        if mode in RECORD_LIST_MODES.get(level, frozenset())
    )


@dataclass
class SessionSchedule:
    """When a login, token refresh or profile read is due, by the exporter's own rules.

    Times are monotonic seconds. ``token_ttl_s`` is the access-token lifetime
    the server grants; the exporter refreshes ``REFRESH_MARGIN_S`` before it
    ends, and reads the profile again every ``PROFILE_REFRESH_S``.
    """

    token_ttl_s: float
    logged_in_at: float | None = None
    profile_read_at: float | None = None

    def due_requests(self, now: float) -> int:
        """Return the session requests due in a poll that starts at ``now``, and mark them done."""
        if self.logged_in_at is None:
            self.logged_in_at = now
            self.profile_read_at = now
            return LOGIN_REQUESTS

        due = 0
        if now - self.logged_in_at >= self.token_ttl_s - REFRESH_MARGIN_S:
            self.logged_in_at = now
            due += REFRESH_REQUESTS
        assert self.profile_read_at is not None
        if now - self.profile_read_at >= PROFILE_REFRESH_S:
            self.profile_read_at = now
            due += PROFILE_REQUESTS
        return due
