"""A small stand-in for Dify's console API, built from captured real Dify 1.15.0 responses.

The client tests run against it on 127.0.0.1. It responds with the status,
headers and body of the capture that matches the situation (wrong password,
missing CSRF header, rotated refresh token, ...) and issues real HS256 JWTs
in place of the redacted token values. Older login generations, for which no
capture exists, get the documented body shapes:

* ``0.9.1``: ``{"result": "success", "data": "<JWT>"}``, Bearer, no refresh.
* ``1.9.1``: ``data`` with ``access_token`` and ``refresh_token``, Bearer,
  refresh with a JSON body.
* ``1.10.0``: cookies and CSRF as in 1.15, plain password, workspace by GET.
* ``1.15``: as captured: cookies and CSRF, Base64 password, workspace by POST.

Token expiry is not driven by a clock: a test calls :meth:`FakeDify.expire_access_tokens`
or :meth:`FakeDify.revoke_refresh_tokens` to make the server reject them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import jwt
from aiohttp import web
from multidict import CIMultiDict

from tests.fixtures_loader import CAPTURES, capture

SECRET_KEY = "fake-dify-test-signing-key-0123456789"
ACCOUNT_ID = "1016a55c-9ac9-4e68-ae09-e3d70e4d9ff1"
WORKSPACE_ID = "f01b64e3-cae1-412a-a041-581d0431e3a4"
EMAIL = "admin@example.com"
PASSWORD = "correct horse battery staple"

#: Response headers of a capture that the fake recomputes or leaves out.
_DROPPED_HEADERS = {"content-length", "date", "set-cookie", "x-version", "content-type"}

_LOCKOUT_BODY = {
    "code": "email_code_login_limit",
    "message": "Too many incorrect password attempts. Please try again later.",
    "status": 429,
}
_WORKSPACE_NOT_FOUND_BODY = {
    "result": "fail",
    "data": "workspace not found, please contact system admin to invite you to join in a workspace",
}
_METHOD_NOT_ALLOWED_BODY = {
    "code": "method_not_allowed",
    "message": "The method is not allowed for the requested URL.",
    "status": 405,
}

PROFILES = {
    "0.9.1": {"generation": "body-token", "base64_password": False, "workspace_method": "GET", "version": "0.9.1"},
    "1.9.1": {"generation": "token-pair", "base64_password": False, "workspace_method": "GET", "version": "1.9.1"},
    "1.10.0": {"generation": "cookie-csrf", "base64_password": False, "workspace_method": "GET", "version": "1.10.0"},
    "1.15": {"generation": "cookie-csrf", "base64_password": True, "workspace_method": "POST", "version": "1.15.0"},
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    cookies: dict[str, str]
    json: Any


@dataclass
class Scripted:
    """A response that replaces the fake's normal response to the next matching request."""

    status: int
    body: Any = None
    raw_body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def scripted_from_capture(name: str) -> Scripted:
    """Return the captured response ``name`` as a scripted one (body and status only)."""
    response = capture(name)["response"]
    if response["body_kind"] == "json":
        return Scripted(status=response["status"], body=response["body"])
    content_type = dict((key.lower(), value) for key, value in response["headers"]).get("content-type", "text/html")
    return Scripted(status=response["status"], raw_body=response["body"].encode(), content_type=content_type)


class FakeDify:
    """An aiohttp application that behaves like one Dify profile for one account.

    ``version_header`` overrides the ``X-Version`` value; None leaves the
    header out, like releases that do not send it. ``cookie_prefix`` and
    ``secure_cookies`` reproduce a Dify whose console URLs are https
    (``__Host-`` names with ``Secure``). ``server_clock_offset_s`` moves the
    server's clock (token ``exp`` and the ``Date`` header) away from this host's. Every request is appended to
    :attr:`requests`; :attr:`issued_secrets` contains every token, cookie value
    and key the fake handed out or accepts, for log scans.
    """

    def __init__(
        self,
        profile: str = "1.15",
        *,
        version_header: str | None = "",
        cookie_prefix: str = "",
        secure_cookies: bool = False,
        access_lifetime_s: int = 3600,
        admin_key: str | None = None,
        apps: list[dict[str, Any]] | None = None,
        login_result_fail: bool = False,
        server_clock_offset_s: float = 0.0,
    ) -> None:
        settings = PROFILES[profile]
        self.profile = profile
        self.generation: str = settings["generation"]
        self.base64_password: bool = settings["base64_password"]
        self.workspace_method: str = settings["workspace_method"]
        self.version_header = settings["version"] if version_header == "" else version_header
        self.cookie_prefix = cookie_prefix
        self.secure_cookies = secure_cookies
        self.access_lifetime_s = access_lifetime_s
        self.admin_key = admin_key
        self.login_result_fail = login_result_fail
        self.server_clock_offset_s = server_clock_offset_s
        self.apps = apps if apps is not None else capture("20_apps_list_l100")["response"]["body"]["data"]

        self.requests: list[RecordedRequest] = []
        self.failed_logins = 0
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.valid_csrf: set[str] = set()
        self.issued_secrets: list[str] = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode()]
        if admin_key:
            self.issued_secrets.append(admin_key)
        self._scripts: dict[tuple[str, str], deque[Scripted]] = {}

        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # Test controls

    def script(self, method: str, path: str, *responses: Scripted) -> None:
        """Respond to the next requests to ``method path`` with ``responses``, in order."""
        self._scripts.setdefault((method, path), deque()).extend(responses)

    def expire_access_tokens(self) -> None:
        """Make every issued access token fail as expired."""
        self.valid_access.clear()

    def revoke_refresh_tokens(self) -> None:
        """Make every issued refresh token invalid, as another session's logout would."""
        self.valid_refresh.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Return the recorded requests for ``path`` (and ``method``, when given)."""
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    @property
    def login_attempts(self) -> list[RecordedRequest]:
        return self.requests_to("/console/api/login", "POST")

    # Dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            cookies=_parse_cookie_header(request.headers.get("Cookie", "")),
            json=body,
        )
        self.requests.append(recorded)

        queue = self._scripts.get((request.method, request.path))
        if queue:
            return self._scripted(queue.popleft())

        path = request.path
        if path == "/console/api/setup" and request.method == "GET":
            return self._replay("01_setup_status_after")
        if path == "/console/api/login" and request.method == "POST":
            return self._login(recorded)
        if path == "/console/api/refresh-token" and request.method == "POST" and self.generation != "body-token":
            return self._refresh(recorded)

        rejection = self._check_auth(recorded)
        if rejection is not None:
            return rejection

        if path == "/console/api/account/profile" and request.method == "GET":
            return self._replay("03_account_profile")
        if path == "/console/api/workspaces/current":
            if request.method != self.workspace_method:
                return self._json(405, _METHOD_NOT_ALLOWED_BODY)
            return self._replay("03_workspaces_current")
        if path == "/console/api/apps" and request.method == "GET":
            return self._app_page(recorded)

        match = re.fullmatch(r"/console/api/apps/([^/]+)/(statistics|workflow/statistics)/([^/]+)", path)
        if match and request.method == "GET":
            return self._statistic(*match.groups())
        return self._replay("81_err_unknown_endpoint")

    # Handlers

    def _login(self, request: RecordedRequest) -> web.Response:
        if self.failed_logins > 5:
            return self._json(429, _LOCKOUT_BODY)

        payload = request.json if isinstance(request.json, dict) else {}
        password = payload.get("password")
        if not isinstance(password, str):
            return self._json(400, {"code": "invalid_param", "message": "password is required", "status": 400})

        if self.base64_password:
            try:
                password = base64.b64decode(password, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return self._replay("02_login_plain_password_rejected")

        if payload.get("email") != EMAIL or password != PASSWORD:
            self.failed_logins += 1
            return self._replay("96_login_wrong_password")

        self.failed_logins = 0
        if self.login_result_fail:
            return self._json(200, _WORKSPACE_NOT_FOUND_BODY)

        if self.generation == "body-token":
            return self._json(200, {"result": "success", "data": self._issue_access()})
        if self.generation == "token-pair":
            return self._json(200, {"result": "success", "data": self._issue_pair()})
        return self._replay("10_login", set_cookies=self._issue_cookies(order=("access", "refresh", "csrf")))

    def _refresh(self, request: RecordedRequest) -> web.Response:
        if self.generation == "token-pair":
            token = request.json.get("refresh_token") if isinstance(request.json, dict) else None
            if token not in self.valid_refresh:
                return self._json(401, {"result": "fail", "data": "Invalid refresh token"})
            self.valid_refresh.discard(token)
            return self._json(200, {"result": "success", "data": self._issue_pair()})

        token = request.cookies.get(self.cookie_prefix + "refresh_token")
        if token is None:
            return self._replay("13_refresh_token_missing")
        if token not in self.valid_refresh:
            return self._replay("12_refresh_token_reuse_old")
        self.valid_refresh.discard(token)
        return self._replay("11_refresh_token", set_cookies=self._issue_cookies(order=("csrf", "access", "refresh")))

    def _check_auth(self, request: RecordedRequest) -> web.Response | None:
        authorization = request.headers.get("Authorization", "")
        bearer = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None

        if self.admin_key is not None and bearer == self.admin_key:
            workspace = request.headers.get("X-WORKSPACE-ID")
            if workspace is None:
                return self._replay("85_admin_key_no_workspace_header")
            if workspace != WORKSPACE_ID:
                return self._replay("85_admin_key_unknown_workspace")
            return None

        if self.generation in ("body-token", "token-pair"):
            if bearer is None:
                return self._replay("80_err_no_auth")
            if bearer not in self.valid_access:
                return self._replay("99_expired_access_token")
            return None

        token = request.cookies.get(self.cookie_prefix + "access_token") or bearer
        if token is None:
            return self._replay("80_err_no_auth")
        if token not in self.valid_access:
            return self._replay("99_expired_access_token")

        csrf_cookie = request.cookies.get(self.cookie_prefix + "csrf_token")
        csrf_header = request.headers.get("X-CSRF-Token")
        if csrf_cookie is None or csrf_header != csrf_cookie or csrf_header not in self.valid_csrf:
            return self._replay("80_err_cookie_no_csrf_header")
        return None

    def _app_page(self, request: RecordedRequest) -> web.Response:
        page = int(request.query.get("page", "1"))
        limit = int(request.query.get("limit", "20"))
        if not 1 <= limit <= 100 or page < 1:
            return self._json(400, {"code": "invalid_param", "message": "invalid page or limit", "status": 400})

        data = self.apps[(page - 1) * limit : page * limit]
        body = {
            "page": page,
            "limit": limit,
            "total": len(self.apps),
            "has_more": page * limit < len(self.apps),
            "data": data,
        }
        return self._json(200, body)

    def _statistic(self, app_id: str, group: str, name: str) -> web.Response:
        try:
            uuid.UUID(app_id)
        except ValueError:
            return self._replay("81_err_non_uuid_app_id")

        app = next((app for app in self.apps if app["id"] == app_id), None)
        if app is None:
            return self._replay("81_err_wrong_app_id")

        prefix = "30_stats" if group == "statistics" else "40_wfstats"
        name_for_capture = f"{prefix}_{name}_{app['mode']}_range11d"
        if (CAPTURES / f"{name_for_capture}.json").exists():
            return self._replay(name_for_capture)
        return self._replay("81_err_unknown_endpoint")

    # Token issuing

    def _server_time(self) -> float:
        return time.time() + self.server_clock_offset_s

    def _issue_access(self) -> str:
        exp = int(self._server_time()) + self.access_lifetime_s
        claims = {"user_id": ACCOUNT_ID, "exp": exp, "iss": "SELF_HOSTED", "sub": "Console API Passport"}
        token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
        self.valid_access.add(token)
        self.issued_secrets.append(token)
        return token

    def _issue_refresh(self) -> str:
        token = secrets.token_hex(64)
        self.valid_refresh.add(token)
        self.issued_secrets.append(token)
        return token

    def _issue_csrf(self) -> str:
        exp = int(self._server_time()) + self.access_lifetime_s
        token = jwt.encode({"exp": exp, "sub": ACCOUNT_ID}, SECRET_KEY, algorithm="HS256")
        self.valid_csrf.add(token)
        self.issued_secrets.append(token)
        return token

    def _issue_pair(self) -> dict[str, str]:
        return {"access_token": self._issue_access(), "refresh_token": self._issue_refresh()}

    def _issue_cookies(self, order: tuple[str, ...]) -> list[str]:
        """Build the three Set-Cookie headers in ``order``, with the attributes Dify 1.15 sends."""
        now = self._server_time()
        headers: list[str] = []
        for kind in order:
            if kind == "access":
                name, value, max_age, http_only = "access_token", self._issue_access(), self.access_lifetime_s, True
            elif kind == "refresh":
                name, value, max_age, http_only = "refresh_token", self._issue_refresh(), 30 * 86400, True
            else:
                name, value, max_age, http_only = "csrf_token", self._issue_csrf(), self.access_lifetime_s, False

            parts = [
                f"{self.cookie_prefix}{name}={value}",
                f"Expires={formatdate(now + max_age, usegmt=True)}",
                f"Max-Age={max_age}",
            ]
            if http_only:
                parts.append("HttpOnly")
            if self.secure_cookies:
                parts.append("Secure")
            parts.extend(["Path=/", "SameSite=Lax"])
            headers.append("; ".join(parts))
        return headers

    # Response building

    def _replay(self, name: str, *, set_cookies: list[str] | None = None) -> web.Response:
        response = capture(name)["response"]
        headers = CIMultiDict(
            (key, value) for key, value in response["headers"] if key.lower() not in _DROPPED_HEADERS
        )
        for cookie in set_cookies or []:
            headers.add("Set-Cookie", cookie)
        self._add_version(headers)

        if response["body_kind"] == "json":
            return web.Response(
                status=response["status"],
                headers=headers,
                body=json.dumps(response["body"]).encode(),
                content_type="application/json",
            )
        content_type = dict((key.lower(), value) for key, value in response["headers"]).get(
            "content-type", "text/html; charset=utf-8"
        )
        headers["Content-Type"] = content_type
        return web.Response(status=response["status"], headers=headers, body=response["body"].encode())

    def _json(self, status: int, body: Any) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict()
        self._add_version(headers)
        return web.Response(
            status=status, headers=headers, body=json.dumps(body).encode(), content_type="application/json"
        )

    def _scripted(self, scripted: Scripted) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(scripted.headers)
        self._add_version(headers)
        if scripted.raw_body is not None:
            headers["Content-Type"] = scripted.content_type
            return web.Response(status=scripted.status, headers=headers, body=scripted.raw_body)
        return web.Response(
            status=scripted.status,
            headers=headers,
            body=json.dumps(scripted.body).encode(),
            content_type="application/json",
        )

    def _add_version(self, headers: CIMultiDict[str]) -> None:
        """Add ``X-Version`` (unless disabled) and the ``Date`` of the server's clock."""
        if self.version_header is not None:
            headers["X-Version"] = self.version_header
        headers["Date"] = formatdate(self._server_time(), usegmt=True)


def _parse_cookie_header(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, separator, value = pair.strip().partition("=")
        if separator:
            cookies[name] = value
    return cookies
