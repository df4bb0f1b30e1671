"""Faults that a test switches on and off while an exporter polls the simulator.

A :class:`FaultInjector` contains fault rules. ``DifySimulator(faults=...)``
installs its middleware inside the simulator's own, so a faulted response
still carries ``X-Version`` and ``Date`` and appears in the request log, and a
:class:`~otel_dify.simulator.errors.DifyHTTPError` raised by a fault is
rendered like any other Dify error. Each rule pairs a
:data:`FaultAction` with the requests it targets: a path glob, a method, an
app id, a number of requests to let through first (``skip``), a number of
requests to fault (``count``), and a probability drawn from the rule's own
seeded random generator. Every rule that fires wraps the rules added after
it and the simulator's handler, so an action that passes the request on
(:func:`before`, :func:`delay`, :func:`rewrite_json`) combines with later
rules, while one that responds by itself (:func:`error_status`) hides them.
A later rule is only counted when the request reaches it.

Actions (each returns a :data:`FaultAction`):

- :func:`drop_connection`: close the TCP connection without a response.
- :func:`delay`: hold the request, then let the simulator respond to it late.
- :func:`error_status`: a 5xx (or any) status with Dify's JSON error body or an HTML page.
- :func:`html_page`: a ``text/html`` page with status 200, 404 or another.
- :func:`truncated_json`: the real response cut short, still ``application/json``.
- :func:`rewrite_json`: the real response changed by a function, see
  :func:`drop_row_field`, :func:`set_row_field` and :func:`drop_field`.
- :func:`csrf_rejection`: Dify's 401 for a missing or invalid CSRF token.
- :func:`login_lockout`: Dify's 429 for an e-mail locked after failed logins.
- :func:`before`: run a callback (a clock jump, a token revocation), then respond normally.

Session faults that act on the simulator's state at once rather than per
request: :func:`revoke_access_tokens` and :func:`logout_latest_session`.
:class:`SwitchableServer` serves a simulator on a listener that a test can
close (connections are then refused) and open again on the same port.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from otel_dify.simulator.auth import CSRF_FAILURE, Principal
from otel_dify.simulator.errors import HTML_NOT_FOUND, DifyHTTPError, json_error, unauthorized
from otel_dify.simulator.tokens import TokenSigner

if TYPE_CHECKING:
    from otel_dify.simulator.server import DifySimulator

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The coroutine that handles a faulted request: it gets the request and the
#: next handler (the simulator's, or a later rule's) and returns the response
#: or raises DifyHTTPError.
FaultAction = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: Status that the request log shows for a request whose connection a fault
#: dropped. The client never received it, and 599 is not a standard HTTP status.
DROPPED_STATUS = 599

LOCKOUT_MESSAGE = "Too many incorrect password attempts. Please try again later."

# Nginx's page for an upstream that is down, as a reverse proxy in front of Dify serves it.
_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_MAINTENANCE_PAGE = "<!doctype html>\n<html><head><title>Dify</title></head><body>Maintenance</body></html>\n"


@dataclass
class Fault:
    """One rule of a :class:`FaultInjector`: which requests it targets and what it does to them.

    ``path`` is a glob (``fnmatch``, where ``*`` also matches ``/``) over the
    request path without the query. ``app_id`` limits the rule to paths that
    contain that id as a segment. The first ``skip`` targeted requests pass
    unharmed, then each one is faulted with ``probability`` until ``count``
    requests were faulted (None: no limit). ``matched`` counts the targeted
    requests that reached the rule while it was active, and ``applied`` the
    faulted ones.
    """

    name: str
    action: FaultAction = field(repr=False)
    path: str = "*"
    method: str | None = None
    app_id: str | None = None
    skip: int = 0
    count: int | None = None
    probability: float = 1.0
    seed: int = 0
    matched: int = 0
    applied: int = 0
    active: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must not be negative, got {self.count}")
        if self.skip < 0:
            raise ValueError(f"skip must not be negative, got {self.skip}")
        self._random = random.Random(self.seed)

    @property
    def spent(self) -> bool:
        """True once the rule has faulted ``count`` requests."""
        return self.count is not None and self.applied >= self.count

    def stop(self) -> None:
        """Switch the rule off; a request already being faulted finishes as it started."""
        self.active = False

    def targets(self, request: web.Request) -> bool:
        """Return whether ``request`` is one this rule is aimed at (before skip, count and probability)."""
        if self.method is not None and request.method != self.method.upper():
            return False
        if self.app_id is not None and self.app_id not in request.path.split("/"):
            return False
        return fnmatch.fnmatchcase(request.path, self.path)

    def fires(self) -> bool:
        """Count one targeted request and return whether the fault applies to it."""
        self.matched += 1
        if self.spent or self.matched <= self.skip:
            return False
        # The draw happens for every targeted request past ``skip``, so the
        # faulted requests depend only on the seed and the request order.
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.applied += 1
        return True


class FaultInjector:
    """Fault rules applied by an aiohttp middleware, switched on and off while the simulator serves.

    ``seed`` gives each rule added without its own seed a distinct, fixed
    one, so a run with probabilities repeats exactly. Rules and counters
    are changed from the event loop that serves the simulator; the class
    has no lock.
    """

    def __init__(self, seed: int = 0) -> None:
        self.faults: list[Fault] = []
        self._seed = seed
        self._release = asyncio.Event()

    def add(
        self,
        action: FaultAction,
        *,
        path: str = "*",
        method: str | None = None,
        app_id: str | None = None,
        skip: int = 0,
        count: int | None = None,
        probability: float = 1.0,
        seed: int | None = None,
        name: str | None = None,
    ) -> Fault:
        """Add a rule and return it; call :meth:`Fault.stop` or :meth:`remove` to end it.

        Raises ValueError for a probability outside [0, 1] or a negative
        ``skip`` or ``count``.
        """
        if seed is None:
            seed = self._seed * 1_000 + len(self.faults)
        fault = Fault(
            name=name or getattr(action, "__name__", "fault"),
            action=action,
            path=path,
            method=method,
            app_id=app_id,
            skip=skip,
            count=count,
            probability=probability,
            seed=seed,
        )
        self.faults.append(fault)
        self._release.clear()
        logger.info(
            "simulator fault added",
            extra={"fault": fault.name, "path_pattern": path, "app_id": app_id, "count": count, "probability": probability},
        )
        return fault

    def remove(self, fault: Fault) -> None:
        """Stop ``fault`` and drop it from the rules. Does nothing for a rule already removed."""
        fault.stop()
        if fault in self.faults:
            self.faults.remove(fault)

    def clear(self) -> None:
        """Stop every rule and end every :func:`delay` hold at once."""
        for fault in self.faults:
            fault.stop()
        self.faults.clear()
        self.release_holds()

    def release_holds(self) -> None:
        """End every :func:`delay` hold now; the held requests get the simulator's response."""
        self._release.set()

    async def wait_released(self, timeout_s: float) -> None:
        """Wait ``timeout_s`` seconds, or less when :meth:`release_holds` or :meth:`clear` runs."""
        try:
            await asyncio.wait_for(self._release.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply the rules that fire for ``request`` around ``handler``, the earliest-added outermost."""
        return await self._apply(list(self.faults), request, handler)

    async def _apply(self, rules: list[Fault], request: web.Request, handler: Handler) -> web.StreamResponse:
        for index, fault in enumerate(rules):
            if not fault.active or not fault.targets(request) or not fault.fires():
                continue
            logger.debug(
                "simulator fault applied",
                extra={"fault": fault.name, "http_method": request.method, "endpoint": request.path},
            )
            later_rules = rules[index + 1 :]

            async def next_handler(next_request: web.Request) -> web.StreamResponse:
                return await self._apply(later_rules, next_request, handler)

            _CURRENT_INJECTOR.set(self)
            return await fault.action(request, next_handler)
        return await handler(request)


# The injector applying a fault to the current request, so that delay() can
# wait on its release event. aiohttp runs middleware and handler in one task.
_CURRENT_INJECTOR: ContextVar[FaultInjector] = ContextVar("fault_injector")


# -- actions -------------------------------------------------------------


def drop_connection() -> FaultAction:
    """Close the connection at once: the client gets a disconnect and no response.

    The request log records :data:`DROPPED_STATUS` for it.
    """

    async def drop_connection(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=DROPPED_STATUS)

    return drop_connection


def delay(seconds: float) -> FaultAction:
    """Hold the request for ``seconds``, then let the simulator respond to it.

    Hold longer than the exporter's request timeout to make it time out. The
    hold ends early when the injector's :meth:`FaultInjector.release_holds`
    or :meth:`FaultInjector.clear` runs; call one of them before the server
    stops, because aiohttp waits for handlers in flight when it shuts down.
    """
    if seconds < 0:
        raise ValueError(f"delay must not be negative, got {seconds}")

    async def delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        await _CURRENT_INJECTOR.get().wait_released(seconds)
        return await handler(request)

    return delay


def error_status(status: int = 503, *, html: bool = False) -> FaultAction:
    """Respond with ``status`` and Dify's JSON error envelope, or with nginx's HTML page when ``html`` is set.

    NOTE: the JSON body has the shape of Dify's 4xx errors; no real Dify
    5xx response was captured to compare it with.
    """

    async def error_status(request: web.Request, handler: Handler) -> web.StreamResponse:
        if html:
            raise DifyHTTPError(status, _BAD_GATEWAY_PAGE if status == 502 else _MAINTENANCE_PAGE, html=True)
        raise json_error(status, "unknown", "Internal Server Error" if status == 500 else "Service Unavailable")

    return error_status


def html_page(status: int = 200) -> FaultAction:
    """Respond with a ``text/html`` page and ``status``.

    A 404 gets the Werkzeug page that Dify's router sends for unknown
    paths, any other status a proxy's maintenance page.
    """
    page = HTML_NOT_FOUND if status == 404 else _MAINTENANCE_PAGE

    async def html_page(request: web.Request, handler: Handler) -> web.StreamResponse:
        return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")

    return html_page


def truncated_json(keep_fraction: float = 0.5) -> FaultAction:
    """Respond with the first ``keep_fraction`` of the real JSON body, still labelled ``application/json``."""
    if not 0.0 <= keep_fraction < 1.0:
        raise ValueError(f"keep_fraction must be in [0, 1), got {keep_fraction}")

    async def truncated_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        body = _body_bytes(response)
        if body is None:
            return response
        return _replace_body(response, body[: int(len(body) * keep_fraction)])

    return truncated_json


def rewrite_json(change: Callable[[Any], Any]) -> FaultAction:
    """Respond with the real JSON body passed through ``change``, which returns the new body.

    ``change`` gets a parsed copy and may alter it in place. A response that
    is not JSON passes unchanged.
    """

    async def rewrite_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        body = _body_bytes(response)
        if body is None:
            return response
        try:
            parsed = json.loads(body)
        except ValueError:
            return response
        changed = change(parsed)
        return _replace_body(response, json.dumps(changed, separators=(",", ":")).encode())

    return rewrite_json


def csrf_rejection() -> FaultAction:
    """Respond with Dify's 401 for a missing or invalid CSRF token."""

    async def csrf_rejection(request: web.Request, handler: Handler) -> web.StreamResponse:
        raise unauthorized(CSRF_FAILURE)

    return csrf_rejection


def login_lockout() -> FaultAction:
    """Respond with Dify's 429 ``email_code_login_limit``, sent while an e-mail is locked after failed logins."""

    async def login_lockout(request: web.Request, handler: Handler) -> web.StreamResponse:
        raise json_error(429, "email_code_login_limit", LOCKOUT_MESSAGE)

    return login_lockout


def before(callback: Callable[[], None]) -> FaultAction:
    """Run ``callback`` (for example a clock jump), then let the simulator respond as usual."""

    async def before(request: web.Request, handler: Handler) -> web.StreamResponse:
        callback()
        return await handler(request)

    before.__name__ = f"before({getattr(callback, '__name__', 'callback')})"
    return before


# -- body changes for rewrite_json ---------------------------------------


def drop_row_field(name: str) -> Callable[[Any], Any]:
    """Return a change that deletes ``name`` from every row of the body's ``data`` list."""

    def change(body: Any) -> Any:
        for row in _rows(body):
            row.pop(name, None)
        return body

    return change


def set_row_field(name: str, value: Any) -> Callable[[Any], Any]:
    """Return a change that sets ``name`` to ``value`` in every row of the body's ``data`` list."""

    def change(body: Any) -> Any:
        for row in _rows(body):
            row[name] = value
        return body

    return change


def drop_field(name: str) -> Callable[[Any], Any]:
    """Return a change that deletes the top-level field ``name`` from a JSON object body."""

    def change(body: Any) -> Any:
        if isinstance(body, dict):
            body.pop(name, None)
        return body

    return change


def _rows(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [row for row in data if isinstance(row, dict)]


def _body_bytes(response: web.StreamResponse) -> bytes | None:
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    return bytes(body) if isinstance(body, (bytes, bytearray)) else None


def _replace_body(response: web.Response, body: bytes) -> web.Response:
    replaced = web.Response(body=body, status=response.status, content_type="application/json")
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "content-type"):
            replaced.headers.add(name, value)
    return replaced


# -- session faults ------------------------------------------------------


def revoke_access_tokens(simulator: DifySimulator) -> None:
    """Make every access and CSRF token issued so far invalid, as a new ``SECRET_KEY`` would.

    Requests with an old token get 401 "Invalid token signature."; refresh
    tokens are not JWTs and keep working, so a client recovers by refreshing.
    """
    simulator.auth.signer = TokenSigner(secrets.token_urlsafe(48))
    logger.info("simulator access tokens revoked")


def logout_latest_session(simulator: DifySimulator, email: str | None = None) -> None:
    """Log out as another session of the account (the admin by default) would.

    Dify's logout deletes the account's most recently issued refresh token,
    whichever session it belongs to. When the exporter logged in or refreshed
    last, its refresh token stops working, and its next refresh gets 401.
    Raises LookupError for an unknown e-mail.
    """
    account = simulator.dataset.account_by_email(email) if email else simulator.admin
    if account is None:
        raise LookupError(f"no account with e-mail {email}")
    workspace = simulator.dataset.current_workspace(account.id)
    simulator.auth.logout(Principal(account, workspace, "cookie"))


# -- listener ------------------------------------------------------------


class SwitchableServer:
    """A simulator served on one loopback port whose listener a test can close and open again.

    While closed, connecting is refused, and connections that were open are
    closed too, so a client with a connection pool fails at once.
    """

    def __init__(self, simulator: DifySimulator, host: str = "127.0.0.1") -> None:
        self.simulator = simulator
        self.host = host
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``; valid after :meth:`start`."""
        return f"http://{self.host}:{self.port}"

    @property
    def listening(self) -> bool:
        return self._site is not None

    async def start(self) -> None:
        """Create the application and listen on a free port. Raises RuntimeError when already started."""
        if self._runner is not None:
            raise RuntimeError("the server is already started")
        self._runner = web.AppRunner(self.simulator.make_app(), access_log=None)
        await self._runner.setup()
        await self.open_listener()

    async def open_listener(self) -> None:
        """Listen again on the port of the first start. Does nothing while listening.

        Raises OSError when another process took the port meanwhile.
        """
        if self._runner is None:
            raise RuntimeError("the server is not started; call start() first")
        if self._site is not None:
            return
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self._site = site
        self.port = self._runner.addresses[0][1]
        logger.info("simulator listener opened", extra={"base_url": self.base_url})

    async def close_listener(self) -> None:
        """Stop accepting connections and close those that are open. Does nothing while closed."""
        if self._runner is None or self._site is None:
            return
        site, self._site = self._site, None
        await site.stop()
        server = self._runner.server
        if server is not None:
            for connection in server.connections:
                connection.force_close()
        logger.info("simulator listener closed", extra={"base_url": self.base_url})

    async def stop(self) -> None:
        """Close the listener and the application. A second call does nothing."""
        if self._runner is None:
            return
        if self.simulator.faults is not None:
            self.simulator.faults.clear()
        runner, self._runner = self._runner, None
        self._site = None
        await runner.cleanup()


@asynccontextmanager
async def run_switchable_simulator(simulator: DifySimulator, host: str = "127.0.0.1") -> AsyncIterator[SwitchableServer]:
    """Serve ``simulator`` on a free loopback port with a listener the test can close; stop at the end."""
    server = SwitchableServer(simulator, host)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


__all__ = [
    "DROPPED_STATUS",
    "Fault",
    "FaultAction",
    "FaultInjector",
    "SwitchableServer",
    "before",
    "csrf_rejection",
    "delay",
    "drop_connection",
    "drop_field",
    "drop_row_field",
    "error_status",
    "html_page",
    "login_lockout",
    "logout_latest_session",
    "revoke_access_tokens",
    "rewrite_json",
    "run_switchable_simulator",
    "set_row_field",
    "truncated_json",
]
