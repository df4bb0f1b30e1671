"""Run many request jobs through a fixed number of worker coroutines.

A poll of 1,000 apps makes about 5,800 statistics requests, but the transport
lets only ``OTEL_DIFY_MAX_CONCURRENCY`` of them run at once. Creating one
coroutine per request up front keeps all of their frames and arguments in
memory at the same time, and the process keeps that memory after the poll.
:func:`gather_bounded` instead creates each job's coroutine only when a
worker is free to run it.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable, TypeVar

T = TypeVar("T")

#: A job: called with no arguments when a worker takes it, returns what to await.
Job = Callable[[], Awaitable[T]]


def pool_size(max_concurrency: int) -> int:
    """Return the number of workers for jobs whose requests share ``max_concurrency`` transport slots.

    The result is twice the slots. A worker holds no slot while its job
    parses a response, stores figures, waits for a login that another job
    started, or sleeps in a retry back-off (the transport releases its slot
    during back-off). The extra workers keep the slots busy meanwhile, so a
    poll takes as long as with one coroutine per request.

    Raises:
        ValueError: ``max_concurrency`` is less than 1.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    return 2 * max_concurrency


async def gather_bounded(jobs: Iterable[Job[T]], *, workers: int) -> list[T]:
    """Run ``jobs`` with at most ``workers`` of them at a time and return their results in job order.

    Workers take jobs from ``jobs`` in iteration order, and each job is called
    only when a worker takes it, so a generator of jobs is consumed lazily and
    never held in full. A job that starts earlier may finish later: only the
    returned list is in job order.

    When a job raises (or the iterable raises while producing one), the
    workers that are still running are cancelled and awaited, no further job
    starts, and that first exception propagates unchanged. When the caller is
    cancelled, every worker is cancelled and awaited before CancelledError
    propagates, so no job runs on after this call has ended.

    Raises:
        ValueError: ``workers`` is less than 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    # One iterator shared by all workers: next() runs synchronously on the
    # event loop, so two workers never take the same job.
    numbered = enumerate(jobs)
    results: dict[int, T] = {}

    async def work() -> None:
        for index, job in numbered:
            results[index] = await job()

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        # Wait for the cancelled workers, so that none is still sending a
        # request when the caller handles the error. Their own errors are
        # retrieved here and dropped, because the first one propagates.
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

    return [results[index] for index in range(len(results))]
