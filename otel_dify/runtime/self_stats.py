"""The exporter's own statistics: requests to Dify, errors, per-workspace health."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspaceHealth:
    """Whether the last poll of a workspace succeeded, and when one last did (Unix seconds).

    ``workspace_id`` is empty while a console login has not yet revealed the
    account's current workspace.
    """

    workspace_id: str
    up: bool
    last_success_unix: float | None
    reason: str | None = None


class SelfStats:
    """Counts requests and errors as they happen, for the ``dify.exporter.*`` metrics.

    The transport calls :meth:`record_request` from the event loop; the
    snapshot builder reads copies. Counts only grow, as counters must.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._errors: Counter[tuple[str, str]] = Counter()
        self._health: dict[str, WorkspaceHealth] = {}

    def record_request(self, endpoint: str, status: int | None, error_type: str | None) -> None:
        """Count one HTTP attempt; ``status`` is None when no response arrived."""
        with self._lock:
            self._requests[(endpoint, status or 0)] += 1

    def record_error(self, workspace_id: str, error_type: str) -> None:
        with self._lock:
            self._errors[(workspace_id, error_type)] += 1

    def record_poll(
        self, key: str, workspace_id: str, *, succeeded: bool, now_unix: float, reason: str | None = None
    ) -> None:
        """Store the outcome of a poll of the workspace collector named ``key``."""
        with self._lock:
            previous = self._health.get(key)
            last_success = now_unix if succeeded else (previous.last_success_unix if previous else None)
            self._health[key] = WorkspaceHealth(workspace_id, succeeded, last_success, reason)

    def requests(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._requests)

    def errors(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._errors)

    def health(self) -> dict[str, WorkspaceHealth]:
        with self._lock:
            return dict(self._health)

    def total_requests(self) -> int:
        with self._lock:
            return sum(self._requests.values())
