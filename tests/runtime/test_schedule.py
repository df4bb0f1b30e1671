import asyncio

from otel_dify.runtime.schedule import Scheduler


class FakeClock:
    """A clock that moves only when a poll takes time or the scheduler waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def wait(self, stop: asyncio.Event, delay_s: float) -> bool:
        self.now += max(0.0, delay_s)
        return stop.is_set()


async def test_ticks_do_not_drift():
    clock = FakeClock()
    started: list[float] = []
    stop = asyncio.Event()

    async def poll():
        started.append(clock.now)
        clock.now += 4  # each poll takes 40 % of the interval
        if len(started) == 4:
            stop.set()

    scheduler = Scheduler(poll, interval_s=10, clock=clock, wait=clock.wait)
    await scheduler.run(stop)

    assert started == [1000.0, 1010.0, 1020.0, 1030.0]
    assert scheduler.ticks_skipped == 0


async def test_overrun_skips_ticks():
    clock = FakeClock()
    started: list[float] = []
    stop = asyncio.Event()

    async def poll():
        started.append(clock.now)
        clock.now += 26  # two and a half intervals
        if len(started) == 2:
            stop.set()

    scheduler = Scheduler(poll, interval_s=10, clock=clock, wait=clock.wait)
    await scheduler.run(stop)

    # The first poll ends at 1026, past the ticks at 1010 and 1020; the next starts at 1030.
    assert started == [1000.0, 1030.0]
    assert scheduler.ticks_skipped == 4


async def test_initial_delay_moves_first_tick():
    clock = FakeClock()
    started: list[float] = []
    stop = asyncio.Event()

    async def poll():
        started.append(clock.now)
        stop.set()

    await Scheduler(poll, interval_s=10, initial_delay_s=5, clock=clock, wait=clock.wait).run(stop)
    assert started == [1005.0]


async def test_stop_waits_for_poll_in_flight():
    stop = asyncio.Event()
    finished = asyncio.Event()

    async def poll():
        stop.set()
        await asyncio.sleep(0.01)
        finished.set()

    await Scheduler(poll, interval_s=10).run(stop)
    assert finished.is_set()


async def test_stop_during_initial_delay():
    stop = asyncio.Event()
    polls = 0

    async def poll():
        nonlocal polls
        polls += 1

    task = asyncio.create_task(Scheduler(poll, interval_s=1, initial_delay_s=30).run(stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert polls == 0
