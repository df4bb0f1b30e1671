"""A small HTTP/1.1 server on ``asyncio.start_server`` for a few fixed ``GET`` endpoints.

It serves the health endpoints without aiohttp.web, which costs about 2 MB
of resident memory and 18 modules (measured with aiohttp 3.14 on CPython
3.11). Each connection carries one request: the server reads the request
head, writes the response and closes the connection (``Connection: close``),
so it needs no keep-alive bookkeeping. A request body is read and discarded only
when its ``Content-Length`` is at most ``max_head_bytes``.

Limits: the request head (request line and headers) may have at most
``max_head_bytes`` bytes and must arrive within ``read_timeout_s`` seconds
of the connection opening. A larger head gets 431, a slower one 408, and
the connection is closed after either.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import unquote, urlsplit

from otel_dify import __version__

logger = logging.getLogger(__name__)

#: Default cap of the request line plus headers, in bytes.
DEFAULT_MAX_HEAD_BYTES = 8192
#: Default time a client has to send its request head (and body), in seconds.
DEFAULT_READ_TIMEOUT_S = 5.0

#: Methods that every route serves; any other method gets 405.
ALLOWED_METHODS = ("GET", "HEAD")

SERVER_HEADER = f"otel-dify/{__version__}"
TEXT_PLAIN = "text/plain; charset=utf-8"

# The characters RFC 9110 allows in a method token.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HTTP_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})


@dataclass(frozen=True)
class HttpResponse:
    """The status, body and content type of one response; the server adds the other headers."""

    status: int
    body: bytes
    content_type: str = TEXT_PLAIN


#: Builds the response of one route at request time.
RouteHandler = Callable[[], HttpResponse]


class BadRequest(Exception):
    """The request head cannot be served; ``status`` is the response to send (400, 408 or 431)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class RequestHead:
    """The parts of a request head that routing needs."""

    method: str
    path: str
    content_length: int | None


def status_response(status: int) -> HttpResponse:
    """Return a plain-text response whose body is the status, such as ``404: Not Found``."""
    return HttpResponse(status, f"{status}: {http.HTTPStatus(status).phrase}".encode())


def parse_request_head(lines: list[bytes]) -> RequestHead:
    """Parse the request line and headers (each line without its line ending).

    Raises BadRequest (400) for a malformed request line, an HTTP version
    other than 1.0 or 1.1, a header line without a colon or an invalid
    ``Content-Length``.
    """
    try:
        request_line = lines[0].decode("ascii")
    except (IndexError, UnicodeDecodeError) as error:
        raise BadRequest(400, "request line is not ASCII") from error

    parts = request_line.split(" ")
    if len(parts) != 3:
        raise BadRequest(400, "request line does not have three parts")
    method, target, version = parts
    if not method or not set(method) <= _TOKEN_CHARS:
        raise BadRequest(400, "invalid method")
    if version not in _HTTP_VERSIONS:
        raise BadRequest(400, "unsupported HTTP version")

    content_length: int | None = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, "invalid header line")
        if name.lower() == b"content-length":
            text = value.strip()
            if not text.isdigit():
                raise BadRequest(400, "invalid Content-Length")
            content_length = int(text)

    return RequestHead(method=method, path=_target_path(target), content_length=content_length)


def _target_path(target: str) -> str:
    """Return the decoded path of an origin-form (``/readyz?x=1``) or absolute-form request target."""
    if target.startswith("/"):
        path = target.partition("?")[0]
    else:
        # Absolute form (``http://host:8890/readyz``), which proxies send; ``*`` yields "".
        path = urlsplit(target).path
    return unquote(path)


def format_response(response: HttpResponse, *, include_body: bool, extra_headers: Mapping[str, str]) -> bytes:
    """Serialize ``response`` with Content-Length, Date, Server and ``Connection: close``.

    A response to HEAD passes ``include_body=False``: it keeps the
    Content-Length of the body it leaves out.
    """
    phrase = http.HTTPStatus(response.status).phrase
    headers = {
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Date": email.utils.formatdate(usegmt=True),
        "Server": SERVER_HEADER,
        "Connection": "close",
        **extra_headers,
    }
    head = f"HTTP/1.1 {response.status} {phrase}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + (response.body if include_body else b"")


async def read_head_lines(reader: asyncio.StreamReader, max_head_bytes: int) -> list[bytes]:
    """Read lines up to the empty line that ends the head; return them without line endings.

    Accepts CRLF and bare LF line endings. Raises BadRequest (431) when the
    head grows past ``max_head_bytes`` and asyncio.IncompleteReadError when
    the client closes the connection first.
    """
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readline()
        except ValueError as error:
            # StreamReader raises ValueError for a line longer than its limit.
            raise BadRequest(431, "request head too large") from error
        size += len(line)
        if size > max_head_bytes:
            raise BadRequest(431, "request head too large")
        if not line.endswith(b"\n"):
            raise asyncio.IncompleteReadError(line, None)

        line = line.rstrip(b"\r\n")
        if not line:
            if not lines:
                # RFC 9112 lets a server ignore empty lines before the request line.
                continue
            return lines
        lines.append(line)


class SmallHttpServer:
    """Serves ``routes`` (path to handler) for GET and HEAD, one request per connection.

    Any other path gets 404, and another method on a known path gets 405
    with ``Allow: GET,HEAD``. A handler that raises gets 500 and the error
    is logged. ``port`` 0 binds a free port, which :attr:`port` returns
    after :meth:`start`. ``name`` labels the log lines.
    """

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, RouteHandler],
        *,
        name: str = "http server",
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    ) -> None:
        if read_timeout_s <= 0:
            raise ValueError(f"read_timeout_s must be positive, got {read_timeout_s}")
        if max_head_bytes < 64:
            raise ValueError(f"max_head_bytes must be at least 64, got {max_head_bytes}")

        self._host = host
        self._requested_port = port
        self._routes = dict(routes)
        self._name = name
        self._read_timeout_s = read_timeout_s
        self._max_head_bytes = max_head_bytes
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port. Raises RuntimeError before :meth:`start`."""
        if self._port is None:
            raise RuntimeError(f"{self._name} is not started; call start() first")
        return self._port

    async def start(self) -> None:
        """Bind and start serving.

        Raises RuntimeError when already started and OSError when the address
        cannot be bound (for example, the port is in use).
        """
        if self._server is not None:
            raise RuntimeError(f"{self._name} is already started")

        # The reader's limit makes readline() fail on an over-long line
        # before it buffers more than the head may hold.
        server = await asyncio.start_server(
            self._serve_connection, self._host, self._requested_port, limit=self._max_head_bytes
        )
        self._server = server
        self._port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and end the connections in flight. Does nothing when not started."""
        if self._server is None:
            return

        server, self._server = self._server, None
        server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()
        self._port = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        exchange = _Exchange()
        try:
            await asyncio.wait_for(self._serve_request(reader, writer, exchange), self._read_timeout_s)
        except asyncio.TimeoutError:
            # Covers a slow head and a client that does not read the response.
            if not exchange.responded:
                self._reject(writer, BadRequest(408, "request not received in time"))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("%s failed to serve a connection", self._name, extra={"port": self._port})
        finally:
            writer.close()
            self._connections.discard(task)

    async def _serve_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange: _Exchange
    ) -> None:
        try:
            head = parse_request_head(await read_head_lines(reader, self._max_head_bytes))
        except BadRequest as error:
            exchange.responded = True
            self._reject(writer, error)
            return

        await self._discard_body(reader, head.content_length)
        response, extra_headers = self._route(head)
        exchange.responded = True
        writer.write(format_response(response, include_body=head.method != "HEAD", extra_headers=extra_headers))
        await writer.drain()

    def _route(self, head: RequestHead) -> tuple[HttpResponse, dict[str, str]]:
        handler = self._routes.get(head.path)
        if handler is None:
            return status_response(404), {}
        if head.method not in ALLOWED_METHODS:
            return status_response(405), {"Allow": ",".join(ALLOWED_METHODS)}
        try:
            return handler(), {}
        except Exception:
            logger.exception("%s handler failed", self._name, extra={"endpoint": head.path})
            return status_response(500), {}

    async def _discard_body(self, reader: asyncio.StreamReader, content_length: int | None) -> None:
        # Closing a socket with unread bytes makes Linux send a reset, which
        # can destroy the response before the client reads it.
        if content_length and content_length <= self._max_head_bytes:
            await reader.readexactly(content_length)

    def _reject(self, writer: asyncio.StreamWriter, error: BadRequest) -> None:
        """Write the error response of a request that cannot be served; the caller closes the connection."""
        logger.debug(
            "%s rejected a request",
            self._name,
            extra={"port": self._port, "http_status": error.status, "reason": error.reason},
        )
        if writer.is_closing():
            return
        writer.write(format_response(status_response(error.status), include_body=True, extra_headers={}))


@dataclass
class _Exchange:
    """Progress of the one request of a connection."""

    # True once a response was written, so a timeout after it adds no 408.
    responded: bool = False
