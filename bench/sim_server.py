"""Serve the Dify simulator with an added server latency, for the benchmarks.

``python -m bench.sim_server --apps 100 --latency-ms 10`` generates a data set
with ``apps / 5`` apps of each of the five app modes, serves the 1.15 profile
on 127.0.0.1 and prints one JSON line on stdout when it is ready::

    {"base_url": "http://127.0.0.1:40123", "apps": 100, "latency_ms": 10.0, "cache": true, "token_ttl_s": 3600}

It then serves until SIGINT or SIGTERM. The benchmark runs it in its own
process so that the exporter's CPU figures do not include the simulator's
work, and serves repeated statistics requests from a cache unless
``--no-cache`` is given (see :class:`StatisticsCache`). The control routes
of ``bench/control.py`` add workflow runs and report the server's own
time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from typing import Awaitable, Callable

from aiohttp import web

from otel_dify.simulator import Dataset, DifySimulator, SimClock

from bench.control import CONTROL_PREFIX, ServerTime, register_control_routes
from bench.sizes import apps_per_mode
from bench.traffic import RunTraffic

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LatencyMiddleware:
    """An aiohttp middleware that waits ``latency_s`` seconds before each request's handler and times the handler.

    The wait is an ``asyncio.sleep``, so concurrent requests wait in
    parallel, as on a server with enough workers. ``latency_s`` 0 adds no
    wait. The handler time of a request is the wall time from the start of
    the inner handlers (the statistics cache and the simulator) to their
    response, on ``clock`` (seconds). :meth:`totals` sums it over the
    requests served. Paths under ``CONTROL_PREFIX`` are neither delayed nor
    timed. Tests pass their own ``sleep`` and ``clock``.

    NOTE: the handler time leaves out the work aiohttp does outside the
    handlers (parsing the request, writing the response), and a handler
    that awaits also counts the time other requests run meanwhile. The
    simulator's handlers await nothing but a JSON request body, which only
    the login, token refresh and timezone requests read.
    """

    def __init__(
        self,
        latency_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.latency_s = latency_s
        self._sleep = sleep
        self._clock = clock
        self._requests = 0
        self._handler_s = 0.0

    def totals(self) -> ServerTime:
        """Return the requests timed so far, their handler seconds in all, and this process's CPU seconds."""
        return ServerTime(requests=self._requests, handler_s=self._handler_s, cpu_s=time.process_time())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)

        if self.latency_s > 0:
            await self._sleep(self.latency_s)
        started = self._clock()
        try:
            return await handler(request)
        finally:
            self._handler_s += self._clock() - started
            self._requests += 1


class StatisticsCache:
    """An aiohttp middleware that serves repeated statistics requests from memory.

    The benchmark measures the exporter, and the added latency models the
    server's time. Without the cache, the simulator would compute every
    statistics response from its records in its one process on the same
    machine, and that CPU time would add to the exporter's poll time and slow
    the exporter's process down. The generated records all lie before the
    simulator's start, so a response depends only on the path and the query
    (which contains the local day), and a cached copy stays correct until
    runs are added through the control route. Only ``GET`` responses with
    status 200 from ``/statistics/`` paths are kept.

    NOTE: a cache hit skips the simulator's authentication check, so the
    cache suits a well-behaved exporter only, which the benchmark runs. After
    runs are added, the cache goes on serving today's statistics without
    them. The benchmark adds runs only in its last run on a simulator, the
    records run, which turns the statistics metrics off.
    """

    def __init__(self) -> None:
        self._responses: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.hits = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "GET" or "/statistics/" not in request.path:
            return await handler(request)

        key = request.path_qs
        cached = self._responses.get(key)
        if cached is not None:
            self.hits += 1
            body, content_type, headers = cached
            return web.Response(body=body, content_type=content_type, headers=headers)

        response = await handler(request)
        if response.status == 200 and isinstance(response, web.Response) and isinstance(response.body, bytes):
            headers = {name: response.headers[name] for name in ("X-Version", "X-Env") if name in response.headers}
            self._responses[key] = (response.body, response.content_type, headers)
        return response


def build_simulator(apps: int, *, seed: int, days: int, token_ttl_s: int) -> DifySimulator:
    """Generate the data set and return a 1.15 simulator whose clock follows real time."""
    clock = SimClock.system()
    dataset = Dataset.generate(seed, clock.now(), days, apps_per_mode=apps_per_mode(apps))
    # The benchmark never reads the request log; a small bound keeps the
    # simulator's memory flat over long runs.
    return DifySimulator(
        profile="1.15", dataset=dataset, clock=clock, access_token_ttl_s=token_ttl_s, request_log_limit=1000
    )


def build_app(simulator: DifySimulator, *, latency_s: float, cache: bool) -> web.Application:
    """Return the simulator's aiohttp application with the benchmark's middlewares and control routes.

    The latency middleware is the outermost one, so cached and error
    responses wait too, and its handler time includes the cache's work.
    ``latency_s`` 0 adds no wait, but the middleware still times requests.
    """
    app = simulator.make_app()
    latency = LatencyMiddleware(latency_s)
    # The first middleware in the list is the outermost one.
    if cache:
        app.middlewares.insert(0, StatisticsCache().middleware)
    app.middlewares.insert(0, latency.middleware)
    register_control_routes(app, RunTraffic(simulator).add, latency.totals)
    return app


async def serve(args: argparse.Namespace) -> None:
    """Serve on a free port of 127.0.0.1 until SIGINT or SIGTERM."""
    simulator = build_simulator(args.apps, seed=args.seed, days=args.days, token_ttl_s=args.token_ttl)
    app = build_app(simulator, latency_s=args.latency_ms / 1000, cache=args.cache)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ready = {
            "base_url": f"http://127.0.0.1:{port}",
            "apps": args.apps,
            "latency_ms": args.latency_ms,
            "cache": args.cache,
            "token_ttl_s": args.token_ttl,
        }
        print(json.dumps(ready), flush=True)
        logger.info("benchmark simulator started", extra={"port": port, "apps": args.apps})
        await stop.wait()
    finally:
        await runner.cleanup()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_server", description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, required=True, help="number of apps, a multiple of 5")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait added before every request, in ms")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data (default: 1)")
    parser.add_argument("--days", type=int, default=10, help="days of traffic before now (default: 10)")
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="compute every statistics response again instead of serving repeats from memory",
    )
    parser.add_argument(
        "--token-ttl", type=int, default=3600, help="lifetime of the access tokens, in seconds (default: 3600)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        apps_per_mode(args.apps)
    except ValueError as error:
        print(f"sim_server: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
