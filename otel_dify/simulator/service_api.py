"""The service API (``/v1``) an app API key opens: app info, workflow logs and run details.

Each app has one key, ``app-`` plus 24 letters and digits, derived from the
app id so that it is the same on every run. Requests send it as
``Authorization: Bearer app-…``. The simulator serves only endpoints that
take no ``user`` parameter. Dify's ``/v1/messages`` and
``/v1/conversations`` create end users, so here they return 404, and the
request log still records every call to them.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from typing import TYPE_CHECKING

from aiohttp import web

from otel_dify.simulator.errors import json_error, unauthorized
from otel_dify.simulator.handlers import AUTH_KIND, json_response
from otel_dify.simulator.record_features import RecordFeatures
from otel_dify.simulator.record_queries import parse_app_log_query
from otel_dify.simulator.records import App
from otel_dify.simulator.run_views import app_log_item, service_run_detail
from otel_dify.simulator.workflow_logs import logged_runs, paginate

if TYPE_CHECKING:
    from otel_dify.simulator.server import DifySimulator

logger = logging.getLogger(__name__)

KEY_PREFIX = "app-"
KEY_LENGTH = 24
_KEY_ALPHABET = string.ascii_letters + string.digits
MISSING_HEADER = "Authorization header must be provided and start with 'Bearer'"
INVALID_KEY = "Access token is invalid"


def app_api_key(app_id: str) -> str:
    """Return the app's API key: ``app-`` and 24 letters and digits derived from the app id."""
    number = int.from_bytes(hashlib.sha256(f"app-api-key:{app_id}".encode()).digest(), "big")
    characters = []
    for _ in range(KEY_LENGTH):
        number, remainder = divmod(number, len(_KEY_ALPHABET))
        characters.append(_KEY_ALPHABET[remainder])
    return KEY_PREFIX + "".join(characters)


class ServiceApiRoutes:
    """The ``/v1`` routes of one ``DifySimulator``."""

    def __init__(self, simulator: DifySimulator) -> None:
        self._sim = simulator
        self._features = RecordFeatures.for_profile(simulator.profile)
        # key -> app id, rebuilt when apps are added.
        self._keys: dict[str, str] = {}

    def register(self, app: web.Application) -> None:
        """Add the service-API routes to ``app``."""
        app.router.add_get("/v1/info", self.info)
        app.router.add_get("/v1/workflows/logs", self.workflow_logs)
        app.router.add_get("/v1/workflows/run/{run_id}", self.workflow_run)

    def _app(self, request: web.Request) -> App:
        """Return the app of the request's key, or raise 401 as Dify's ``validate_app_token`` does."""
        header = request.headers.get("Authorization")
        if header is None or " " not in header:
            raise unauthorized(MISSING_HEADER)
        scheme, token = header.split(None, 1)
        if scheme.lower() != "bearer":
            raise unauthorized(MISSING_HEADER)

        if len(self._keys) != len(self._sim.dataset.apps):
            self._keys = {app_api_key(app_id): app_id for app_id in self._sim.dataset.apps}
        app_id = next((app_id for key, app_id in self._keys.items() if secrets.compare_digest(key, token.strip())), None)
        if app_id is None:
            raise unauthorized(INVALID_KEY)
        AUTH_KIND.set("app-key")
        return self._sim.dataset.apps[app_id]

    async def info(self, request: web.Request) -> web.Response:
        """``GET /v1/info``: the app's name, description, tags, mode and author, but not its id."""
        app = self._app(request)
        body: dict[str, object] = {"name": app.name, "description": f"Simulated {app.mode.value} app", "tags": []}
        if self._features.info_mode:
            body["mode"] = app.mode.value
        if self._features.info_author:
            body["author_name"] = self._sim.dataset.accounts[app.created_by].name
        return json_response(body)

    async def workflow_logs(self, request: web.Request) -> web.Response:
        """``GET /v1/workflows/logs``: the console app-log list of the key's app, without a mode check.

        Only workflow apps write app logs, so another app's key gets an empty page.
        """
        app = self._app(request)
        query = parse_app_log_query(request.query, self._sim.profile, service_api=True)
        dataset = self._sim.dataset
        runs = logged_runs(
            app,
            dataset.records[app.id],
            now=self._sim.clock.now(),
            log_filter=query.filter,
            account_id_of=lambda email: account.id if (account := dataset.account_by_email(email)) else None,
            end_user_of=lambda user_id: dataset.end_user(app.id, user_id),
        )
        page, total, has_more = paginate(runs, query.page, query.limit)
        items = [app_log_item(run, dataset.nodes_of(app.id, run.id), dataset, self._features, detail=False) for run in page]
        return json_response({"page": query.page, "limit": query.limit, "total": total, "has_more": has_more, "data": items})

    async def workflow_run(self, request: web.Request) -> web.Response:
        """``GET /v1/workflows/run/<run_id>``: one run of the key's app."""
        app = self._app(request)
        run_id = request.match_info["run_id"].lower()
        run = self._sim.dataset.workflow_run(app.id, run_id)
        if run is None or run.created_at > self._sim.clock.now():
            # Same body as the console's 404 for an unknown run, also for a non-workflow app's key.
            raise json_error(404, "not_found", "Workflow run not found.")
        return json_response(service_run_detail(app, run, self._sim.dataset.nodes_of(app.id, run.id)))
