"""The Dify simulator: state, aiohttp application and a runner for tests.

``DifySimulator`` holds a version profile, a data set, a clock, the login
state and a request log. ``make_app`` serves the console API and the
service API (``/v1``) on aiohttp, and ``run_simulator`` runs it on a
loopback port.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from otel_dify.dify.models import AppMode
from otel_dify.simulator.auth import AuthService, AuthSettings, SessionTokens
from otel_dify.simulator.clock import SimClock
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.errors import DifyHTTPError, html_method_not_allowed, html_not_found
from otel_dify.simulator.faults import FaultInjector
from otel_dify.simulator.handlers import AUTH_KIND, ConsoleHandlers, json_response
from otel_dify.simulator.profiles import VersionProfile, get_profile
from otel_dify.simulator.records import Account, App, WorkflowRun
from otel_dify.simulator.records_api import RecordRoutes
from otel_dify.simulator.records_truth import RecordTruth, compute_record_truth
from otel_dify.simulator.service_api import ServiceApiRoutes, app_api_key
from otel_dify.simulator.truth import GroundTruth, compute_ground_truth

logger = logging.getLogger(__name__)

#: Default clock start: the instant the reference captures of Dify 1.15.0 were taken.
DEFAULT_START = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)


@dataclass(frozen=True)
class RequestLogEntry:
    """One request the simulator served.

    ``auth_kind`` is ``none``, ``cookie``, ``bearer``, ``query``,
    ``admin-key``, ``refresh`` (a refresh-token request) or ``app-key``
    (a service-API request with a valid app API key).
    """

    method: str
    path: str
    query: str
    status: int
    auth_kind: str


class DifySimulator:
    """A stand-in for one Dify deployment.

    Without ``dataset`` the simulator generates one from ``seed`` with
    ``days`` days of traffic before the clock's now, and ``admin_email`` and
    ``admin_password`` set the admin login (ignored with a given dataset).
    Without ``clock`` it uses a ``SimClock`` stopped at ``DEFAULT_START``.
    ``admin_api_key`` enables the admin key where the profile supports it.
    The request log keeps the latest ``request_log_limit`` entries, so a
    long ``otel-dify demo`` run does not grow it without bound. ``faults``
    adds its middleware to every application :meth:`make_app` returns; without
    it the simulator answers every request as Dify would.
    """

    def __init__(
        self,
        *,
        profile: str | VersionProfile = "1.15",
        dataset: Dataset | None = None,
        clock: SimClock | None = None,
        seed: int = 1,
        days: int = 10,
        access_token_ttl_s: int = 3600,
        secure_cookies: bool = False,
        admin_api_key: str | None = None,
        secret_key: str | None = None,
        admin_email: str | None = None,
        admin_password: str | None = None,
        request_log_limit: int = 100_000,
        faults: FaultInjector | None = None,
    ) -> None:
        self.profile = profile if isinstance(profile, VersionProfile) else get_profile(profile)
        self.clock = clock or SimClock(DEFAULT_START)
        if dataset is None:
            dataset = Dataset.generate(
                seed, self.clock.now(), days, admin_email=admin_email, admin_password=admin_password
            )
        self.dataset = dataset
        settings = AuthSettings(
            access_token_ttl_s=access_token_ttl_s, secure_cookies=secure_cookies, admin_api_key=admin_api_key
        )
        self.auth = AuthService(self.dataset, self.clock, self.profile, settings, secret_key or secrets.token_urlsafe(48))
        self.request_log: list[RequestLogEntry] = []
        self.request_log_limit = request_log_limit
        self.faults = faults
        self.handlers = ConsoleHandlers(self)

    # -- facts for tests -------------------------------------------------

    @property
    def admin(self) -> Account:
        """The admin account: owner of the first workspace."""
        first_workspace = next(iter(self.dataset.workspaces.values()))
        return self.dataset.accounts[first_workspace.owner_id]

    @property
    def admin_password(self) -> str:
        """Plain password of the admin account (fake, demo only)."""
        return self.admin.password

    def apps(self, workspace_id: str | None = None) -> list[App]:
        """Return the apps of one workspace (all when None), newest first."""
        return self.dataset.apps_of(workspace_id)

    def app_of_mode(self, mode: AppMode | str, workspace_id: str | None = None) -> App:
        """Return the newest app of ``mode``; raises ``LookupError`` when there is none."""
        wanted = AppMode(mode)
        workspace_id = workspace_id or self.dataset.current_workspace(self.admin.id).id
        for app in self.apps(workspace_id):
            if app.mode is wanted:
                return app
        raise LookupError(f"no {wanted.value} app in workspace {workspace_id}")

    def ground_truth(self, app_id: str, *, timezone: str | None = None) -> GroundTruth:
        """Return the app's totals up to the clock's now.

        ``timezone`` (IANA name) sets the local day of the ``*_active``
        fields; it defaults to the timezone of the app's workspace owner.
        """
        app = self.dataset.apps[app_id]
        zone_name = timezone or self.dataset.owner_of(app.workspace_id).timezone
        return compute_ground_truth(
            app,
            self.dataset.records[app_id],
            now=self.clock.now(),
            zone_name=zone_name,
            exclude_debugger=self.profile.exclude_debugger_from_stats,
        )

    def record_truth(self, app_id: str, *, since: datetime | None = None) -> RecordTruth:
        """Return the app's record-level totals over records created in ``[since, now]``.

        ``since`` is typically the moment an exporter started, and None
        covers every record. See ``RecordTruth`` for what each figure counts.
        """
        dataset = self.dataset
        return compute_record_truth(
            dataset.apps[app_id],
            dataset.records[app_id],
            now=self.clock.now(),
            since=since,
            nodes_of=lambda run_id: dataset.nodes_of(app_id, run_id),
        )

    def finish_run(self, run_id: str, status: str = "succeeded") -> WorkflowRun:
        """End a ``running`` workflow run at the clock's now and return the new record.

        The run gets its tokens, elapsed time and end time, its app log shows
        the final status, and its node executions their usage. Raises
        ``LookupError`` for an unknown run and ``ValueError`` for a run that
        is not running or a status that is not final.
        """
        for app_id, records in self.dataset.records.items():
            if any(run.id == run_id for run in records.workflow_runs):
                return self.dataset.finish_workflow_run(app_id, run_id, status=status, finished_at=self.clock.now())
        raise LookupError(f"no workflow run {run_id}")

    def app_api_key(self, app_id: str) -> str:
        """Return the app's service-API key (``app-`` plus 24 characters), the same on every run.

        Raises ``KeyError`` for an unknown app.
        """
        if app_id not in self.dataset.apps:
            raise KeyError(app_id)
        return app_api_key(app_id)

    def issue_session(self, email: str | None = None) -> SessionTokens:
        """Issue session tokens for an account (the admin by default) without a login request."""
        account = self.dataset.account_by_email(email) if email else self.admin
        if account is None:
            raise LookupError(f"no account with e-mail {email}")
        return self.auth.issue_session(account)

    def count_requests(self, *, method: str | None = None, path: str | None = None) -> int:
        """Count logged requests, optionally only those with ``method`` and ``path``."""
        return sum(
            1
            for entry in self.request_log
            if (method is None or entry.method == method) and (path is None or entry.path == path)
        )

    def login_attempts(self) -> int:
        """Count ``POST /console/api/login`` requests, successful or not."""
        return self.count_requests(method="POST", path="/console/api/login")

    # -- HTTP ------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Return a new aiohttp application serving this simulator's state."""
        app = web.Application(middlewares=[self._middleware])
        self.handlers = ConsoleHandlers(self)
        self.handlers.register(app)
        RecordRoutes(self, self.handlers).register(app)
        ServiceApiRoutes(self).register(app)
        if self.faults is not None:
            # Inside the simulator's own middleware, so that faulted responses
            # get its headers and show in the request log.
            app.middlewares.append(self.faults.middleware)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        AUTH_KIND.set("none")
        try:
            response: web.StreamResponse = await handler(request)
        except DifyHTTPError as exc:
            response = _error_response(exc)
            code = exc.body.get("code") if isinstance(exc.body, dict) else None
            logger.info(
                "simulator request rejected",
                extra={"http_method": request.method, "endpoint": request.path, "http_status": exc.status, "code": code},
            )
        except web.HTTPMethodNotAllowed as exc:
            response = _error_response(html_method_not_allowed(exc.allowed_methods))
        except web.HTTPNotFound:
            response = _error_response(html_not_found())
        except Exception:
            # A simulator bug. NOTE: the 500 body imitates Dify's error envelope,
            # but no real Dify 500 was captured to compare it with.
            logger.exception("simulator handler failed", extra={"http_method": request.method, "endpoint": request.path})
            response = json_response({"code": "unknown", "message": "Internal Server Error", "status": 500}, status=500)

        response.headers["X-Version"] = self.profile.version
        response.headers["X-Env"] = "PRODUCTION"
        # A real server's Date and its token exp come from one clock, and
        # clients measure token lifetimes as exp minus Date.
        response.headers["Date"] = format_datetime(self.clock.now(), usegmt=True)
        self._log_request(RequestLogEntry(request.method, request.path, request.query_string, response.status, AUTH_KIND.get()))
        logger.debug(
            "simulator request",
            extra={
                "http_method": request.method,
                "endpoint": request.path,
                "http_status": response.status,
                "auth_kind": AUTH_KIND.get(),
            },
        )
        return response

    def _log_request(self, entry: RequestLogEntry) -> None:
        self.request_log.append(entry)
        if len(self.request_log) > self.request_log_limit:
            # Drop the oldest tenth at once, so trimming is rare.
            del self.request_log[: max(1, self.request_log_limit // 10)]


def _error_response(error: DifyHTTPError) -> web.Response:
    if error.html:
        response = web.Response(text=str(error.body), status=error.status, content_type="text/html", charset="utf-8")
    else:
        response = json_response(error.body, status=error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


@asynccontextmanager
async def run_simulator(simulator: DifySimulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``simulator`` on ``host``:``port`` and yield its base URL (``http://127.0.0.1:PORT``).

    ``port=0`` picks a free port. The server stops when the block exits.
    """
    runner = web.AppRunner(simulator.make_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        base_url = f"http://{host}:{bound_port}"
        logger.info("dify simulator started", extra={"base_url": base_url, "profile": simulator.profile.version})
        yield base_url
    finally:
        if simulator.faults is not None:
            # aiohttp waits for handlers in flight, and a held request would stall the stop.
            simulator.faults.release_holds()
        await runner.cleanup()
        logger.info("dify simulator stopped", extra={"profile": simulator.profile.version})


__all__ = ["DEFAULT_START", "DifySimulator", "RequestLogEntry", "run_simulator"]
