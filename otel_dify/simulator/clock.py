"""A controllable UTC clock shared by the simulator's data, tokens and lockouts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

logger = logging.getLogger(__name__)


class SimClock:
    """UTC wall clock that tests move by hand.

    A clock made with ``SimClock(start)`` is stopped: only ``advance`` and
    ``set`` move it. ``SimClock.system()`` follows the machine's real time,
    and there ``advance`` and ``set`` add a fixed offset from then on.
    """

    def __init__(self, start: datetime) -> None:
        self._check_aware(start)
        self._fixed: datetime | None = start.astimezone(timezone.utc)
        self._offset = timedelta(0)

    @classmethod
    def system(cls) -> SimClock:
        """Return a clock that follows the real time (used by ``otel-dify demo``)."""
        clock = cls(datetime.now(timezone.utc))
        clock._fixed = None
        return clock

    @property
    def follows_system_time(self) -> bool:
        """True for a clock made by ``system()``."""
        return self._fixed is None

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        if self._fixed is None:
            return datetime.now(timezone.utc) + self._offset
        return self._fixed

    def timestamp(self) -> float:
        """Return the current instant in Unix seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative values move it back)."""
        step = timedelta(seconds=seconds)
        if self._fixed is None:
            self._offset += step
        else:
            self._fixed += step
        logger.debug("simulator clock advanced", extra={"seconds": seconds})

    def set(self, when: datetime) -> None:
        """Jump to the aware datetime ``when``."""
        self._check_aware(when)
        target = when.astimezone(timezone.utc)
        if self._fixed is None:
            self._offset = target - datetime.now(timezone.utc)
        else:
            self._fixed = target

    @staticmethod
    def _check_aware(value: datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"SimClock needs an aware datetime, got naive {value.isoformat()}")
