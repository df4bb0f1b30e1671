import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.control import ADD_RUNS_PATH, SERVER_TIME_PATH, ControlError, ServerTime, SimulatorControl
from bench.sim_server import build_app, build_simulator


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def test_server_time_since():
    later = ServerTime(requests=10, handler_s=0.5, cpu_s=2.0)
    earlier = ServerTime(requests=4, handler_s=0.2, cpu_s=1.5)

    served = later.since(earlier)

    assert served.requests == 6
    assert served.handler_s == pytest.approx(0.3)
    assert served.cpu_s == pytest.approx(0.5)
    assert served.mean_s == pytest.approx(0.05)


def test_server_time_mean_without_requests():
    assert ServerTime(requests=0, handler_s=0.0).mean_s is None


async def test_client_adds_runs_and_reads_time():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    server = await serve(build_app(simulator, latency_s=0.0, cache=False))
    control = SimulatorControl(str(server.make_url("/")))
    try:
        added = await control.add_runs(3)
        first = await control.server_time()
        second = await control.server_time()
    finally:
        await control.close()
        await server.close()

    assert added.runs == 3
    assert added.llm_calls == 9
    assert first.requests == 0
    assert second.since(first).requests == 0


async def test_client_raises_on_error_status():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    server = await serve(build_app(simulator, latency_s=0.0, cache=False))
    control = SimulatorControl(str(server.make_url("/")))
    try:
        with pytest.raises(ControlError, match="HTTP 400"):
            await control.add_runs(-2)
    finally:
        await control.close()
        await server.close()


async def test_client_raises_on_unexpected_body():
    async def wrong_body(request: web.Request) -> web.Response:
        return web.json_response({"unexpected": True})

    app = web.Application()
    app.router.add_post(ADD_RUNS_PATH, wrong_body)
    app.router.add_get(SERVER_TIME_PATH, wrong_body)
    server = await serve(app)
    control = SimulatorControl(str(server.make_url("/")))
    try:
        with pytest.raises(ControlError, match="unexpected body"):
            await control.add_runs(1)
        with pytest.raises(ControlError, match="unexpected body"):
            await control.server_time()
    finally:
        await control.close()
        await server.close()


async def test_client_raises_when_unreachable():
    server = await serve(web.Application())
    url = str(server.make_url("/"))
    await server.close()
    control = SimulatorControl(url)
    try:
        with pytest.raises(ControlError, match="failed"):
            await control.server_time()
    finally:
        await control.close()


async def test_client_close_twice():
    control = SimulatorControl("http://127.0.0.1:1")

    await control.close()
    await control.close()
