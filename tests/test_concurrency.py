"""gather_bounded: order of results, the worker bound, lazy jobs, failures and cancellation."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterator

import pytest

from otel_dify.concurrency import gather_bounded, pool_size


class Gate:
    """Jobs that wait until the test releases them, recording which ones were taken, are running or were cancelled."""

    def __init__(self) -> None:
        self.taken: list[int] = []
        self.running: set[int] = set()
        self.max_running = 0
        self.cancelled: list[int] = []
        self.events: dict[int, asyncio.Event] = {}

    def job(self, number: int) -> Callable[[], Awaitable[int]]:
        def start() -> Awaitable[int]:
            self.taken.append(number)
            return self._run(number)

        return start

    async def _run(self, number: int) -> int:
        self.running.add(number)
        self.max_running = max(self.max_running, len(self.running))
        try:
            await self._event(number).wait()
        except asyncio.CancelledError:
            self.cancelled.append(number)
            raise
        finally:
            self.running.discard(number)
        return number * 10

    def release(self, number: int) -> None:
        self._event(number).set()

    def _event(self, number: int) -> asyncio.Event:
        return self.events.setdefault(number, asyncio.Event())


async def settle() -> None:
    """Let every ready task run until it waits again."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_gather_results_in_job_order() -> None:
    gate = Gate()
    jobs = [gate.job(number) for number in range(6)]
    running = asyncio.create_task(gather_bounded(jobs, workers=3))
    await settle()

    # Finish them in reverse order of their start.
    for number in reversed(gate.taken):
        gate.release(number)
    await settle()
    for number in range(6):
        gate.release(number)

    assert await running == [0, 10, 20, 30, 40, 50]


async def test_gather_bounds_running_jobs() -> None:
    gate = Gate()
    running = asyncio.create_task(gather_bounded([gate.job(number) for number in range(10)], workers=3))
    await settle()

    assert gate.running == {0, 1, 2}

    gate.release(1)
    await settle()

    assert gate.running == {0, 2, 3}

    for number in range(10):
        gate.release(number)
    await running

    assert gate.max_running == 3


async def test_gather_takes_jobs_lazily() -> None:
    gate = Gate()
    produced: list[int] = []

    def jobs() -> Iterator[Callable[[], Awaitable[int]]]:
        for number in range(5):
            produced.append(number)
            yield gate.job(number)

    running = asyncio.create_task(gather_bounded(jobs(), workers=2))
    await settle()

    assert produced == [0, 1]
    assert gate.taken == [0, 1]

    gate.release(0)
    await settle()

    assert produced == [0, 1, 2]

    for number in range(5):
        gate.release(number)
    assert await running == [0, 10, 20, 30, 40]


async def test_gather_empty_jobs() -> None:
    assert await gather_bounded([], workers=4) == []


async def test_gather_more_workers_than_jobs() -> None:
    async def value() -> str:
        return "done"

    assert await gather_bounded([value], workers=8) == ["done"]


async def test_gather_failure_cancels_others() -> None:
    gate = Gate()

    async def fail() -> int:
        raise KeyError("broken job")

    jobs = [gate.job(0), gate.job(1), fail, gate.job(3)]
    running = asyncio.create_task(gather_bounded(jobs, workers=3))

    with pytest.raises(KeyError, match="broken job"):
        await running

    assert sorted(gate.cancelled) == [0, 1]
    assert gate.running == set()
    assert 3 not in gate.taken


async def test_gather_failure_in_iterable() -> None:
    def jobs() -> Iterator[Callable[[], Awaitable[int]]]:
        yield lambda: asyncio.sleep(0, result=1)
        raise RuntimeError("cannot build the next job")

    with pytest.raises(RuntimeError, match="cannot build the next job"):
        await gather_bounded(jobs(), workers=2)


async def test_gather_cancel_stops_workers() -> None:
    gate = Gate()
    running = asyncio.create_task(gather_bounded([gate.job(number) for number in range(5)], workers=2))
    await settle()
    running.cancel()

    with pytest.raises(asyncio.CancelledError):
        await running

    assert sorted(gate.cancelled) == [0, 1]
    assert gate.running == set()
    assert gate.taken == [0, 1]


async def test_gather_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        await gather_bounded([], workers=0)


def test_pool_size_twice_the_slots() -> None:
    assert pool_size(1) == 2
    assert pool_size(4) == 8


def test_pool_size_rejects_zero() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        pool_size(0)
