"""Ground truth for tests: totals computed straight from the records.

These numbers do not go through the statistics code, so a test can check
that the statistics endpoints (and a client summing their daily rows) add
up to what the records hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from otel_dify.simulator.records import APP_RUN, DEBUGGER, App, AppRecords


@dataclass(frozen=True)
class GroundTruth:
    """Totals of one app over all records up to the simulator clock's ``now``.

    ``messages``, ``tokens`` and ``cost`` leave out debugger messages when the
    version profile's statistics do (Dify 1.9.0+). ``cost`` maps a currency
    code to the sum of ``total_price``. ``workflow_runs`` and
    ``workflow_tokens`` count only ``app-run`` runs, as the workflow
    statistics do. The ``*_active`` fields cover ``day``, the current local
    date in ``timezone``.
    """

    app_id: str
    messages: int
    tokens: int
    cost: dict[str, Decimal]
    workflow_runs: int
    workflow_tokens: int
    timezone: str
    day: date
    conversations_active: int
    end_users_active: int
    workflow_end_users_active: int


def compute_ground_truth(
    app: App, records: AppRecords, *, now: datetime, zone_name: str, exclude_debugger: bool
) -> GroundTruth:
    """Sum the app's records created at or before ``now``."""
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()

    messages = 0
    tokens = 0
    cost: dict[str, Decimal] = {}
    conversations_today: set[str] = set()
    end_users_today: set[str] = set()
    for message in records.messages:
        if message.created_at > now:
            break
        if exclude_debugger and message.invoke_from == DEBUGGER:
            continue
        messages += 1
        tokens += message.message_tokens + message.answer_tokens
        if message.total_price is not None:
            cost[message.currency] = cost.get(message.currency, Decimal(0)) + message.total_price
        if message.created_at.astimezone(zone).date() == today:
            conversations_today.add(message.conversation_id)
            if message.from_end_user_id is not None:
                end_users_today.add(message.from_end_user_id)

    runs = 0
    run_tokens = 0
    run_users_today: set[str] = set()
    for run in records.workflow_runs:
        if run.created_at > now:
            break
        if run.triggered_from != APP_RUN:
            continue
        runs += 1
        run_tokens += run.total_tokens
        if run.created_at.astimezone(zone).date() == today:
            run_users_today.add(run.created_by)

    return GroundTruth(
        app_id=app.id,
        messages=messages,
        tokens=tokens,
        cost=cost,
        workflow_runs=runs,
        workflow_tokens=run_tokens,
        timezone=zone_name,
        day=today,
        conversations_active=len(conversations_today),
        end_users_active=len(end_users_today),
        workflow_end_users_active=len(run_users_today),
    )
