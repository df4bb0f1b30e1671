from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.sim_server import StatisticsCache, build_app, build_simulator, latency_middleware

STATISTICS_PATH = "/console/api/apps/5b0c2f1e-0000-4000-8000-000000000001/statistics/daily-messages"


class CountingHandler:
    """A handler that counts its calls and returns a body that changes with each call."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        self.status = status

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        response = web.json_response({"data": [{"call": self.calls}]}, status=self.status)
        response.headers["X-Version"] = "1.15.0"
        return response


async def client_for(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_latency_middleware_waits_first():
    waits: list[float] = []
    handler = CountingHandler()

    async def record_wait(seconds: float) -> None:
        assert handler.calls == 0, "the wait must come before the handler"
        waits.append(seconds)

    app = web.Application(middlewares=[latency_middleware(0.25, sleep=record_wait)])
    app.router.add_get("/x", handler.handle)
    client = await client_for(app)
    try:
        response = await client.get("/x")
    finally:
        await client.close()

    assert response.status == 200
    assert waits == [0.25]
    assert handler.calls == 1


async def test_statistics_cache_serves_repeat():
    cache = StatisticsCache()
    handler = CountingHandler()
    app = web.Application(middlewares=[cache.middleware])
    app.router.add_get(STATISTICS_PATH, handler.handle)
    client = await client_for(app)
    try:
        first = await client.get(STATISTICS_PATH, params={"start": "2026-12-04 00:00"})
        first_body = await first.json()
        second = await client.get(STATISTICS_PATH, params={"start": "2026-12-04 00:00"})
        second_body = await second.json()
    finally:
        await client.close()

    assert handler.calls == 1
    assert cache.hits == 1
    assert second_body == first_body
    assert second.headers["X-Version"] == "1.15.0"
    assert second.content_type == "application/json"


async def test_statistics_cache_keys_on_query():
    cache = StatisticsCache()
    handler = CountingHandler()
    app = web.Application(middlewares=[cache.middleware])
    app.router.add_get(STATISTICS_PATH, handler.handle)
    client = await client_for(app)
    try:
        await client.get(STATISTICS_PATH, params={"start": "2026-12-04 00:00"})
        await client.get(STATISTICS_PATH, params={"start": "2026-12-05 00:00"})
    finally:
        await client.close()

    assert handler.calls == 2
    assert cache.hits == 0


async def test_statistics_cache_skips_errors():
    cache = StatisticsCache()
    handler = CountingHandler(status=404)
    app = web.Application(middlewares=[cache.middleware])
    app.router.add_get(STATISTICS_PATH, handler.handle)
    client = await client_for(app)
    try:
        await client.get(STATISTICS_PATH)
        await client.get(STATISTICS_PATH)
    finally:
        await client.close()

    assert handler.calls == 2
    assert cache.hits == 0


async def test_statistics_cache_skips_other_paths():
    cache = StatisticsCache()
    handler = CountingHandler()
    app = web.Application(middlewares=[cache.middleware])
    app.router.add_get("/console/api/apps", handler.handle)
    client = await client_for(app)
    try:
        await client.get("/console/api/apps")
        await client.get("/console/api/apps")
    finally:
        await client.close()

    assert handler.calls == 2


def test_build_app_adds_middlewares():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    plain = len(simulator.make_app().middlewares)

    assert len(build_app(simulator, latency_s=0.0, cache=False).middlewares) == plain
    assert len(build_app(simulator, latency_s=0.0, cache=True).middlewares) == plain + 1
    assert len(build_app(simulator, latency_s=0.01, cache=True).middlewares) == plain + 2


def test_build_simulator_generates_apps():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)

    modes = sorted(app.mode.value for app in simulator.apps())
    assert len(modes) == 10
    assert len(set(modes)) == 5
