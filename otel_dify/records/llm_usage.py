"""Model usage per run: the backlog of finished runs, read a bounded number at a time.

Each poll takes at most ``budget`` runs from the backlog, the oldest first,
and reads their node executions with at most ``concurrency`` requests in
flight. So the requests this level sends per poll never exceed the budget,
and a burst of runs drains over several polls instead of hitting Dify at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Callable, Mapping

from otel_dify.concurrency import gather_bounded
from otel_dify.dify.errors import DifyError, InvalidResponseError, NotFoundError
from otel_dify.dify.records_client import NODE_EXECUTIONS_ENDPOINT, ConsoleRecordsClient
from otel_dify.records.levels import Level
from otel_dify.records.parsing import InvalidRecordError, parse_node_executions
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.state import BacklogItem

logger = logging.getLogger(__name__)

#: Reads of one run that may fail (or find it still running) before the run is given up.
MAX_ATTEMPTS = 5

#: Wait before a run whose nodes were still running is read again, in seconds.
RUNNING_RETRY_DELAY_S = 60

#: Called with the app (None when unknown) and the error of a failed read.
ErrorSink = Callable[[AppContext | None, DifyError], None]


@dataclass(frozen=True)
class DrainSummary:
    """Counts of one drain: runs read, runs put back for a later poll, runs given up."""

    read: int
    requeued: int
    given_up: int


async def drain_backlog(
    recorder: Recorder,
    contexts: Mapping[str, AppContext],
    clients: Mapping[str, ConsoleRecordsClient],
    *,
    budget: int,
    concurrency: int,
    now: int,
    on_error: ErrorSink,
) -> DrainSummary:
    """Read the node executions of up to ``budget`` ready runs and count their usage.

    ``contexts`` maps app ids to the latest known app, ``clients`` maps
    collector keys to the client of that workspace. A run goes back to the
    end of the backlog when its app or client is unknown, its read fails or
    its nodes still run, until :data:`MAX_ATTEMPTS`. A run that no longer
    exists (404) is given up at once. Never raises DifyError.
    """
    backlog = recorder.state.backlog
    items = backlog.take(budget, now)
    outcomes: list[str] = []

    async def handle(item: BacklogItem) -> None:
        context = contexts.get(item.app_id)
        client = clients.get(item.workspace_key)
        if context is None or client is None:
            outcomes.append(_retry_later(recorder, item, now, reason="the app is not listed in this poll"))
            return

        recorder.stats.request(Level.LLM_USAGE)
        try:
            body = await client.node_executions(item.app_id, item.run_id)
            usage = parse_node_executions(body)
        except NotFoundError as error:
            on_error(context, error)
            outcomes.append("given_up")
            return
        except InvalidRecordError as error:
            on_error(
                context,
                InvalidResponseError(str(error), endpoint=NODE_EXECUTIONS_ENDPOINT, app_id=item.app_id, status=200),
            )
            outcomes.append(_retry_later(recorder, item, now, reason="the node executions have an unexpected shape"))
            return
        except DifyError as error:
            on_error(context, error)
            outcomes.append(_retry_later(recorder, item, now, reason=error.error_type))
            return

        if usage.running and item.attempts + 1 < MAX_ATTEMPTS:
            item.ready_at = now + RUNNING_RETRY_DELAY_S
            outcomes.append(_retry_later(recorder, item, now, reason="a node is still running"))
            return

        recorder.count_usage(context, item, usage)
        outcomes.append("read")

    # Each worker sends one request at a time, so the workers bound the requests in flight.
    await gather_bounded((partial(handle, item) for item in items), workers=concurrency)
    return DrainSummary(
        read=outcomes.count("read"), requeued=outcomes.count("requeued"), given_up=outcomes.count("given_up")
    )


def _retry_later(recorder: Recorder, item: BacklogItem, now: int, *, reason: str) -> str:
    item.attempts += 1
    if item.attempts >= MAX_ATTEMPTS:
        logger.warning(
            "gave up reading a run's node executions",
            extra={"app_id": item.app_id, "run_id": item.run_id, "attempts": item.attempts, "reason": reason},
        )
        return "given_up"
    item.ready_at = max(item.ready_at, now)
    recorder.state.backlog.requeue(item)
    return "requeued"
