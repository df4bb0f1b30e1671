"""A failing app or a malformed answer costs only its own figures."""

from __future__ import annotations

import logging

from typing import Callable

from aiohttp import web

from otel_dify.simulator import DifySimulator
from tests.integration.harness import running_harness


def break_statistics_of(simulator: DifySimulator, app_id: str, response: Callable[[], web.Response]):
    """Make the simulator answer every statistics request of one app with ``response()`` while ``state['on']``."""
    state = {"on": False}
    make_app = simulator.make_app

    @web.middleware
    async def fault(request: web.Request, handler):
        if state["on"] and f"/apps/{app_id}/" in request.path and "statistics" in request.path:
            return response()
        return await handler(request)

    def make_app_with_fault() -> web.Application:
        application = make_app()
        application.middlewares.append(fault)
        return application

    simulator.make_app = make_app_with_fault
    return state


async def test_failing_app_keeps_previous_figures(caplog):
    simulator = DifySimulator(profile="1.15", seed=37)
    chat = simulator.app_of_mode("chat")
    completion = simulator.app_of_mode("completion")
    state = break_statistics_of(
        simulator,
        chat.id,
        lambda: web.Response(status=200, text="<html><body>maintenance</body></html>", content_type="text/html"),
    )

    async with running_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        chat_messages = harness.value("dify.app.messages", chat.id)

        state["on"] = True
        with caplog.at_level(logging.WARNING):
            summary = await harness.poll()

        assert not summary.succeeded
        assert summary.errors > 0
        # The broken app keeps the figures of the poll before; the others are exact.
        assert harness.value("dify.app.messages", chat.id) == chat_messages
        assert harness.value("dify.app.messages", completion.id) == simulator.ground_truth(completion.id).messages
        assert [point.value for point in harness.points("dify.exporter.up")] == [0.0]
        errors = {point.attributes["error.type"]: point.value for point in harness.points("dify.exporter.errors")}
        assert errors.get("invalid_response", 0) > 0

        logged = [
            record
            for record in caplog.records
            if record.levelno >= logging.WARNING and getattr(record, "app_id", None) == chat.id
        ]
        assert logged, "the failure was not logged with the app id"
        endpoints = {getattr(record, "endpoint", None) for record in logged}
        assert all(str(endpoint).startswith("/console/api/apps/{app_id}/") for endpoint in endpoints), sorted(
            map(str, endpoints)
        )

        state["on"] = False
        assert (await harness.poll()).succeeded
        assert [point.value for point in harness.points("dify.exporter.up")] == [1.0]


async def test_wrong_row_type_is_counted():
    simulator = DifySimulator(profile="1.15", seed=41)
    chat = simulator.app_of_mode("chat")
    state = break_statistics_of(
        simulator, chat.id, lambda: web.json_response({"data": [{"date": "2026-12-04", "message_count": "many"}]})
    )
    state["on"] = True

    async with running_harness(simulator) as harness:
        summary = await harness.poll()

        assert not summary.succeeded
        assert harness.value("dify.app.messages", chat.id) is None
        errors = {point.attributes["error.type"]: point.value for point in harness.points("dify.exporter.errors")}
        assert errors["invalid_response"] >= 1
