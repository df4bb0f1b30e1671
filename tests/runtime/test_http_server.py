"""Tests of the small HTTP/1.1 server behind the health endpoints, at the byte level."""

from __future__ import annotations

import asyncio

import pytest

from otel_dify.runtime.http_server import (
    BadRequest,
    HttpResponse,
    SmallHttpServer,
    format_response,
    parse_request_head,
)

# Long enough for a loaded machine to send a request, short enough to keep the tests fast.
SHORT_TIMEOUT_S = 0.3


def hello() -> HttpResponse:
    return HttpResponse(200, b'{"hello": 1}', "application/json")


def failing() -> HttpResponse:
    raise RuntimeError("handler broke")


@pytest.fixture
async def server():
    served = SmallHttpServer(
        "127.0.0.1", 0, {"/hello": hello, "/broken": failing}, read_timeout_s=SHORT_TIMEOUT_S, max_head_bytes=512
    )
    await served.start()
    yield served
    await served.stop()


async def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and return every byte the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line, headers, body


# Parsing


def test_parse_origin_form_with_query() -> None:
    head = parse_request_head([b"GET /readyz?verbose=1 HTTP/1.1", b"Host: x"])

    assert head.method == "GET"
    assert head.path == "/readyz"
    assert head.content_length is None


def test_parse_absolute_form() -> None:
    head = parse_request_head([b"GET http://127.0.0.1:8890/healthz HTTP/1.1"])

    assert head.path == "/healthz"


def test_parse_content_length() -> None:
    head = parse_request_head([b"POST /x HTTP/1.0", b"content-length: 12"])

    assert head.content_length == 12


@pytest.mark.parametrize(
    "lines",
    [
        [b"garbage"],
        [b"GET /x"],
        [b"GET /x HTTP/2.0"],
        [b"G(T /x HTTP/1.1"],
        [b"GET /x HTTP/1.1", b"no colon here"],
        [b"GET /x HTTP/1.1", b"Content-Length: -1"],
        [b"GET /\xff HTTP/1.1"],
    ],
)
def test_parse_rejects_malformed(lines: list[bytes]) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_request_head(lines)

    assert raised.value.status == 400


def test_format_head_keeps_length() -> None:
    raw = format_response(HttpResponse(200, b"abc"), include_body=False, extra_headers={})

    status_line, headers, body = split_response(raw)
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["Content-Length"] == "3"
    assert body == b""


# Serving


async def test_server_get_route(server) -> None:
    raw = await exchange(server.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")

    status_line, headers, body = split_response(raw)
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Connection"] == "close"
    assert "Date" in headers
    assert body == b'{"hello": 1}'


async def test_server_bare_lf_request(server) -> None:
    raw = await exchange(server.port, b"GET /hello HTTP/1.0\n\n")

    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_server_head_has_no_body(server) -> None:
    raw = await exchange(server.port, b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")

    status_line, headers, body = split_response(raw)
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["Content-Length"] == "12"
    assert body == b""


async def test_server_unknown_path_404(server) -> None:
    raw = await exchange(server.port, b"DELETE /nothing HTTP/1.1\r\n\r\n")

    status_line, _, body = split_response(raw)
    assert status_line == "HTTP/1.1 404 Not Found"
    assert body == b"404: Not Found"


async def test_server_post_with_body_405(server) -> None:
    raw = await exchange(server.port, b"POST /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")

    status_line, headers, body = split_response(raw)
    assert status_line == "HTTP/1.1 405 Method Not Allowed"
    assert headers["Allow"] == "GET,HEAD"
    assert body == b"405: Method Not Allowed"


async def test_server_handler_error_500(server) -> None:
    raw = await exchange(server.port, b"GET /broken HTTP/1.1\r\n\r\n")

    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


async def test_server_malformed_request_400(server) -> None:
    raw = await exchange(server.port, b"garbage\r\n\r\n")

    status_line, _, body = split_response(raw)
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert body == b"400: Bad Request"


async def test_server_large_head_431(server) -> None:
    raw = await exchange(server.port, b"GET /hello HTTP/1.1\r\nX-Filler: " + b"a" * 600 + b"\r\n\r\n")

    assert raw.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


async def test_server_many_header_lines_431(server) -> None:
    raw = await exchange(server.port, b"GET /hello HTTP/1.1\r\n" + b"X-A: b\r\n" * 100 + b"\r\n")

    assert raw.startswith(b"HTTP/1.1 431 ")


async def test_server_slow_head_408(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /hello HTTP/1.1\r\n")
        await writer.drain()

        # The head never ends, so the server sends 408 after its read timeout and closes.
        raw = await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()

    assert raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_server_closes_idle_connection(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        raw = await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()

    assert raw.startswith(b"HTTP/1.1 408 ")


async def test_server_stop_ends_open_connection(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /hel")
    await writer.drain()
    await asyncio.sleep(0.05)

    await server.stop()
    raw = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()

    assert raw == b""


async def test_server_client_gone_early(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /hello HTTP/1.1\r\n")
    writer.close()
    await writer.wait_closed()

    # The server drops the half-sent request and keeps serving others.
    raw = await exchange(server.port, b"GET /hello HTTP/1.1\r\n\r\n")

    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_server_concurrent_requests(server) -> None:
    responses = await asyncio.gather(*(exchange(server.port, b"GET /hello HTTP/1.1\r\n\r\n") for _ in range(20)))

    assert all(raw.startswith(b"HTTP/1.1 200 OK\r\n") for raw in responses)


def test_server_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="read_timeout_s"):
        SmallHttpServer("127.0.0.1", 0, {}, read_timeout_s=0)
    with pytest.raises(ValueError, match="max_head_bytes"):
        SmallHttpServer("127.0.0.1", 0, {}, max_head_bytes=10)
