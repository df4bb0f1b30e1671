"""Typed calls to the Dify console endpoints the exporter reads."""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import quote

from otel_dify.dify.auth import (
    AdminKeyAuthenticator,
    AdminKeyCredentials,
    Authorization,
    ConsoleAuthenticator,
    ConsoleCredentials,
)
from otel_dify.dify.errors import AuthenticationError, HTTPStatusError, InvalidResponseError
from otel_dify.dify.models import App, LoginGeneration, Profile, Workspace
from otel_dify.dify.transport import Response, Transport
from otel_dify.dify.version import WORKSPACE_POST_SINCE, ServerVersion

logger = logging.getLogger(__name__)

CONSOLE_PREFIX = "/console/api"
PROFILE_ENDPOINT = "/console/api/account/profile"
WORKSPACE_ENDPOINT = "/console/api/workspaces/current"
APPS_ENDPOINT = "/console/api/apps"

#: Largest page size ``GET /console/api/apps`` accepts.
APPS_PAGE_LIMIT = 100

_STATISTIC_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class _Authenticator(Protocol):
    """The interface that the console-session and admin-key authenticators share."""

    @property
    def generation(self) -> LoginGeneration | None: ...

    @property
    def can_reauthorize(self) -> bool: ...

    async def login(self) -> None: ...

    async def authorize(self) -> Authorization: ...

    async def reauthorize(self, stale: Authorization) -> Authorization: ...

    def forget(self) -> None: ...


class DifyClient:
    """One authenticated view of one workspace (console session's current workspace, or one admin-key workspace).

    ``base_url`` is the Dify site root, such as ``http://dify:5001``; the
    client appends ``/console/api``. ``auth_backoff_s`` is the pause after a
    failed login (at least 900 s, see :mod:`otel_dify.dify.auth.backoff`).
    ``max_pages`` bounds the pages :meth:`list_apps` reads. ``clock``
    returns monotonic seconds; it drives token renewal and the login
    back-off.

    Every authenticated call that gets 401 renews the session once (refresh,
    or a new login) and replays the request once; a second 401 raises
    AuthenticationError. With an admin key a 401 raises at once. Calls may
    run concurrently; they share one session.
    """

    def __init__(
        self,
        base_url: str,
        credentials: ConsoleCredentials | AdminKeyCredentials,
        transport: Transport,
        *,
        auth_backoff_s: float = 900.0,
        max_pages: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")

        self._console_url = base_url.rstrip("/") + CONSOLE_PREFIX
        self._transport = transport
        self._max_pages = max_pages
        self._server_version = ServerVersion()
        self._workspace_method: str | None = None

        self._auth: _Authenticator
        if isinstance(credentials, AdminKeyCredentials):
            self._auth = AdminKeyAuthenticator(credentials)
        elif isinstance(credentials, ConsoleCredentials):
            self._auth = ConsoleAuthenticator(
                self._console_url,
                credentials,
                transport,
                self._server_version,
                auth_backoff_s=auth_backoff_s,
                clock=clock,
            )
        else:
            raise TypeError(
                "credentials must be ConsoleCredentials or AdminKeyCredentials, "
                f"got {type(credentials).__name__}"
            )

    @property
    def generation(self) -> LoginGeneration | None:
        """How the session authenticates; known after the first successful login (at once for an admin key)."""
        return self._auth.generation

    @property
    def server_version(self) -> str | None:
        """The latest ``X-Version`` header Dify sent, or None when no response carried one."""
        return self._server_version.text

    async def login(self) -> None:
        """Log in unless a fresh session exists; do nothing for an admin key.

        Raises:
            AuthBackoffError: the pause after a failed login still runs; no request was sent.
            LoginLockedError: Dify locked the e-mail after too many failed logins (429).
            AuthenticationError: Dify rejected the credentials or the account.
        """
        await self._auth.login()

    async def close(self) -> None:
        """Forget the session. It is not logged out, because a Dify logout
        revokes the account's latest refresh token, which may be a human's.
        The transport stays open; its owner closes it.
        """
        self._auth.forget()

    async def get_profile(self) -> Profile:
        """Return the account id and timezone from ``GET /console/api/account/profile``.

        With an admin key the profile is the workspace owner's.
        """
        body = await self._request_json("GET", "/account/profile", endpoint=PROFILE_ENDPOINT)
        account_id = _require_str(body, "id", PROFILE_ENDPOINT)
        timezone = _require_str(body, "timezone", PROFILE_ENDPOINT)
        return Profile(account_id=account_id, timezone=timezone)

    async def get_workspace(self) -> Workspace:
        """Return the current workspace from ``/console/api/workspaces/current``.

        Dify 1.10.1 and later serve it as POST, older releases as GET. The
        method is chosen by the server version (or by the login generation when
        the version is unknown), and on a 405 the other method is tried once.
        The method that worked is remembered.
        """
        # The login response carries the server version, which decides the method.
        await self._auth.login()
        method = self._workspace_method or self._guess_workspace_method()

        try:
            body = await self._request_workspace(method)
        except HTTPStatusError as exc:
            if exc.status != 405:
                raise
            rejected, method = method, ("GET" if method == "POST" else "POST")
            logger.info(
                "Dify rejected the method for the current workspace with 405; trying the other method",
                extra={"endpoint": WORKSPACE_ENDPOINT, "rejected_method": rejected, "method": method},
            )
            body = await self._request_workspace(method)

        self._workspace_method = method
        return Workspace(
            id=_require_str(body, "id", WORKSPACE_ENDPOINT),
            name=_require_str(body, "name", WORKSPACE_ENDPOINT),
        )

    async def _request_workspace(self, method: str) -> Any:
        # Dify 1.15 accepts an empty JSON object as the POST body.
        body: dict[str, Any] | None = {} if method == "POST" else None
        return await self._request_json(method, "/workspaces/current", endpoint=WORKSPACE_ENDPOINT, json=body)

    def _guess_workspace_method(self) -> str:
        post_since = self._server_version.at_least(WORKSPACE_POST_SINCE)
        if post_since is not None:
            return "POST" if post_since else "GET"
        if self.generation in (LoginGeneration.BODY_TOKEN, LoginGeneration.TOKEN_PAIR):
            # Token logins ended with 1.9.2, before the switch to POST.
            return "GET"
        return "POST"

    async def list_apps(self) -> list[App]:
        """Return every app of the workspace, reading ``GET /console/api/apps`` 100 at a time.

        Reading stops when a page has ``has_more: false``, when a page is
        empty, or after ``max_pages`` pages; the last case logs a warning,
        because apps are then missing. An app that moves to a later page while
        the list is read (a new app shifts the order) is returned once.
        """
        apps: dict[str, App] = {}
        for page in range(1, self._max_pages + 1):
            body = await self._request_json(
                "GET",
                "/apps",
                endpoint=APPS_ENDPOINT,
                params={"page": str(page), "limit": str(APPS_PAGE_LIMIT)},
            )
            page_apps, has_more = _parse_app_page(body)
            if not page_apps:
                break
            for app in page_apps:
                apps.setdefault(app.id, app)
            if not has_more:
                break
        else:
            logger.warning(
                "Stopped listing Dify apps at the page limit; the rest are not polled",
                extra={"endpoint": APPS_ENDPOINT, "max_pages": self._max_pages, "apps_listed": len(apps)},
            )
        return list(apps.values())

    async def get_app_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        """Return the rows of ``GET /console/api/apps/{app_id}/statistics/{name}``.

        ``start`` and ``end`` are ``"YYYY-MM-DD HH:MM"`` in the account's
        timezone; start is inclusive and end exclusive, and None leaves the
        bound open. Days without data have no row.

        Raises:
            ValueError: ``name`` is not a lower-case path segment such as ``token-costs``.
            NotFoundError: unknown app, or a statistic the app's mode lacks.
            InvalidResponseError: the body is not ``{"data": [{...}, ...]}``.
        """
        return await self._get_statistic(app_id, "statistics", name, start=start, end=end)

    async def get_workflow_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        """Return the rows of ``GET /console/api/apps/{app_id}/workflow/statistics/{name}``.

        Parameters, errors and row semantics as in :meth:`get_app_statistic`.
        """
        return await self._get_statistic(app_id, "workflow/statistics", name, start=start, end=end)

    async def _get_statistic(
        self, app_id: str, group: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        if not _STATISTIC_NAME.match(name):
            raise ValueError(f"invalid statistic name {name!r}: expected lower-case words joined by '-'")
        if not app_id:
            raise ValueError("app_id must not be empty")

        endpoint = f"{CONSOLE_PREFIX}/apps/{{app_id}}/{group}/{name}"
        params: dict[str, str] = {}
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end

        body = await self._request_json(
            "GET",
            f"/apps/{quote(app_id, safe='')}/{group}/{name}",
            endpoint=endpoint,
            app_id=app_id,
            params=params,
        )

        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise InvalidResponseError(
                f"GET {endpoint} returned a body that is not {{\"data\": [objects]}}",
                endpoint=endpoint,
                app_id=app_id,
                status=200,
            )
        return rows

    async def get_console_json(
        self,
        path: str,
        *,
        endpoint: str,
        app_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send an authenticated ``GET /console/api{path}`` and return its parsed JSON body.

        ``path`` starts with ``/`` and carries ids already URL-quoted;
        ``endpoint`` is its template (``/console/api/apps/{app_id}/...``) for
        logs, errors and the request self-metric. The session is renewed once
        on 401, as for every other call.

        Raises:
            ValueError: ``path`` does not start with ``/``.
            DifyError: a subclass for the failure, as :class:`Transport` raises them.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return await self._request_json(
            "GET", path, endpoint=endpoint, app_id=app_id, params=dict(params) if params else None
        )

    async def _request_json(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        app_id: str | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Send an authenticated console request and return its JSON body, renewing once on 401."""
        authorization = await self._auth.authorize()
        response = await self._send(
            method, path, authorization, endpoint=endpoint, app_id=app_id, params=params, json=json
        )
        if response.status != 401:
            return response.body

        if not self._auth.can_reauthorize:
            raise AuthenticationError(
                f"Dify rejected the admin API key on {method} {endpoint} "
                f"({_describe_rejection(response)}); check the key, the workspace id and "
                "ADMIN_API_KEY_ENABLE=true on the server (Dify 1.9.2 to 1.10.x cannot use the admin key)",
                endpoint=endpoint,
                app_id=app_id,
                status=401,
            )

        logger.info(
            "Dify returned 401; renewing the session and sending the request again",
            extra={"endpoint": endpoint, "app_id": app_id, "dify_message": _describe_rejection(response)},
        )
        authorization = await self._auth.reauthorize(authorization)
        response = await self._send(
            method, path, authorization, endpoint=endpoint, app_id=app_id, params=params, json=json
        )
        if response.status != 401:
            return response.body

        raise AuthenticationError(
            f"Dify returned 401 to {method} {endpoint} again after the session was renewed "
            f"({_describe_rejection(response)}); the account may lack access to this workspace or app",
            endpoint=endpoint,
            app_id=app_id,
            status=401,
        )

    async def _send(
        self,
        method: str,
        path: str,
        authorization: Authorization,
        *,
        endpoint: str,
        app_id: str | None,
        params: dict[str, str] | None,
        json: Any,
    ) -> Response:
        return await self._transport.request(
            method,
            self._console_url + path,
            endpoint=endpoint,
            app_id=app_id,
            headers=authorization.headers,
            params=params,
            json=json,
            accept_statuses=(401,),
            on_response_headers=self._server_version.update_from_headers,
        )


def _describe_rejection(response: Response) -> str:
    body = response.body if isinstance(response.body, dict) else {}
    message = body.get("message")
    return message[:200] if isinstance(message, str) and message else "no reason given"


def _require_str(body: Any, key: str, endpoint: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidResponseError(
            f"The response of {endpoint} lacks the string field {key!r}", endpoint=endpoint, status=200
        )
    return value


def _parse_app_page(body: Any) -> tuple[list[App], bool]:
    """Return the apps of one ``GET /console/api/apps`` page and its ``has_more`` flag."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise InvalidResponseError(
            "The app list response is not an object with a data list", endpoint=APPS_ENDPOINT, status=200
        )
    has_more = body.get("has_more")
    if not isinstance(has_more, bool):
        raise InvalidResponseError(
            "The app list response lacks the boolean has_more", endpoint=APPS_ENDPOINT, status=200
        )

    apps: list[App] = []
    for item in body["data"]:
        apps.append(
            App(
                id=_require_str(item, "id", APPS_ENDPOINT),
                name=_require_str(item, "name", APPS_ENDPOINT),
                mode=_require_str(item, "mode", APPS_ENDPOINT),
            )
        )
    return apps, has_more
