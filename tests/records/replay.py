"""A loopback server that answers record requests with captured Dify 1.15.0 bodies, and records what it got."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.records.support import record_capture


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class ReplayServer:
    """Routes are exact paths; each answers with one capture's status and body.

    ``version`` goes into every ``X-Version`` header (None leaves it out).
    """

    version: str | None = "1.15.0"
    routes: dict[str, tuple[int, Any, str]] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)

    def answer(self, path: str, capture_name: str) -> None:
        response = record_capture(capture_name)["response"]
        content_type = "application/json" if response["body_kind"] == "json" else "text/html"
        self.routes[path] = (response["status"], response["body"], content_type)

    def answer_body(self, path: str, status: int, body: Any, content_type: str = "application/json") -> None:
        self.routes[path] = (status, body, content_type)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            SeenRequest(
                request.method,
                request.path,
                dict(request.query),
                {key: value for key, value in request.headers.items()},
            )
        )
        status, body, content_type = self.routes.get(request.path, (404, "<html>not found</html>", "text/html"))
        text = json.dumps(body) if content_type == "application/json" else str(body)
        response = web.Response(status=status, text=text, content_type=content_type)
        if self.version is not None:
            response.headers["X-Version"] = self.version
        return response

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._handle)
        return application


async def serve(replay: ReplayServer) -> AsyncIterator[str]:
    """Serve ``replay`` on 127.0.0.1 and yield its base URL."""
    server = TestServer(replay.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
