"""Helpers for talking to a running simulator the way a client would."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from otel_dify.simulator import DifySimulator, SessionTokens, run_simulator


@dataclass
class Reply:
    """A finished response: status, headers and the body as JSON (or text when not JSON)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: Any
    text: str

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def b64(text: str) -> str:
    """Return Base64 of the UTF-8 text, as Dify 1.11.2+ expects login passwords."""
    return base64.b64encode(text.encode()).decode()


def session_headers(
    tokens: SessionTokens, *, mode: str = "cookie", prefix: str = "", csrf_override: str | None = None
) -> dict[str, str]:
    """Return the headers of an authenticated console request.

    ``mode``: ``cookie`` (access and csrf cookies plus header), ``bearer``
    (Authorization plus csrf cookie and header), ``bearer-nocsrf``,
    ``bearer-csrfheader-only`` or ``cookie-nocsrf``. ``prefix`` is ``__Host-``
    for secure cookie names.
    """
    csrf = csrf_override if csrf_override is not None else tokens.csrf_token or ""
    if mode == "cookie":
        return {"Cookie": f"{prefix}access_token={tokens.access_token}; {prefix}csrf_token={csrf}", "X-CSRF-Token": csrf}
    if mode == "bearer":
        return {
            "Authorization": f"Bearer {tokens.access_token}",
            "Cookie": f"{prefix}csrf_token={csrf}",
            "X-CSRF-Token": csrf,
        }
    if mode == "bearer-nocsrf":
        return {"Authorization": f"Bearer {tokens.access_token}"}
    if mode == "bearer-csrfheader-only":
        return {"Authorization": f"Bearer {tokens.access_token}", "X-CSRF-Token": csrf}
    if mode == "cookie-nocsrf":
        return {"Cookie": f"{prefix}access_token={tokens.access_token}; {prefix}csrf_token={csrf}"}
    raise ValueError(f"unknown auth mode {mode}")


class Console:
    """A bare HTTP client for the simulator; it never stores cookies by itself."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, simulator: DifySimulator) -> None:
        self.http = http
        self.base_url = base_url
        self.sim = simulator

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"headers": headers or {}, "params": params}
        if json_body is not None:
            kwargs["json"] = json_body
        async with self.http.request(method, self.base_url + path, **kwargs) as response:
            text = await response.text()
            try:
                body: Any = json.loads(text)
            except json.JSONDecodeError:
                body = text
            return Reply(response.status, response.headers, body, text)

    async def get(self, path: str, tokens: SessionTokens | None = None, *, mode: str = "cookie", **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", None) or {})
        if tokens is not None:
            headers.update(session_headers(tokens, mode=mode))
        return await self.request("GET", path, headers=headers, **kwargs)

    async def login(self, email: str | None = None, password: str | None = None, *, encode: bool = True) -> Reply:
        email = email or self.sim.admin.email
        password = self.sim.admin_password if password is None else password
        sent = b64(password) if encode and self.sim.profile.base64_password else password
        return await self.request(
            "POST", "/console/api/login", json_body={"email": email, "password": sent, "remember_me": True}
        )

    async def stats(
        self, app_id: str, name: str, tokens: SessionTokens, params: dict[str, str] | None = None, *, workflow: bool = False
    ) -> Reply:
        section = "workflow/statistics" if workflow else "statistics"
        return await self.get(f"/console/api/apps/{app_id}/{section}/{name}", tokens, params=params)


def set_cookie_values(reply: Reply) -> dict[str, str]:
    """Return ``name -> value`` of every ``Set-Cookie`` header of a reply."""
    values = {}
    for header in reply.headers.getall("Set-Cookie", []):
        name, _, rest = header.partition("=")
        values[name] = rest.split(";", 1)[0]
    return values


def set_cookie_attributes(reply: Reply, name: str) -> list[str]:
    """Return the attributes (``Max-Age=3600``, ``HttpOnly``, ...) of one ``Set-Cookie`` header."""
    for header in reply.headers.getall("Set-Cookie", []):
        if header.startswith(f"{name}="):
            return [part.strip() for part in header.split(";")[1:]]
    raise AssertionError(f"no Set-Cookie for {name}")


@asynccontextmanager
async def serving(simulator: DifySimulator) -> AsyncIterator[Console]:
    """Serve ``simulator`` on a loopback port and yield a client for it."""
    async with run_simulator(simulator) as base_url:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            yield Console(http, base_url, simulator)
