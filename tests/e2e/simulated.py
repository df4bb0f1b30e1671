"""Dify simulators for the end-to-end tests: real-time clock, recorded session tokens, and slow statistics on demand."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from aiohttp import web

from otel_dify.simulator import DifySimulator, SessionTokens, SimClock
from otel_dify.simulator.records import Account
from tests.e2e.ledger import OutputLedger


class SlowStatistics:
    """An aiohttp middleware that delays statistics requests while armed, so a test can act during a poll.

    :meth:`arm` makes the next ``count`` statistics requests wait up to
    ``delay_s`` seconds, or until :meth:`release`, before the simulator
    handles them. :attr:`request_held` is set when the first delayed request
    arrives. :attr:`released_ns` is the wall-clock time (``time.time_ns()``)
    at which the last delayed request was passed on to the simulator.
    """

    def __init__(self) -> None:
        self.request_held = asyncio.Event()
        self.released_ns: int | None = None
        self._remaining = 0
        self._delay_s = 0.0
        self._release = asyncio.Event()

    def arm(self, *, delay_s: float, count: int = 1) -> None:
        self.request_held.clear()
        self._release.clear()
        self.released_ns = None
        self._remaining = count
        self._delay_s = delay_s

    def release(self) -> None:
        """End every wait at once; call it before the simulator stops, so no handler outlives the test."""
        self._remaining = 0
        self._release.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        if self._remaining > 0 and "/statistics/" in request.path:
            self._remaining -= 1
            self.request_held.set()
            try:
                await asyncio.wait_for(self._release.wait(), self._delay_s)
            except asyncio.TimeoutError:
                pass
            self.released_ns = time.time_ns()
        return await handler(request)


class E2ESimulator(DifySimulator):
    """A DifySimulator on the machine's real clock that reports every secret it hands out to a ledger.

    The exporter subprocess reads the real time, so the simulated traffic
    must be dated before the real current time. Every session token the simulator issues
    (at login or refresh), the admin password and the admin API key go to
    ``ledger``. ``slow_statistics`` is added to the application as the
    innermost middleware.
    """

    def __init__(self, ledger: OutputLedger, **options: object) -> None:
        super().__init__(clock=SimClock.system(), **options)
        self.slow_statistics = SlowStatistics()
        ledger.add_secret(self.admin_password, "admin password")
        ledger.add_secret(self.auth.settings.admin_api_key, "admin API key")

        # Login and refresh both call issue_session through the instance, so
        # the replaced bound method records every token.
        issue_session = self.auth.issue_session

        def recording_issue_session(account: Account, *, record_login: bool = True) -> SessionTokens:
            tokens = issue_session(account, record_login=record_login)
            ledger.add_secret(tokens.access_token, "access token")
            ledger.add_secret(tokens.refresh_token, "refresh token")
            ledger.add_secret(tokens.csrf_token, "CSRF token")
            return tokens

        self.auth.issue_session = recording_issue_session  # type: ignore[method-assign]

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self.slow_statistics.middleware)
        return app

    def add_traffic(self) -> None:
        """Add a few messages to every message app and a few runs to every workflow app, just before now."""
        just_now = self.clock.now() - timedelta(seconds=5)
        for app in self.apps():
            if app.mode.value == "workflow":
                for tokens in (120, 80):
                    self.dataset.add_workflow_run(app.id, just_now, total_tokens=tokens)
            else:
                for tokens in (100, 250, 40):
                    self.dataset.add_message(app.id, just_now, message_tokens=tokens, answer_tokens=tokens // 2)
