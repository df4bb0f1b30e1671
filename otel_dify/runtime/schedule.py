"""Fixed-rate poll schedule."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Awaitable, Callable, TypeVar

logger = logging.getLogger(__name__)

Summary = TypeVar("Summary")


class Scheduler:
    """Runs a poll at a fixed rate until a stop event is set.

    Ticks are ``start + k × interval``, so durations of polls do not add up to
    drift. A poll that runs past one or more ticks makes the schedule skip
    them (polls never overlap) and logs how many were skipped. A stop request
    never interrupts a poll in flight: :meth:`run` returns after it finishes,
    and the caller bounds that wait with its shutdown timeout.
    """

    def __init__(
        self,
        poll: Callable[[], Awaitable[Summary]],
        *,
        interval_s: float,
        initial_delay_s: float = 0.0,
        after_poll: Callable[[Summary], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        wait: Callable[[asyncio.Event, float], Awaitable[bool]] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"poll interval must be positive, got {interval_s}")
        self._poll = poll
        self._interval_s = interval_s
        self._initial_delay_s = max(0.0, initial_delay_s)
        self._after_poll = after_poll
        self._clock = clock
        self._wait = wait or _wait_until
        self.polls_started = 0
        self.ticks_skipped = 0
        self.poll_started_at: float | None = None

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def run(self, stop: asyncio.Event) -> None:
        next_tick = self._now() + self._initial_delay_s

        while not stop.is_set():
            if await self._wait(stop, next_tick - self._now()):
                break

            self.poll_started_at = self._now()
            self.polls_started += 1
            try:
                summary = await self._poll()
                if self._after_poll is not None:
                    await self._after_poll(summary)
            finally:
                self.poll_started_at = None

            next_tick += self._interval_s
            late_s = self._now() - next_tick
            if late_s >= 0:
                skipped = math.floor(late_s / self._interval_s) + 1
                self.ticks_skipped += skipped
                next_tick += skipped * self._interval_s
                logger.warning(
                    "poll overran the interval; skipping the next ticks",
                    extra={"ticks_skipped": skipped, "interval_s": self._interval_s, "late_s": round(late_s, 3)},
                )


async def _wait_until(stop: asyncio.Event, delay_s: float) -> bool:
    """Wait ``delay_s`` seconds or until ``stop`` is set; return True when stopped."""
    if delay_s <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    except asyncio.TimeoutError:
        return False
    return True
