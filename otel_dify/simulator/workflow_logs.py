"""Workflow app logs: which runs ``workflow-app-logs`` and ``/v1/workflows/logs`` list.

Dify writes a ``workflow_app_logs`` row only for ``app-run`` runs of
workflow apps, so debugging runs and advanced-chat runs never appear. The
list is ordered by ``created_at``, newest first, and paged by page number.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from otel_dify.simulator.records import App, AppRecords, EndUser, WorkflowRun
from otel_dify.simulator.record_text import run_inputs, run_outputs

T = TypeVar("T")
#: Dify matches only the first 30 characters of the keyword.
KEYWORD_MAX_CHARS = 30


@dataclass(frozen=True)
class AppLogFilter:
    """Filters of the app-log lists; None means no filter.

    ``created_after`` and ``created_before`` are aware UTC and inclusive.
    ``account_email`` is the e-mail of the account that ran the app.
    """

    status: str | None = None
    keyword: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    end_user_session_id: str | None = None
    account_email: str | None = None


def logged_runs(
    app: App,
    records: AppRecords,
    *,
    now: datetime,
    log_filter: AppLogFilter,
    account_id_of: Callable[[str], str | None],
    end_user_of: Callable[[str], EndUser | None],
) -> list[WorkflowRun]:
    """Return the app's runs with an app log that match ``log_filter``, newest first.

    Only runs created at or before ``now`` exist for clients.
    ``account_id_of`` maps an e-mail to an account id and ``end_user_of`` an
    end-user id to the end user.
    """
    account_id: str | None = None
    if log_filter.account_email:
        # NOTE: an unknown e-mail gives an empty list here. Dify's response to it was not observed.
        account_id = account_id_of(log_filter.account_email)
        if account_id is None:
            return []

    matches: list[WorkflowRun] = []
    for run in records.workflow_runs:
        if run.created_at > now:
            break
        if run.log_id is None or not _matches(app, run, log_filter, account_id, end_user_of):
            continue
        matches.append(run)

    matches.sort(key=lambda run: (run.created_at, run.log_id or ""), reverse=True)
    return matches


def _matches(
    app: App,
    run: WorkflowRun,
    log_filter: AppLogFilter,
    account_id: str | None,
    end_user_of: Callable[[str], EndUser | None],
) -> bool:
    if log_filter.status is not None and run.status != log_filter.status:
        return False
    if log_filter.created_after is not None and run.created_at < log_filter.created_after:
        return False
    if log_filter.created_before is not None and run.created_at > log_filter.created_before:
        return False
    if account_id is not None and (run.created_by_role != "account" or run.created_by != account_id):
        return False

    end_user = end_user_of(run.created_by) if run.created_by_role == "end_user" else None
    if log_filter.end_user_session_id is not None:
        if end_user is None or end_user.session_id != log_filter.end_user_session_id:
            return False
    if log_filter.keyword:
        return _keyword_matches(app, run, log_filter.keyword, end_user)
    return True


def _keyword_matches(app: App, run: WorkflowRun, keyword: str, end_user: EndUser | None) -> bool:
    """Match Dify's keyword search: inputs, outputs, the end user's session id, or the run id itself.

    Dify escapes the keyword with ``unicode_escape`` and compares it, case
    insensitively, with the stored JSON text, whose non-ASCII characters are
    ``\\uXXXX`` escapes.
    """
    needle = keyword[:KEYWORD_MAX_CHARS].encode("unicode_escape").decode("ascii").lower()
    haystacks = [json.dumps(run_inputs(app, run)).lower(), json.dumps(run_outputs(app, run)).lower()]
    if end_user is not None:
        haystacks.append(end_user.session_id.lower())
    if any(needle in haystack for haystack in haystacks):
        return True
    try:
        return str(uuid.UUID(keyword)) == run.id
    except ValueError:
        return False


def paginate(items: Sequence[T], page: int, limit: int) -> tuple[list[T], int, bool]:
    """Return page ``page`` (from 1) of ``items``, the total and ``has_more`` (total > page * limit)."""
    offset = (page - 1) * limit
    total = len(items)
    return list(items[offset : offset + limit]), total, total > page * limit
