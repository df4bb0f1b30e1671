import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.control import ADD_RUNS_PATH, SERVER_TIME_PATH
from bench.sim_server import LatencyMiddleware, StatisticsCache, build_app, build_simulator

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


class SteppingClock:
    """A clock that moves ``step`` seconds at each read."""

    def __init__(self, step: float) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def no_wait(seconds: float) -> None:
    pass


async def test_latency_middleware_waits_first():
    waits: list[float] = []
    handler = CountingHandler()

    async def record_wait(seconds: float) -> None:
        assert handler.calls == 0, "the wait must come before the handler"
        waits.append(seconds)

    latency = LatencyMiddleware(0.25, sleep=record_wait)
    app = web.Application(middlewares=[latency.middleware])
    app.router.add_get("/x", handler.handle)
    client = await client_for(app)
    try:
        response = await client.get("/x")
    finally:
        await client.close()

    assert response.status == 200
    assert waits == [0.25]
    assert handler.calls == 1


async def test_latency_middleware_times_handler():
    # Each clock read moves 2 ms: one read at the handler's start, one at its end.
    latency = LatencyMiddleware(0.01, sleep=no_wait, clock=SteppingClock(0.002))
    handler = CountingHandler(status=404)
    app = web.Application(middlewares=[latency.middleware])
    app.router.add_get("/x", handler.handle)
    client = await client_for(app)
    try:
        await client.get("/x")
        await client.get("/x")
    finally:
        await client.close()

    totals = latency.totals()
    assert totals.requests == 2
    assert totals.handler_s == pytest.approx(0.004)
    assert totals.cpu_s > 0


async def test_latency_middleware_skips_control_paths():
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    latency = LatencyMiddleware(0.25, sleep=record_wait)
    handler = CountingHandler()
    app = web.Application(middlewares=[latency.middleware])
    app.router.add_get("/bench/anything", handler.handle)
    client = await client_for(app)
    try:
        response = await client.get("/bench/anything")
    finally:
        await client.close()

    assert response.status == 200
    assert waits == []
    assert latency.totals().requests == 0


async def test_latency_middleware_zero_no_wait():
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    latency = LatencyMiddleware(0.0, sleep=record_wait)
    handler = CountingHandler()
    app = web.Application(middlewares=[latency.middleware])
    app.router.add_get("/x", handler.handle)
    client = await client_for(app)
    try:
        await client.get("/x")
    finally:
        await client.close()

    assert waits == []
    assert latency.totals().requests == 1


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

    # The latency middleware is always there, because it also times requests.
    assert len(build_app(simulator, latency_s=0.0, cache=False).middlewares) == plain + 1
    assert len(build_app(simulator, latency_s=0.0, cache=True).middlewares) == plain + 2
    assert len(build_app(simulator, latency_s=0.01, cache=True).middlewares) == plain + 2


async def test_control_route_adds_runs():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)
    runs_before = sum(len(records.workflow_runs) for records in simulator.dataset.records.values())
    client = await client_for(build_app(simulator, latency_s=0.0, cache=False))
    try:
        response = await client.post(ADD_RUNS_PATH, json={"runs": 6})
        body = await response.json()
    finally:
        await client.close()

    runs_after = sum(len(records.workflow_runs) for records in simulator.dataset.records.values())
    assert response.status == 200
    assert body["runs"] == 6
    assert runs_after - runs_before == 6
    # Six runs cycle through 2, 3 and 4 LLM nodes twice.
    assert body["llm_calls"] == 18
    assert body["input_tokens"] > 0
    assert body["output_tokens"] > 0


@pytest.mark.parametrize("payload", [{"runs": -1}, {"runs": "5"}, {"runs": True}, {"count": 5}, [5], {"runs": 10**6}])
async def test_control_route_rejects_invalid(payload):
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    client = await client_for(build_app(simulator, latency_s=0.0, cache=False))
    try:
        response = await client.post(ADD_RUNS_PATH, json=payload)
        body = await response.json()
    finally:
        await client.close()

    assert response.status == 400
    assert "runs must be an integer" in body["error"]


async def test_control_route_rejects_non_json():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    client = await client_for(build_app(simulator, latency_s=0.0, cache=False))
    try:
        response = await client.post(ADD_RUNS_PATH, data=b"runs=5")
    finally:
        await client.close()

    assert response.status == 400


async def test_server_time_counts_dify_requests():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    client = await client_for(build_app(simulator, latency_s=0.0, cache=False))
    try:
        await client.get("/console/api/setup")
        await client.get("/console/api/apps")
        await client.post(ADD_RUNS_PATH, json={"runs": 1})
        response = await client.get(SERVER_TIME_PATH)
        body = await response.json()
    finally:
        await client.close()

    # The control requests are neither delayed nor counted.
    assert body["requests"] == 2
    assert body["handler_s"] > 0
    assert body["cpu_s"] > 0


def test_build_simulator_generates_apps():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)

    modes = sorted(app.mode.value for app in simulator.apps())
    assert len(modes) == 10
    assert len(set(modes)) == 5
