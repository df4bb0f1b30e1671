"""Serve the Dify simulator with an added server latency, for the benchmarks.

``python -m bench.sim_server --apps 100 --latency-ms 10`` generates a data set
with ``apps / 5`` apps of each of the five app modes, serves the 1.15 profile
on 127.0.0.1 and prints one JSON line on stdout when it is ready::

    {"base_url": "http://127.0.0.1:40123", "apps": 100, "latency_ms": 10.0, "cache": true, "token_ttl_s": 3600}

It then serves until SIGINT or SIGTERM. The benchmark runs it in its own
process so that the exporter's CPU figures do not include the simulator's
work, and serves repeated statistics requests from a cache unless
``--no-cache`` is given (see :class:`StatisticsCache`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import Awaitable, Callable

from aiohttp import web

from otel_dify.simulator import Dataset, DifySimulator, SimClock

from bench.sizes import apps_per_mode

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def latency_middleware(
    latency_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Middleware:
    """Return an aiohttp middleware that waits ``latency_s`` seconds before each request's handler.

    The wait is an ``asyncio.sleep``, so concurrent requests wait in
    parallel, as on a server with enough workers. Tests pass their own ``sleep``.
    """

    @web.middleware
    async def add_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        await sleep(latency_s)
        return await handler(request)

    return add_latency


class StatisticsCache:
    """An aiohttp middleware that serves repeated statistics requests from memory.

    The benchmark measures the exporter, and the added latency models the
    server's time. Without the cache, the simulator would compute every
    statistics response from its records in its one process on the same
    machine, and that CPU time would add to the exporter's poll time and slow
    the exporter's process down. The generated records all lie before the
    simulator's start, so a response depends only on the path and the query
    (which contains the local day), and a cached copy stays correct. Only
    ``GET`` responses with status 200 from ``/statistics/`` paths are kept.

    NOTE: a cache hit skips the simulator's authentication check, so the
    cache suits a well-behaved exporter only, which the benchmark runs.
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
    """Return the simulator's aiohttp application with the benchmark's middlewares outside its own.

    The latency middleware is the outermost one, so cached and error
    responses wait too. ``latency_s`` 0 adds no middleware.
    """
    app = simulator.make_app()
    # The first middleware in the list is the outermost one.
    if cache:
        app.middlewares.insert(0, StatisticsCache().middleware)
    if latency_s > 0:
        app.middlewares.insert(0, latency_middleware(latency_s))
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
