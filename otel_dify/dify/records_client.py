"""Typed calls to the Dify endpoints that list individual records: workflow runs, node executions, messages.

:class:`ConsoleRecordsClient` reads the console API through an authenticated
:class:`~otel_dify.dify.client.DifyClient`. :class:`ServiceApiClient` reads the
service API (``/v1``) of one app with that app's API key. Both return the JSON
body of a response after checking that it is an object; turning the objects
into records is :mod:`otel_dify.records.parsing`'s job.

The service API client calls three endpoints only, none of which takes a
``user`` parameter: Dify creates an end-user row for every new ``user`` value
it receives, so an exporter must never send one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote

from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import InvalidResponseError
from otel_dify.dify.transport import Transport
from otel_dify.dify.version import ServerVersion, Version, parse_version
from otel_dify.logs import register_secret

logger = logging.getLogger(__name__)

#: Largest page size of Dify's record lists.
RECORDS_PAGE_LIMIT = 100

#: First release whose ``workflow-runs`` lists accept ``triggered_from``. Before it they
#: return only the editor's debug runs, so the exporter must not read them at all.
WORKFLOW_RUN_FILTERS_SINCE: Version = (1, 9, 2)

#: First release whose workflow log lists apply ``created_at__after`` and ``created_at__before``.
LOG_TIME_FILTERS_SINCE: Version = (1, 0, 1)

WORKFLOW_APP_LOGS_ENDPOINT = "/console/api/apps/{app_id}/workflow-app-logs"
ADVANCED_CHAT_RUNS_ENDPOINT = "/console/api/apps/{app_id}/advanced-chat/workflow-runs"
WORKFLOW_RUN_ENDPOINT = "/console/api/apps/{app_id}/workflow-runs/{run_id}"
NODE_EXECUTIONS_ENDPOINT = "/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions"
CHAT_CONVERSATIONS_ENDPOINT = "/console/api/apps/{app_id}/chat-conversations"
CHAT_MESSAGES_ENDPOINT = "/console/api/apps/{app_id}/chat-messages"

SERVICE_INFO_ENDPOINT = "/v1/info"
SERVICE_WORKFLOW_LOGS_ENDPOINT = "/v1/workflows/logs"
SERVICE_WORKFLOW_RUN_ENDPOINT = "/v1/workflows/run/{workflow_run_id}"

#: Prefix of the app ids that the service-API mode derives from app keys.
SERVICE_APP_ID_PREFIX = "key-"


def iso_utc(unix_s: int) -> str:
    """Format Unix seconds as naive ISO 8601 UTC (``2026-12-04T19:29:09``).

    Dify compares the workflow log filters with naive UTC columns, and its
    documentation asks for UTC without an offset.
    """
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def service_app_id(api_key: str) -> str:
    """Return the stable app id of the service-API mode: ``key-`` and 16 hex digits of the key's SHA-256.

    ``GET /v1/info`` returns no app id, so the id derives from the key: the
    same key always gives the same id, and the id reveals nothing of the key.
    """
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
    return SERVICE_APP_ID_PREFIX + digest[:16]


def _require_object(body: Any, endpoint: str, app_id: str | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"GET {endpoint} returned a body that is not a JSON object", endpoint=endpoint, app_id=app_id, status=200
        )
    return body


def _check_page_size(limit: int) -> None:
    if not 1 <= limit <= RECORDS_PAGE_LIMIT:
        raise ValueError(f"limit must be 1 to {RECORDS_PAGE_LIMIT}, got {limit}")


class ConsoleRecordsClient:
    """Record lists of the console API, read through one workspace's :class:`DifyClient`.

    Calls may run concurrently. Every call raises the
    :class:`~otel_dify.dify.errors.DifyError` subclass of its failure, and
    :class:`InvalidResponseError` when the body is not a JSON object.
    """

    def __init__(self, client: DifyClient) -> None:
        self._client = client

    @property
    def server_version(self) -> Version | None:
        """The parsed ``X-Version`` of the last response, or None while unknown."""
        return parse_version(self._client.server_version)

    def supports_run_filters(self) -> bool:
        """Return whether the server is known to filter workflow-run lists by ``triggered_from``.

        An unknown version counts as too old, because reading an old server's
        run list would count the editor's debug runs.
        """
        version = self.server_version
        return version is not None and version >= WORKFLOW_RUN_FILTERS_SINCE

    def supports_log_time_filters(self) -> bool:
        """Return whether the server is known to apply ``created_at__after`` and ``created_at__before``."""
        version = self.server_version
        return version is not None and version >= LOG_TIME_FILTERS_SINCE

    async def workflow_app_logs(
        self, app_id: str, *, created_after: int, created_before: int, page: int, limit: int = RECORDS_PAGE_LIMIT
    ) -> dict[str, Any]:
        """Return one page of ``GET /console/api/apps/{app_id}/workflow-app-logs``, newest first.

        ``created_after`` and ``created_before`` are Unix seconds, both
        inclusive. Only workflow-mode apps have this list (others get 404).
        """
        _check_page_size(limit)
        params = {
            "created_at__after": iso_utc(created_after),
            "created_at__before": iso_utc(created_before),
            "page": str(page),
            "limit": str(limit),
        }
        return await self._get(
            f"/apps/{quote(app_id, safe='')}/workflow-app-logs", WORKFLOW_APP_LOGS_ENDPOINT, app_id, params
        )

    async def advanced_chat_runs(
        self, app_id: str, *, last_id: str | None, limit: int = RECORDS_PAGE_LIMIT
    ) -> dict[str, Any]:
        """Return one page of an advanced-chat app's published-app runs, newest first.

        Sends ``triggered_from=app-run``, so editor debug runs are left out.
        ``last_id`` continues after that run (strictly older runs).

        Raises:
            ValueError: the server is not known to be Dify 1.9.2 or later. Older
                releases ignore ``triggered_from`` and list debug runs only.
        """
        _check_page_size(limit)
        if not self.supports_run_filters():
            raise ValueError(
                "advanced-chat workflow runs can be read only from Dify 1.9.2 on; "
                f"the server reports version {self._client.server_version!r}"
            )
        params = {"triggered_from": "app-run", "limit": str(limit)}
        if last_id is not None:
            params["last_id"] = last_id
        path = f"/apps/{quote(app_id, safe='')}/advanced-chat/workflow-runs"
        return await self._get(path, ADVANCED_CHAT_RUNS_ENDPOINT, app_id, params)

    async def workflow_run(self, app_id: str, run_id: str) -> dict[str, Any]:
        """Return ``GET /console/api/apps/{app_id}/workflow-runs/{run_id}``: one run's status, tokens and times."""
        path = f"/apps/{quote(app_id, safe='')}/workflow-runs/{quote(run_id, safe='')}"
        return await self._get(path, WORKFLOW_RUN_ENDPOINT, app_id, None)

    async def node_executions(self, app_id: str, run_id: str) -> dict[str, Any]:
        """Return ``{"data": [node execution, ...]}`` of one workflow run, containers and children included."""
        path = f"/apps/{quote(app_id, safe='')}/workflow-runs/{quote(run_id, safe='')}/node-executions"
        return await self._get(path, NODE_EXECUTIONS_ENDPOINT, app_id, None)

    async def chat_conversations(
        self, app_id: str, *, updated_since: str, page: int, limit: int = RECORDS_PAGE_LIMIT
    ) -> dict[str, Any]:
        """Return one page of conversations updated at or after ``updated_since``, oldest update first.

        ``updated_since`` is ``YYYY-MM-DD HH:MM`` in the account's time zone.
        Sorting by ``updated_at`` makes Dify apply ``start`` to the update time.
        """
        _check_page_size(limit)
        params = {"start": updated_since, "sort_by": "updated_at", "page": str(page), "limit": str(limit)}
        path = f"/apps/{quote(app_id, safe='')}/chat-conversations"
        return await self._get(path, CHAT_CONVERSATIONS_ENDPOINT, app_id, params)

    async def chat_messages(
        self, app_id: str, conversation_id: str, *, first_id: str | None, limit: int = RECORDS_PAGE_LIMIT
    ) -> dict[str, Any]:
        """Return the newest ``limit`` messages of a conversation older than ``first_id``, in ascending time order."""
        _check_page_size(limit)
        params = {"conversation_id": conversation_id, "limit": str(limit)}
        if first_id is not None:
            params["first_id"] = first_id
        path = f"/apps/{quote(app_id, safe='')}/chat-messages"
        return await self._get(path, CHAT_MESSAGES_ENDPOINT, app_id, params)

    async def _get(self, path: str, endpoint: str, app_id: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        body = await self._client.get_console_json(path, endpoint=endpoint, app_id=app_id, params=params)
        return _require_object(body, endpoint, app_id)


class ServiceApiClient:
    """The service API (``/v1``) of one app, authenticated with that app's API key.

    ``base_url`` is the Dify site root. The key is registered with the log
    redaction at construction and is sent only in the ``Authorization``
    header. :attr:`app_id` is the id derived from the key (see
    :func:`service_app_id`). A 401 raises AuthenticationError at once, since
    an app key cannot be renewed.
    """

    def __init__(self, base_url: str, api_key: str, transport: Transport) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        register_secret(api_key)
        self._url = base_url.rstrip("/") + "/v1"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._transport = transport
        self._server_version = ServerVersion()
        self.app_id = service_app_id(api_key)

    @property
    def server_version(self) -> Version | None:
        return self._server_version.parsed

    def supports_log_time_filters(self) -> bool:
        """Return whether the server is known to apply the ``created_at`` filters of the workflow logs."""
        version = self._server_version.parsed
        return version is not None and version >= LOG_TIME_FILTERS_SINCE

    async def info(self) -> dict[str, Any]:
        """Return ``GET /v1/info``: ``{name, description, tags, mode, author_name}``, without an app id."""
        return await self._get("/info", SERVICE_INFO_ENDPOINT, None)

    async def workflow_logs(
        self, *, created_after: int, created_before: int, page: int, limit: int = RECORDS_PAGE_LIMIT
    ) -> dict[str, Any]:
        """Return one page of ``GET /v1/workflows/logs``, newest first; the item shape is the console's."""
        _check_page_size(limit)
        params = {
            "created_at__after": iso_utc(created_after),
            "created_at__before": iso_utc(created_before),
            "page": str(page),
            "limit": str(limit),
        }
        return await self._get("/workflows/logs", SERVICE_WORKFLOW_LOGS_ENDPOINT, params)

    async def workflow_run(self, run_id: str) -> dict[str, Any]:
        """Return ``GET /v1/workflows/run/{workflow_run_id}``: status, tokens and times of one run."""
        return await self._get(f"/workflows/run/{quote(run_id, safe='')}", SERVICE_WORKFLOW_RUN_ENDPOINT, None)

    async def _get(self, path: str, endpoint: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        response = await self._transport.request(
            "GET",
            self._url + path,
            endpoint=endpoint,
            app_id=self.app_id,
            headers=self._headers,
            params=params,
            on_response_headers=self._server_version.update_from_headers,
        )
        return _require_object(response.body, endpoint, self.app_id)
