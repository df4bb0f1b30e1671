"""``python -m otel_dify.simulator`` as a user runs it."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp

from otel_dify.simulator.__main__ import build_parser


def test_parser_defaults() -> None:
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert args.port == 0
    assert args.profile == "1.15"
    assert args.secure_cookies is False


async def test_serves_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otel_dify.simulator", "--port", "0", "--profile", "1.9.2", "--seed", "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode().strip()
        credentials = (await process.stdout.readline()).decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(base_url + "/console/api/setup") as response:
                status = response.status
                version = response.headers["X-Version"]
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert base_url.startswith("http://127.0.0.1:")
    assert "admin@example.com" in credentials
    assert status == 200
    assert version == "1.9.2"
    assert exit_code == 0
