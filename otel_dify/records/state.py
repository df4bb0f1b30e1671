"""What record-level collection remembers between polls, and its JSON form.

Per app and source a :class:`Cursor` keeps the watermark (``created_at`` of
the newest record read, Unix seconds), a bounded set of the ids counted inside
the overlap window, and the records that were seen before they finished. The
:class:`Backlog` contains finished runs whose node executions are still to be
read. :class:`RecordTotals` holds every record counter. :meth:`RecordState.to_json`
and :meth:`RecordState.from_json` convert all of it for the state file.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator, Mapping

from otel_dify.records.models import RunRecord

#: Version of the JSON layout. A file with another version is treated as unreadable.
STATE_FORMAT_VERSION = 1

#: Default bound of the counted ids kept per app and source.
DEFAULT_SEEN_BOUND = 20_000

AttributeItems = tuple[tuple[str, str], ...]
TotalKey = tuple[str, str, AttributeItems]


class StateFormatError(ValueError):
    """The state JSON does not have the layout this version writes."""


class SeenIds:
    """Ids of counted records with their ``created_at``, oldest insertion first, at most ``bound`` of them.

    Records older than the overlap window are never read again, so
    :meth:`prune_older_than` drops them. The bound matters only when more
    than ``bound`` records fall inside one window. Then the oldest ids go first
    and a record re-read after that would be counted twice.
    """

    def __init__(self, bound: int = DEFAULT_SEEN_BOUND) -> None:
        if bound < 1:
            raise ValueError(f"bound must be at least 1, got {bound}")
        self._bound = bound
        self._ids: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, record_id: str, created_at: int) -> None:
        self._ids[record_id] = created_at
        self._ids.move_to_end(record_id)
        while len(self._ids) > self._bound:
            self._ids.popitem(last=False)

    def prune_older_than(self, cutoff: int) -> None:
        """Forget ids whose record was created before ``cutoff`` (Unix seconds)."""
        for record_id in [record_id for record_id, created_at in self._ids.items() if created_at < cutoff]:
            del self._ids[record_id]

    def to_json(self) -> list[list[Any]]:
        return [[record_id, created_at] for record_id, created_at in self._ids.items()]

    @classmethod
    def from_json(cls, value: Any, bound: int) -> "SeenIds":
        seen = cls(bound)
        for entry in _list(value, "seen"):
            pair = _list(entry, "seen entry")
            if len(pair) != 2:
                raise StateFormatError("a seen entry is not [id, created_at]")
            seen.add(_str(pair[0], "seen id"), _int(pair[1], "seen created_at"))
        return seen


@dataclass
class PendingRun:
    """A run seen before it finished. ``first_seen`` is the wall time (Unix seconds) it was first read."""

    run: RunRecord
    first_seen: int
    rechecks: int = 0


@dataclass
class PendingMessage:
    """A message read while its answer was still being generated, with its conversation's end user."""

    conversation_id: str
    created_at: int
    end_user: str | None = None


@dataclass
class Segment:
    """A stretch of a cursor list still to read: the runs older than ``last_id`` and not older than ``stop_before``."""

    last_id: str
    stop_before: int


@dataclass
class Cursor:
    """The reading position of one source of one app."""

    watermark: int
    seen: SeenIds
    pending_runs: dict[str, PendingRun] = field(default_factory=dict)
    pending_messages: dict[str, PendingMessage] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    #: Conversation id -> the ``updated_at`` at which its messages were last read completely.
    conversations: dict[str, int] = field(default_factory=dict)


@dataclass
class BacklogItem:
    """A finished run whose node executions are to be read.

    ``run_tokens`` is the run's total for the usage cross-check, None when
    unknown. The item is not read before ``ready_at`` (Unix seconds).
    ``workspace_key`` names the collector whose client reads it.
    """

    workspace_key: str
    app_id: str
    run_id: str
    run_tokens: int | None
    ready_at: int
    attempts: int = 0


class Backlog:
    """A FIFO of :class:`BacklogItem` with at most ``bound`` items.

    :meth:`push` refuses an item when the backlog is full, and the caller
    counts it as dropped; nothing is dropped below the bound.
    """

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError(f"bound must be at least 1, got {bound}")
        self.bound = bound
        self._items: deque[BacklogItem] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[BacklogItem]:
        return iter(self._items)

    def push(self, item: BacklogItem) -> bool:
        """Append ``item``; return False, without appending, when the backlog is full."""
        if len(self._items) >= self.bound:
            return False
        self._items.append(item)
        return True

    def take(self, count: int, now: int) -> list[BacklogItem]:
        """Remove and return up to ``count`` items that are ready at ``now``, oldest first."""
        taken: list[BacklogItem] = []
        waiting: deque[BacklogItem] = deque()
        while self._items and len(taken) < count:
            item = self._items.popleft()
            if item.ready_at <= now:
                taken.append(item)
            else:
                waiting.append(item)
        # Items not yet ready keep their place at the front.
        self._items.extendleft(reversed(waiting))
        return taken

    def requeue(self, item: BacklogItem) -> None:
        """Put a taken item back at the end. A requeued item may exceed the bound by the items in flight."""
        self._items.append(item)

    def discard_workspace(self, workspace_key: str) -> int:
        """Remove the items of a collector that no longer exists; return how many."""
        kept = deque(item for item in self._items if item.workspace_key != workspace_key)
        removed = len(self._items) - len(kept)
        self._items = kept
        return removed


class RecordTotals:
    """Absolute totals of the record counters, keyed by metric, app id and extra attributes.

    Keys keep their first insertion order, which the series cap relies on:
    the oldest series keep their own points and only newer ones fold into
    the overflow series. Values only grow.
    """

    def __init__(self) -> None:
        self._values: OrderedDict[TotalKey, Decimal] = OrderedDict()

    def add(self, metric: str, app_id: str, attributes: Mapping[str, str], amount: Decimal | int) -> None:
        """Add ``amount`` (not negative) to the series; a zero amount still creates the series."""
        value = Decimal(amount)
        if value < 0:
            raise ValueError(f"a counter cannot decrease: {metric} got {value}")
        key = (metric, app_id, tuple(sorted(attributes.items())))
        self._values[key] = self._values.get(key, Decimal(0)) + value

    def get(self, metric: str, app_id: str, attributes: Mapping[str, str] | None = None) -> Decimal | None:
        return self._values.get((metric, app_id, tuple(sorted((attributes or {}).items()))))

    def items(self) -> Iterator[tuple[TotalKey, Decimal]]:
        return iter(self._values.items())

    def sum(self, metric: str, app_id: str | None = None, **attributes: str) -> Decimal:
        """Return the sum over the series of ``metric`` (of one app) whose attributes include ``attributes``."""
        total = Decimal(0)
        for (name, key_app, items), value in self._values.items():
            if name != metric or (app_id is not None and key_app != app_id):
                continue
            present = dict(items)
            if all(present.get(key) == wanted for key, wanted in attributes.items()):
                total += value
        return total

    def to_json(self) -> list[list[Any]]:
        return [[metric, app_id, dict(items), str(value)] for (metric, app_id, items), value in self._values.items()]

    @classmethod
    def from_json(cls, value: Any) -> "RecordTotals":
        totals = cls()
        for entry in _list(value, "totals"):
            row = _list(entry, "totals entry")
            if len(row) != 4:
                raise StateFormatError("a totals entry is not [metric, app_id, attributes, value]")
            attributes = _dict(row[2], "totals attributes")
            try:
                amount = Decimal(_str(row[3], "totals value"))
            except InvalidOperation:
                raise StateFormatError("a totals value is not a decimal") from None
            if not amount.is_finite() or amount < 0:
                raise StateFormatError("a totals value is negative or not finite")
            totals.add(
                _str(row[0], "metric"),
                _str(row[1], "app_id"),
                {_str(key, "attribute"): _str(item, "attribute value") for key, item in attributes.items()},
                amount,
            )
        return totals


@dataclass
class EndUserTable:
    """The end users of one app: token totals of the candidates and the users with their own series."""

    promoted: list[str] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)


@dataclass
class RecordState:
    """Everything record-level collection keeps between polls and, with a state directory, across restarts.

    ``started_at`` (Unix seconds) is when counting began: records created
    before it are never counted. It is set by the first poll and kept in the
    state file. Cursors of apps that are no longer listed are kept, because
    they are small (the seen ids cover one overlap window) and an app that
    comes back must not be read again from :attr:`started_at`.
    """

    seen_bound: int = DEFAULT_SEEN_BOUND
    backlog_bound: int = 10_000
    started_at: int | None = None
    cursors: dict[str, Cursor] = field(default_factory=dict)
    backlog: Backlog = field(init=False)
    totals: RecordTotals = field(default_factory=RecordTotals)
    end_users: dict[str, EndUserTable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backlog = Backlog(self.backlog_bound)

    def cursor(self, app_id: str, source: str) -> Cursor:
        """Return the cursor of ``source`` of ``app_id``, creating it at :attr:`started_at`.

        Raises RuntimeError before the first poll has set :attr:`started_at`.
        """
        key = f"{app_id}/{source}"
        cursor = self.cursors.get(key)
        if cursor is None:
            if self.started_at is None:
                raise RuntimeError("RecordState.started_at must be set before cursors are created")
            cursor = Cursor(watermark=self.started_at, seen=SeenIds(self.seen_bound))
            self.cursors[key] = cursor
        return cursor

    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-ready objects that share nothing with the live state."""
        return {
            "version": STATE_FORMAT_VERSION,
            "started_at": self.started_at,
            "cursors": {key: _cursor_to_json(cursor) for key, cursor in self.cursors.items()},
            "backlog": [_backlog_item_to_json(item) for item in self.backlog],
            "totals": self.totals.to_json(),
            "end_users": {
                app_id: {"promoted": list(table.promoted), "tokens": dict(table.tokens)}
                for app_id, table in self.end_users.items()
            },
        }

    @classmethod
    def from_json(
        cls, value: Any, *, seen_bound: int = DEFAULT_SEEN_BOUND, backlog_bound: int = 10_000
    ) -> "RecordState":
        """Rebuild a state from :meth:`to_json` output.

        The backlog keeps at most ``backlog_bound`` items, the oldest ones, if
        the bound shrank since the file was written. Raises StateFormatError
        for anything this version did not write.
        """
        document = _dict(value, "state")
        if document.get("version") != STATE_FORMAT_VERSION:
            raise StateFormatError(f"state version {document.get('version')!r} is not {STATE_FORMAT_VERSION}")

        started_at = document.get("started_at")
        state = cls(
            seen_bound=seen_bound,
            backlog_bound=backlog_bound,
            started_at=None if started_at is None else _int(started_at, "started_at"),
        )
        state.cursors = {
            _str(key, "cursor key"): _cursor_from_json(item, seen_bound)
            for key, item in _dict(document.get("cursors", {}), "cursors").items()
        }
        for item in _list(document.get("backlog", []), "backlog"):
            state.backlog.push(_backlog_item_from_json(item))
        state.totals = RecordTotals.from_json(document.get("totals", []))
        for app_id, table in _dict(document.get("end_users", {}), "end_users").items():
            table_object = _dict(table, "end user table")
            state.end_users[_str(app_id, "app id")] = EndUserTable(
                promoted=[_str(user, "promoted user") for user in _list(table_object.get("promoted", []), "promoted")],
                tokens={
                    _str(user, "end user"): _int(count, "end user tokens")
                    for user, count in _dict(table_object.get("tokens", {}), "tokens").items()
                },
            )
        return state


def _run_to_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "created_at": run.created_at,
        "status": run.status,
        "elapsed_s": run.elapsed_s,
        "total_tokens": run.total_tokens,
        "created_from": run.created_from,
        "end_user": run.end_user,
    }


def _run_from_json(value: Any) -> RunRecord:
    run = _dict(value, "pending run")
    elapsed = run.get("elapsed_s")
    tokens = run.get("total_tokens")
    return RunRecord(
        id=_str(run.get("id"), "run id"),
        created_at=_int(run.get("created_at"), "run created_at"),
        status=_str(run.get("status"), "run status"),
        elapsed_s=None if elapsed is None else _float(elapsed, "run elapsed_s"),
        total_tokens=None if tokens is None else _int(tokens, "run total_tokens"),
        created_from=_optional_str(run.get("created_from"), "run created_from"),
        end_user=_optional_str(run.get("end_user"), "run end_user"),
    )


def _cursor_to_json(cursor: Cursor) -> dict[str, Any]:
    return {
        "watermark": cursor.watermark,
        "seen": cursor.seen.to_json(),
        "pending_runs": [
            {"run": _run_to_json(pending.run), "first_seen": pending.first_seen, "rechecks": pending.rechecks}
            for pending in cursor.pending_runs.values()
        ],
        "pending_messages": {
            message_id: {
                "conversation_id": pending.conversation_id,
                "created_at": pending.created_at,
                "end_user": pending.end_user,
            }
            for message_id, pending in cursor.pending_messages.items()
        },
        "segments": [{"last_id": segment.last_id, "stop_before": segment.stop_before} for segment in cursor.segments],
        "conversations": dict(cursor.conversations),
    }


def _cursor_from_json(value: Any, seen_bound: int) -> Cursor:
    document = _dict(value, "cursor")
    cursor = Cursor(
        watermark=_int(document.get("watermark"), "watermark"),
        seen=SeenIds.from_json(document.get("seen", []), seen_bound),
    )
    for item in _list(document.get("pending_runs", []), "pending_runs"):
        pending = _dict(item, "pending run entry")
        run = _run_from_json(pending.get("run"))
        cursor.pending_runs[run.id] = PendingRun(
            run=run,
            first_seen=_int(pending.get("first_seen"), "first_seen"),
            rechecks=_int(pending.get("rechecks", 0), "rechecks"),
        )
    for message_id, item in _dict(document.get("pending_messages", {}), "pending_messages").items():
        pending = _dict(item, "pending message")
        cursor.pending_messages[_str(message_id, "message id")] = PendingMessage(
            conversation_id=_str(pending.get("conversation_id"), "conversation_id"),
            created_at=_int(pending.get("created_at"), "message created_at"),
            end_user=_optional_str(pending.get("end_user"), "message end_user"),
        )
    cursor.conversations = {
        _str(conversation_id, "conversation id"): _int(updated_at, "conversation updated_at")
        for conversation_id, updated_at in _dict(document.get("conversations", {}), "conversations").items()
    }
    for item in _list(document.get("segments", []), "segments"):
        segment = _dict(item, "segment")
        cursor.segments.append(
            Segment(
                last_id=_str(segment.get("last_id"), "last_id"),
                stop_before=_int(segment.get("stop_before"), "stop_before"),
            )
        )
    return cursor


def _backlog_item_to_json(item: BacklogItem) -> dict[str, Any]:
    return {
        "workspace_key": item.workspace_key,
        "app_id": item.app_id,
        "run_id": item.run_id,
        "run_tokens": item.run_tokens,
        "ready_at": item.ready_at,
        "attempts": item.attempts,
    }


def _backlog_item_from_json(value: Any) -> BacklogItem:
    item = _dict(value, "backlog item")
    tokens = item.get("run_tokens")
    return BacklogItem(
        workspace_key=_str(item.get("workspace_key"), "workspace_key"),
        app_id=_str(item.get("app_id"), "backlog app_id"),
        run_id=_str(item.get("run_id"), "backlog run_id"),
        run_tokens=None if tokens is None else _int(tokens, "run_tokens"),
        ready_at=_int(item.get("ready_at"), "ready_at"),
        attempts=_int(item.get("attempts", 0), "attempts"),
    )


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StateFormatError(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise StateFormatError(f"{what} is not a list")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise StateFormatError(f"{what} is not a string")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateFormatError(f"{what} is not an integer")
    return value


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StateFormatError(f"{what} is not a number")
    return float(value)
