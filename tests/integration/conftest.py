"""Every integration test doubles as a secret scan of the log records it produced."""

from __future__ import annotations

import logging

import pytest

from otel_dify.simulator.auth import AuthService
from otel_dify.simulator.generator import DEFAULT_ADMIN_PASSWORD
from tests.integration.harness import ADMIN_KEY


class _RecordText(logging.Handler):
    """Keeps the raw text of every record: message, arguments and extra fields, before any redaction."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = " ".join(f"{key}={value!r}" for key, value in record.__dict__.items())
        self.texts.append(f"{record.getMessage()} {fields}")


@pytest.fixture(autouse=True)
def no_secret_in_logs(monkeypatch):
    issued: list[str] = []
    original_issue = AuthService.issue_session

    def recording_issue(self, account, **options):
        tokens = original_issue(self, account, **options)
        issued.extend(token for token in (tokens.access_token, tokens.refresh_token, tokens.csrf_token) if token)
        return tokens

    monkeypatch.setattr(AuthService, "issue_session", recording_issue)

    handler = _RecordText()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    secrets = [DEFAULT_ADMIN_PASSWORD, ADMIN_KEY, *issued]
    leaks = [(secret[:6] + "…", text[:200]) for text in handler.texts for secret in secrets if secret in text]
    assert leaks == [], "a log record contains a password, key or token"
