"""Test doubles shared by the Dify client tests: a driven clock and a recorded sleep."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when a test calls :meth:`advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleep:
    """An ``asyncio.sleep`` stand-in that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
