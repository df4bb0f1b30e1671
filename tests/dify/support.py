"""Test doubles shared by the Dify client tests: a driven clock, a recorded sleep, credentials."""

from __future__ import annotations

from pydantic import SecretStr

from otel_dify.dify.auth import AdminKeyCredentials, ConsoleCredentials
from tests.dify.fake_dify import EMAIL, PASSWORD


class FakeClock:
    """A monotonic clock that moves only when a test calls :meth:`advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleep:
    """An ``asyncio.sleep`` stand-in that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def console_credentials(password: str = PASSWORD, encoding: str = "auto") -> ConsoleCredentials:
    return ConsoleCredentials(email=EMAIL, password=SecretStr(password), password_encoding=encoding)  # type: ignore[arg-type]


def admin_credentials(key: str, workspace_id: str) -> AdminKeyCredentials:
    return AdminKeyCredentials(api_key=SecretStr(key), workspace_id=workspace_id)
