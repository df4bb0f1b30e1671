"""Request handlers of the simulated ``/console/api`` routes.

Each handler checks in Dify's order: authentication (and CSRF), then the
app lookup, then the app mode, then the query parameters.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from aiohttp import web

from otel_dify.simulator.auth import AuthResponse, Credentials, Principal
from otel_dify.simulator.errors import DifyHTTPError, FieldError, invalid_param, json_error, route_hint
from otel_dify.simulator.queries import parse_app_list_query
from otel_dify.simulator.records import App
from otel_dify.simulator.statistics import (
    MESSAGE_STATISTICS,
    WORKFLOW_STATISTICS,
    AppModeNotSupportedError,
    check_mode,
    message_statistic,
    workflow_statistic,
)
from otel_dify.simulator.timewindow import TIME_FORMAT, TimeWindow, TimeWindowError, parse_time_window
from otel_dify.simulator import views
if TYPE_CHECKING:
    from otel_dify.simulator.server import DifySimulator

logger = logging.getLogger(__name__)

PREFIX = "/console/api"
#: Werkzeug's ``uuid`` converter; other app ids match no route (HTML 404).
UUID_PATTERN = "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"

Handler = Callable[[web.Request], Awaitable[web.Response]]

#: Authentication kind of the current request, for the request log. Handlers
#: set it, and the middleware reads it back because it awaits the handler in
#: the same task.
AUTH_KIND: ContextVar[str] = ContextVar("simulator_auth_kind", default="none")


def json_response(body: Any, *, status: int = 200, set_cookies: Iterable[str] = ()) -> web.Response:
    """Return a JSON response with Dify's bare ``application/json`` content type."""
    text = json.dumps(body, separators=(",", ":"))
    response = web.Response(body=text.encode(), status=status, content_type="application/json")
    for cookie in set_cookies:
        response.headers.add("Set-Cookie", cookie)
    return response


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class ConsoleHandlers:
    """The console routes of one ``DifySimulator``."""

    def __init__(self, simulator: DifySimulator) -> None:
        self._sim = simulator
        #: Flask-style rule strings, used for the "did you mean" hint of 404s.
        self.rules: list[str] = []

    def register(self, app: web.Application) -> None:
        """Add every route of the simulator's profile to ``app``."""
        profile = self._sim.profile
        self._add(app, "GET", "/setup", "/setup", self.setup)
        self._add(app, "POST", "/login", "/login", self.login)
        if profile.has_refresh_token:
            self._add(app, "POST", "/refresh-token", "/refresh-token", self.refresh_token)
        self._add(app, profile.logout_method, "/logout", "/logout", self.logout)
        self._add(app, "GET", "/account/profile", "/account/profile", self.account_profile)
        self._add(app, "POST", "/account/timezone", "/account/timezone", self.account_timezone)
        self._add(app, "GET", "/workspaces", "/workspaces", self.workspaces)
        self._add(app, profile.workspaces_current_method, "/workspaces/current", "/workspaces/current", self.workspace_current)
        self._add(app, "GET", "/apps", "/apps", self.app_list)
        app_path = "/apps/{app_id:" + UUID_PATTERN + "}"
        self._add(app, "GET", app_path, "/apps/<uuid:app_id>", self.app_detail)
        for name in MESSAGE_STATISTICS:
            self._add(
                app,
                "GET",
                f"{app_path}/statistics/{name}",
                f"/apps/<uuid:app_id>/statistics/{name}",
                self._message_statistic_handler(name),
            )
        for name in WORKFLOW_STATISTICS:
            self._add(
                app,
                "GET",
                f"{app_path}/workflow/statistics/{name}",
                f"/apps/<uuid:app_id>/workflow/statistics/{name}",
                self._workflow_statistic_handler(name),
            )

    def _add(self, app: web.Application, method: str, path: str, rule: str, handler: Handler) -> None:
        app.router.add_route(method, PREFIX + path, handler)
        self.rules.append(PREFIX + rule)

    # -- shared steps ----------------------------------------------------

    def _principal(self, request: web.Request, *, check_csrf: bool = True) -> Principal:
        credentials = Credentials(
            authorization=request.headers.get("Authorization"),
            cookies=dict(request.cookies),
            csrf_header=request.headers.get("X-CSRF-Token"),
            workspace_header=request.headers.get("X-WORKSPACE-ID"),
            query_token=request.query.get("_token"),
        )
        principal = self._sim.auth.authenticate(credentials, check_csrf=check_csrf)
        AUTH_KIND.set(principal.auth_kind)
        return principal

    def _app(self, request: web.Request, principal: Principal) -> App:
        app_id = request.match_info["app_id"].lower()
        app = self._sim.dataset.apps.get(app_id)
        if app is None or app.workspace_id != principal.workspace.id:
            raise json_error(404, "app_not_found", "App not found." + route_hint(request.path, self.rules))
        return app

    def _mode_not_supported(self, request: web.Request, exc: AppModeNotSupportedError) -> DifyHTTPError:
        return json_error(404, "app_not_found", exc.message + route_hint(request.path, self.rules))

    async def _json_body(self, request: web.Request) -> Any:
        if not request.body_exists:
            return None
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @staticmethod
    def _auth_response(response: AuthResponse) -> web.Response:
        return json_response(response.body, set_cookies=response.set_cookies)

    # -- shared steps for the record routes (records_api.py) -------------

    def add_route(self, app: web.Application, method: str, path: str, rule: str, handler: Handler) -> None:
        """Add a route under ``/console/api``. ``rule`` is its Flask rule, which 404 hints list."""
        self._add(app, method, path, rule, handler)

    def principal(self, request: web.Request) -> Principal:
        """Authenticate a console request (CSRF included) or raise ``DifyHTTPError`` 401."""
        return self._principal(request)

    def app_for(self, request: web.Request, principal: Principal) -> App:
        """Return the app named in the path, or raise 404 ``app_not_found``."""
        return self._app(request, principal)

    def mode_not_supported(self, request: web.Request, supported: str) -> DifyHTTPError:
        """Return the 404 ``app_not_found`` error for an app mode outside ``supported`` (a Python set repr)."""
        return self._mode_not_supported(request, AppModeNotSupportedError(supported))

    def time_window(self, request: web.Request, principal: Principal) -> TimeWindow:
        """Parse the ``start``/``end`` query values in the account's timezone, as the statistics do."""
        return self._window(request, principal)

    # -- authentication routes -------------------------------------------

    async def setup(self, request: web.Request) -> web.Response:
        """``GET /setup``: setup status; needs no authentication."""
        admin = self._sim.admin
        return json_response({"step": "finished", "setup_at": admin.created_at.replace(tzinfo=None).isoformat()})

    async def login(self, request: web.Request) -> web.Response:
        """``POST /login``: check the credentials and start a session."""
        payload = await self._json_body(request)
        return self._auth_response(self._sim.auth.login(payload))

    async def refresh_token(self, request: web.Request) -> web.Response:
        """``POST /refresh-token``: rotate the refresh token (no CSRF check)."""
        AUTH_KIND.set("refresh")
        payload = None if self._sim.profile.uses_csrf else await self._json_body(request)
        return self._auth_response(self._sim.auth.refresh(cookies=dict(request.cookies), payload=payload))

    async def logout(self, request: web.Request) -> web.Response:
        """``/logout``: needs a valid access token but no CSRF token."""
        principal = self._principal(request, check_csrf=False)
        return self._auth_response(self._sim.auth.logout(principal))

    # -- account and workspace routes ------------------------------------

    async def account_profile(self, request: web.Request) -> web.Response:
        """``GET /account/profile``."""
        principal = self._principal(request)
        return json_response(views.account_profile(principal.account))

    async def account_timezone(self, request: web.Request) -> web.Response:
        """``POST /account/timezone`` ``{"timezone": <IANA name>}``; returns the profile."""
        principal = self._principal(request)
        payload = await self._json_body(request)
        zone = payload.get("timezone") if isinstance(payload, dict) else None

        if not isinstance(payload, dict) or "timezone" not in payload:
            missing = FieldError(
                "timezone", "Field required", "missing", payload, "Missing required parameter in the JSON body"
            )
            raise invalid_param(self._sim.profile, "AccountTimezonePayload", [missing])
        if not isinstance(zone, str) or zone not in _known_timezones():
            invalid = FieldError(
                "timezone",
                f"Value error, {zone} is not a valid timezone.",
                "value_error",
                zone,
                "Invalid timezone string.",
            )
            raise invalid_param(self._sim.profile, "AccountTimezonePayload", [invalid])

        principal.account.timezone = zone
        logger.info("account timezone changed", extra={"account_id": principal.account.id, "timezone": zone})
        return json_response(views.account_profile(principal.account))

    async def workspaces(self, request: web.Request) -> web.Response:
        """``GET /workspaces``: the account's workspaces with the current one flagged."""
        principal = self._principal(request)
        return json_response(views.workspace_list(self._sim.dataset, principal.account, principal.workspace.id))

    async def workspace_current(self, request: web.Request) -> web.Response:
        """``/workspaces/current`` (GET up to 1.10.0, POST from 1.10.1)."""
        principal = self._principal(request)
        role = self._sim.dataset.role_in(principal.account.id, principal.workspace.id) or "owner"
        return json_response(views.current_workspace(principal.workspace, role))

    # -- app routes ------------------------------------------------------

    async def app_list(self, request: web.Request) -> web.Response:
        """``GET /apps``: page-based list of the current workspace's apps, newest first."""
        principal = self._principal(request)
        query = parse_app_list_query(request.query, self._sim.profile)

        apps = self._sim.dataset.apps_of(principal.workspace.id)
        if query.mode != "all":
            apps = [app for app in apps if app.mode.value == query.mode]
        if query.name:
            needle = query.name.lower()
            apps = [app for app in apps if needle in app.name.lower()]

        offset = (query.page - 1) * query.limit
        page = apps[offset : offset + query.limit]
        accounts = self._sim.dataset.accounts
        body = {
            "page": query.page,
            "limit": query.limit,
            "total": len(apps),
            "has_more": offset + query.limit < len(apps),
            "data": [views.app_list_item(app, accounts[app.created_by].name) for app in page],
        }
        return json_response(body)

    async def app_detail(self, request: web.Request) -> web.Response:
        """``GET /apps/<uuid>``."""
        principal = self._principal(request)
        app = self._app(request, principal)
        return json_response(views.app_detail(app, f"{request.scheme}://{request.host}/v1"))

    def _window(self, request: web.Request, principal: Principal) -> TimeWindow:
        try:
            return parse_time_window(
                request.query.get("start"), request.query.get("end"), principal.account.timezone, self._sim.profile
            )
        except TimeWindowError as exc:
            if self._sim.profile.pydantic_errors or exc.param is None:
                raise json_error(400, "bad_request", exc.message) from exc
            # NOTE: pre-1.11.0 wording of Dify's DatetimeString check, read from
            # source and not compared with a live server.
            legacy = f"Invalid argument: {exc.value}. argument must be conform to the format {TIME_FORMAT}"
            raise invalid_param(
                self._sim.profile, "StatisticTimeRangeQuery", [FieldError(exc.param, exc.message, "value_error", exc.value, legacy)]
            ) from exc

    def _message_statistic_handler(self, name: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            principal = self._principal(request)
            app = self._app(request, principal)
            sim = self._sim
            try:
                window = self._window_after_mode_check(request, principal, app, name)
                rows = message_statistic(
                    name,
                    app,
                    sim.dataset.records[app.id],
                    window,
                    principal.account.timezone,
                    now=sim.clock.now(),
                    exclude_debugger=sim.profile.exclude_debugger_from_stats,
                )
            except AppModeNotSupportedError as exc:
                raise self._mode_not_supported(request, exc) from exc
            return json_response({"data": rows})

        return handle

    def _workflow_statistic_handler(self, name: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            principal = self._principal(request)
            app = self._app(request, principal)
            sim = self._sim
            try:
                window = self._window_after_mode_check(request, principal, app, f"workflow/{name}")
                rows = workflow_statistic(
                    name, app, sim.dataset.records[app.id], window, principal.account.timezone, now=sim.clock.now()
                )
            except AppModeNotSupportedError as exc:
                raise self._mode_not_supported(request, exc) from exc
            return json_response({"data": rows})

        return handle

    def _window_after_mode_check(self, request: web.Request, principal: Principal, app: App, endpoint: str) -> TimeWindow:
        # Dify's get_app_model decorator rejects the mode before the query is parsed.
        check_mode(endpoint, app)
        return self._window(request, principal)
