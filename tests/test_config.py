"""Tests of configuration loading: parsing, cross-field rules, secrets, error reports and docs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pydantic
import pytest

from otel_dify import catalog
from otel_dify.config import (
    ConfigError,
    Problem,
    Settings,
    configuration_variables,
    known_variables,
    load_settings,
    render_configuration_markdown,
)
from tests.config_helpers import BASE_ENV, PASSWORD, load, problems_of

DOCS_CONFIGURATION = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

ADMIN_KEY = "admin-key-0123456789"


# Defaults and basic parsing.


def test_defaults() -> None:
    settings = load()

    assert settings.poll_interval == 60.0
    assert settings.initial_delay == 1.0
    assert settings.request_timeout == 10.0
    assert settings.max_concurrency == 4
    assert settings.history_refresh_interval == 3600.0
    assert settings.count_from is None
    assert settings.password_encoding == "auto"
    assert settings.tls_verify is True
    assert settings.ca_file is None
    assert settings.health_host == "127.0.0.1"
    assert settings.health_port == 8890
    assert settings.log_level == "INFO"
    assert settings.shutdown_timeout == 30.0
    assert settings.auth_backoff == 900.0
    assert settings.max_pages == 100
    assert settings.export_on_poll is True
    assert settings.workspace_ids == ()
    assert settings.metrics_enabled == ()


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("60", 60.0),
        ("60s", 60.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5", 1.5),
        ("500ms", 0.5),
        (" 2 m ", 120.0),
        ("10S", 10.0),
    ],
)
def test_duration_formats(raw: str, seconds: float) -> None:
    assert load(OTEL_DIFY_POLL_INTERVAL=raw).poll_interval == seconds


def test_duration_invalid_message() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(OTEL_DIFY_POLL_INTERVAL="abc")

    assert str(excinfo.value) == "OTEL_DIFY_POLL_INTERVAL: invalid duration 'abc' (examples: 60, 60s, 5m)"


@pytest.mark.parametrize("raw", ["0", "-5", "0s"])
def test_poll_interval_not_positive(raw: str) -> None:
    problems = problems_of(OTEL_DIFY_POLL_INTERVAL=raw)

    assert problems["OTEL_DIFY_POLL_INTERVAL"].startswith("must be greater than 0")


def test_initial_delay_zero_allowed() -> None:
    assert load(OTEL_DIFY_INITIAL_DELAY="0").initial_delay == 0.0


@pytest.mark.parametrize(("raw", "ok"), [("1", True), ("64", True), ("0", False), ("65", False)])
def test_max_concurrency_bounds(raw: str, ok: bool) -> None:
    if ok:
        assert load(OTEL_DIFY_MAX_CONCURRENCY=raw).max_concurrency == int(raw)
        return

    problems = problems_of(OTEL_DIFY_MAX_CONCURRENCY=raw)
    assert "OTEL_DIFY_MAX_CONCURRENCY" in problems


@pytest.mark.parametrize(("raw", "ok"), [("1", True), ("10000", True), ("0", False), ("10001", False)])
def test_max_pages_bounds(raw: str, ok: bool) -> None:
    if ok:
        assert load(OTEL_DIFY_MAX_PAGES=raw).max_pages == int(raw)
        return

    assert "OTEL_DIFY_MAX_PAGES" in problems_of(OTEL_DIFY_MAX_PAGES=raw)


def test_integer_invalid_message() -> None:
    problems = problems_of(OTEL_DIFY_MAX_PAGES="many")

    assert problems["OTEL_DIFY_MAX_PAGES"] == "invalid integer 'many'"


def test_bound_message_shows_value() -> None:
    problems = problems_of(OTEL_DIFY_MAX_CONCURRENCY="100")

    assert problems["OTEL_DIFY_MAX_CONCURRENCY"] == "must be at most 64, got '100'"


# Base URL.


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1:5001",
        "http://127.0.0.1:5001/",
        "http://127.0.0.1:5001/console/api",
        "http://127.0.0.1:5001/console/api/",
        "http://127.0.0.1:5001/v1",
        "http://127.0.0.1:5001/v1/",
        " http://127.0.0.1:5001 ",
    ],
)
def test_base_url_normalised(raw: str) -> None:
    settings = load(OTEL_DIFY_BASE_URL=raw)

    assert settings.base_url == "http://127.0.0.1:5001"
    assert settings.console_api_url == "http://127.0.0.1:5001/console/api"


def test_base_url_keeps_path_prefix() -> None:
    settings = load(OTEL_DIFY_BASE_URL="https://localhost/dify/console/api/")

    assert settings.base_url == "https://localhost/dify"
    assert settings.console_api_url == "https://localhost/dify/console/api"


@pytest.mark.parametrize(
    "raw",
    ["127.0.0.1:5001", "ftp://localhost", "http://", "http://localhost/?a=1", "http://localhost:port"],
)
def test_base_url_invalid(raw: str) -> None:
    problems = problems_of(OTEL_DIFY_BASE_URL=raw)

    assert problems["OTEL_DIFY_BASE_URL"].startswith("invalid URL")


def test_base_url_credentials_not_echoed() -> None:
    problems = problems_of(OTEL_DIFY_BASE_URL="http://ops:s3cretpw@localhost")

    assert "OTEL_DIFY_BASE_URL" in problems
    assert "s3cretpw" not in problems["OTEL_DIFY_BASE_URL"]


def test_base_url_missing() -> None:
    problems = problems_of(OTEL_DIFY_BASE_URL=None)

    assert problems["OTEL_DIFY_BASE_URL"].startswith("missing")


# Authentication modes.


def test_auth_password_mode() -> None:
    settings = load()

    assert settings.email == "ops@example.com"
    assert settings.password is not None
    assert settings.password.get_secret_value() == PASSWORD
    assert settings.admin_api_key is None


def test_auth_admin_key_mode() -> None:
    settings = load(
        OTEL_DIFY_EMAIL=None,
        OTEL_DIFY_PASSWORD=None,
        OTEL_DIFY_ADMIN_API_KEY=ADMIN_KEY,
        OTEL_DIFY_WORKSPACE_IDS="ws-1, ws-2,,ws-1",
    )

    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == ADMIN_KEY
    assert settings.workspace_ids == ("ws-1", "ws-2")


def test_auth_none_set() -> None:
    problems = problems_of(OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None)

    assert "OTEL_DIFY_PASSWORD" in problems["OTEL_DIFY_EMAIL"]
    assert "OTEL_DIFY_ADMIN_API_KEY" in problems["OTEL_DIFY_EMAIL"]


def test_auth_email_without_password() -> None:
    problems = problems_of(OTEL_DIFY_PASSWORD=None)

    assert problems["OTEL_DIFY_PASSWORD"].startswith("missing")
    assert "OTEL_DIFY_EMAIL" not in problems


def test_auth_password_without_email() -> None:
    problems = problems_of(OTEL_DIFY_EMAIL=None)

    assert problems["OTEL_DIFY_EMAIL"].startswith("missing")


def test_auth_admin_key_without_workspaces() -> None:
    problems = problems_of(OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None, OTEL_DIFY_ADMIN_API_KEY=ADMIN_KEY)

    assert problems["OTEL_DIFY_WORKSPACE_IDS"].startswith("missing")


def test_auth_both_modes() -> None:
    problems = problems_of(OTEL_DIFY_ADMIN_API_KEY=ADMIN_KEY, OTEL_DIFY_WORKSPACE_IDS="ws-1")

    assert "not both" in problems["OTEL_DIFY_ADMIN_API_KEY"]


def test_auth_workspaces_with_password() -> None:
    problems = problems_of(OTEL_DIFY_WORKSPACE_IDS="ws-1")

    assert "OTEL_DIFY_ADMIN_API_KEY" in problems["OTEL_DIFY_WORKSPACE_IDS"]


def test_email_invalid() -> None:
    problems = problems_of(OTEL_DIFY_EMAIL="not-an-email")

    assert problems["OTEL_DIFY_EMAIL"].startswith("invalid e-mail")


def test_password_keeps_spaces() -> None:
    settings = load(OTEL_DIFY_PASSWORD=" padded ")

    assert settings.password is not None
    assert settings.password.get_secret_value() == " padded "


@pytest.mark.parametrize(("raw", "encoding"), [("AUTO", "auto"), ("base64", "base64"), (" Plain ", "plain")])
def test_password_encoding_values(raw: str, encoding: str) -> None:
    assert load(OTEL_DIFY_PASSWORD_ENCODING=raw).password_encoding == encoding


def test_password_encoding_invalid() -> None:
    problems = problems_of(OTEL_DIFY_PASSWORD_ENCODING="rot13")

    assert problems["OTEL_DIFY_PASSWORD_ENCODING"] == "invalid value 'rot13' (expected 'auto', 'base64' or 'plain')"


# Secrets from files.


def test_password_file_strips_one_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n\n", encoding="utf-8")

    settings = load(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert settings.password is not None
    assert settings.password.get_secret_value() == PASSWORD + "\n"


def test_password_file_crlf(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(PASSWORD.encode() + b"\r\n")

    settings = load(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert settings.password is not None
    assert settings.password.get_secret_value() == PASSWORD


def test_admin_key_and_email_files(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(ADMIN_KEY + "\n", encoding="utf-8")

    settings = load(
        OTEL_DIFY_EMAIL=None,
        OTEL_DIFY_PASSWORD=None,
        OTEL_DIFY_ADMIN_API_KEY_FILE=str(key_file),
        OTEL_DIFY_WORKSPACE_IDS="ws-1",
    )

    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == ADMIN_KEY


def test_email_file(tmp_path: Path) -> None:
    email_file = tmp_path / "email"
    email_file.write_text("file@example.com\n", encoding="utf-8")

    settings = load(OTEL_DIFY_EMAIL=None, OTEL_DIFY_EMAIL_FILE=str(email_file))

    assert settings.email == "file@example.com"


def test_secret_file_and_variable_both(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD, encoding="utf-8")

    problems = problems_of(OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert "not both" in problems["OTEL_DIFY_PASSWORD_FILE"]
    assert "OTEL_DIFY_PASSWORD" not in problems


def test_secret_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent"

    problems = problems_of(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(path))

    assert problems["OTEL_DIFY_PASSWORD_FILE"].startswith(f"cannot read file {str(path)!r}")
    assert "OTEL_DIFY_PASSWORD" not in problems


def test_secret_file_empty(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("\n", encoding="utf-8")

    problems = problems_of(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert problems["OTEL_DIFY_PASSWORD_FILE"] == f"file {str(secret)!r} is empty"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_secret_file_unreadable(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD, encoding="utf-8")
    secret.chmod(0)

    problems = problems_of(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert "Permission denied" in problems["OTEL_DIFY_PASSWORD_FILE"]
    assert PASSWORD not in problems["OTEL_DIFY_PASSWORD_FILE"]


def test_secret_file_is_directory(tmp_path: Path) -> None:
    problems = problems_of(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(tmp_path))

    assert problems["OTEL_DIFY_PASSWORD_FILE"] == f"cannot read file {str(tmp_path)!r}: Is a directory"


def test_secret_file_not_utf8(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(b"\xff\xfe secret")

    problems = problems_of(OTEL_DIFY_PASSWORD=None, OTEL_DIFY_PASSWORD_FILE=str(secret))

    assert problems["OTEL_DIFY_PASSWORD_FILE"].endswith("not valid UTF-8")


# Lists, app selection and metrics.


def test_comma_lists() -> None:
    settings = load(
        OTEL_DIFY_APP_INCLUDE_IDS=" a , b,,a ",
        OTEL_DIFY_APP_EXCLUDE_IDS="c",
        OTEL_DIFY_APP_INCLUDE_NAMES="Support*, Bot?",
        OTEL_DIFY_APP_EXCLUDE_NAMES="*test*",
    )

    assert settings.app_include_ids == ("a", "b")
    assert settings.app_exclude_ids == ("c",)
    assert settings.app_include_names == ("Support*", "Bot?")
    assert settings.app_exclude_names == ("*test*",)


def test_app_modes_valid() -> None:
    settings = load(OTEL_DIFY_APP_MODES="chat, workflow,advanced-chat")

    assert settings.app_modes == ("chat", "workflow", "advanced-chat")


def test_app_modes_invalid() -> None:
    problems = problems_of(OTEL_DIFY_APP_MODES="chat,chatflow")

    assert problems["OTEL_DIFY_APP_MODES"] == (
        "invalid app mode 'chatflow' (valid: chat, completion, agent-chat, advanced-chat, workflow)"
    )


def test_metrics_lists_valid() -> None:
    settings = load(
        OTEL_DIFY_METRICS_ENABLED="dify.app.interactions.per_conversation",
        OTEL_DIFY_METRICS_DISABLED="dify.app.cost,dify.apps",
    )

    assert settings.metrics_enabled == ("dify.app.interactions.per_conversation",)
    assert settings.metrics_disabled == ("dify.app.cost", "dify.apps")


def test_metrics_unknown_lists_valid_names() -> None:
    problems = problems_of(OTEL_DIFY_METRICS_DISABLED="dify.app.costs")

    message = problems["OTEL_DIFY_METRICS_DISABLED"]
    assert message.startswith("unknown metric 'dify.app.costs'")
    for name in catalog.METRIC_NAMES:
        assert name in message


def test_metrics_in_both_lists() -> None:
    problems = problems_of(
        OTEL_DIFY_METRICS_ENABLED="dify.app.cost", OTEL_DIFY_METRICS_DISABLED="dify.apps,dify.app.cost"
    )

    assert "'dify.app.cost'" in problems["OTEL_DIFY_METRICS_DISABLED"]
    assert "'dify.apps'" not in problems["OTEL_DIFY_METRICS_DISABLED"]


# Other fields.


def test_count_from_date() -> None:
    assert load(OTEL_DIFY_COUNT_FROM="2025-01-31").count_from == date(2025, 1, 31)


@pytest.mark.parametrize("raw", ["2025-13-01", "31.01.2025", "2025-01-31T00:00", "yesterday"])
def test_count_from_invalid(raw: str) -> None:
    problems = problems_of(OTEL_DIFY_COUNT_FROM=raw)

    assert problems["OTEL_DIFY_COUNT_FROM"].startswith(f"invalid date {raw!r}")


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("TRUE", True), ("yes", True)])
def test_booleans(raw: str, expected: bool) -> None:
    settings = load(OTEL_DIFY_TLS_VERIFY=raw, OTEL_DIFY_EXPORT_ON_POLL=raw)

    assert settings.tls_verify is expected
    assert settings.export_on_poll is expected


def test_boolean_invalid() -> None:
    problems = problems_of(OTEL_DIFY_TLS_VERIFY="maybe")

    assert problems["OTEL_DIFY_TLS_VERIFY"] == "invalid boolean 'maybe' (expected true or false)"


def test_ca_file_existing(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")

    assert load(OTEL_DIFY_CA_FILE=str(bundle)).ca_file == bundle


def test_ca_file_missing(tmp_path: Path) -> None:
    problems = problems_of(OTEL_DIFY_CA_FILE=str(tmp_path / "absent.pem"))

    assert "not found" in problems["OTEL_DIFY_CA_FILE"]


def test_ca_file_directory(tmp_path: Path) -> None:
    problems = problems_of(OTEL_DIFY_CA_FILE=str(tmp_path))

    assert "not a regular file" in problems["OTEL_DIFY_CA_FILE"]


@pytest.mark.parametrize(("raw", "level"), [("debug", "DEBUG"), ("Warning", "WARNING"), ("ERROR", "ERROR")])
def test_log_level_values(raw: str, level: str) -> None:
    assert load(OTEL_DIFY_LOG_LEVEL=raw).log_level == level


def test_log_level_invalid() -> None:
    assert "OTEL_DIFY_LOG_LEVEL" in problems_of(OTEL_DIFY_LOG_LEVEL="TRACE")


def test_health_settings() -> None:
    settings = load(OTEL_DIFY_HEALTH_HOST="0.0.0.0", OTEL_DIFY_HEALTH_PORT="0")

    assert settings.health_host == "0.0.0.0"
    assert settings.health_port == 0


def test_health_port_out_of_range() -> None:
    assert "OTEL_DIFY_HEALTH_PORT" in problems_of(OTEL_DIFY_HEALTH_PORT="65536")


def test_history_refresh_below_poll_interval() -> None:
    problems = problems_of(OTEL_DIFY_POLL_INTERVAL="10m", OTEL_DIFY_HISTORY_REFRESH_INTERVAL="5m")

    assert problems["OTEL_DIFY_HISTORY_REFRESH_INTERVAL"] == (
        "must be at least OTEL_DIFY_POLL_INTERVAL (600 s), got 300 s"
    )


def test_history_refresh_equal_poll_interval() -> None:
    settings = load(OTEL_DIFY_POLL_INTERVAL="5m", OTEL_DIFY_HISTORY_REFRESH_INTERVAL="300")

    assert settings.history_refresh_interval == 300.0


def test_auth_backoff_short_rejected() -> None:
    problems = problems_of(OTEL_DIFY_AUTH_BACKOFF="60")

    assert problems["OTEL_DIFY_AUTH_BACKOFF"].startswith("must be at least 900 s, got 60 s")
    assert "failed logins" in problems["OTEL_DIFY_AUTH_BACKOFF"]


def test_auth_backoff_longer_accepted() -> None:
    assert load(OTEL_DIFY_AUTH_BACKOFF="1h").auth_backoff == 3600.0


# Environment handling.


def test_empty_value_counts_as_unset() -> None:
    settings = load(OTEL_DIFY_POLL_INTERVAL="", OTEL_DIFY_COUNT_FROM="  ")

    assert settings.poll_interval == 60.0
    assert settings.count_from is None


def test_names_ignore_case() -> None:
    settings = load(otel_dify_poll_interval="30")

    assert settings.poll_interval == 30.0


def test_unknown_variable_suggests_name() -> None:
    problems = problems_of(OTEL_DIFY_POLL_INTERVALL="30")

    assert problems["OTEL_DIFY_POLL_INTERVALL"] == "unknown variable; did you mean OTEL_DIFY_POLL_INTERVAL?"


def test_unknown_variable_without_suggestion() -> None:
    problems = problems_of(OTEL_DIFY_ZZZ="1")

    assert problems["OTEL_DIFY_ZZZ"] == "unknown variable; see docs/configuration.md for the valid names"


def test_foreign_variables_ignored() -> None:
    settings = load(DIFY_PORT="5001", OTEL_EXPORTER_OTLP_PROTOCOL="http", SECRET_KEY="x")

    assert settings.base_url == "http://127.0.0.1:5001"


def test_env_file_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OTEL_DIFY_POLL_INTERVAL=2m\nDIFY_BIND_ADDRESS=0.0.0.0\nEMPTY_LINE_KEY\n", encoding="utf-8")

    settings = load(env_file=env_file)

    assert settings.poll_interval == 120.0


def test_env_file_loses_to_environ(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OTEL_DIFY_POLL_INTERVAL=2m\n", encoding="utf-8")

    settings = load(env_file=env_file, OTEL_DIFY_POLL_INTERVAL="30")

    assert settings.poll_interval == 30.0


def test_env_file_unknown_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OTEL_DIFY_BASEURL=http://localhost\n", encoding="utf-8")

    with pytest.raises(ConfigError) as excinfo:
        load(env_file=env_file)

    assert [problem.variable for problem in excinfo.value.problems] == ["OTEL_DIFY_BASEURL"]


def test_env_file_absent_skipped(tmp_path: Path) -> None:
    settings = load(env_file=tmp_path / "absent.env")

    assert settings.poll_interval == 60.0


def test_default_reads_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OTEL_DIFY_"):
            monkeypatch.delenv(name)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_DIFY_MAX_PAGES", "7")
    monkeypatch.chdir(tmp_path)

    assert load_settings().max_pages == 7


# Error reports.


def test_every_problem_reported() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(
            {
                "OTEL_DIFY_POLL_INTERVAL": "abc",
                "OTEL_DIFY_MAX_CONCURRENCY": "0",
                "OTEL_DIFY_APP_MODES": "bogus",
                "OTEL_DIFY_LOG_LEVEL": "loud",
                "OTEL_DIFY_TYPO": "1",
            },
            env_file=None,
        )

    variables = {problem.variable for problem in excinfo.value.problems}
    assert variables == {
        "OTEL_DIFY_POLL_INTERVAL",
        "OTEL_DIFY_MAX_CONCURRENCY",
        "OTEL_DIFY_APP_MODES",
        "OTEL_DIFY_LOG_LEVEL",
        "OTEL_DIFY_TYPO",
        "OTEL_DIFY_BASE_URL",
        "OTEL_DIFY_EMAIL",
    }


def test_error_renders_one_line_each() -> None:
    error = ConfigError([Problem("OTEL_DIFY_A", "first"), Problem("OTEL_DIFY_B", "second")])

    assert str(error) == "OTEL_DIFY_A: first\nOTEL_DIFY_B: second"


def test_errors_never_show_secrets(tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text(ADMIN_KEY, encoding="utf-8")

    with pytest.raises(ConfigError) as excinfo:
        load(
            OTEL_DIFY_ADMIN_API_KEY_FILE=str(secret_file),
            OTEL_DIFY_ADMIN_API_KEY=ADMIN_KEY,
            OTEL_DIFY_POLL_INTERVAL="x",
        )

    text = str(excinfo.value)
    assert PASSWORD not in text
    assert ADMIN_KEY not in text


# Masked view.


def test_masked_hides_secrets() -> None:
    masked = load().masked()

    assert masked["password"] == "***"
    assert masked["admin_api_key"] == "<unset>"
    assert PASSWORD not in repr(masked)


def test_masked_json_friendly(tmp_path: Path) -> None:
    masked = load(OTEL_DIFY_COUNT_FROM="2025-02-01", OTEL_DIFY_APP_MODES="chat").masked()

    assert masked["count_from"] == "2025-02-01"
    assert masked["app_modes"] == ["chat"]
    assert masked["poll_interval"] == 60.0
    assert set(masked) == set(Settings.model_fields)


def test_settings_frozen() -> None:
    settings = load()

    with pytest.raises(pydantic.ValidationError):
        settings.poll_interval = 1.0  # type: ignore[misc]


def test_settings_direct_matches_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environ = {
        **BASE_ENV,
        "OTEL_DIFY_POLL_INTERVAL": "5m",
        "OTEL_DIFY_APP_MODES": "chat,workflow",
        "OTEL_DIFY_COUNT_FROM": "2025-01-01",
    }
    for name in list(os.environ):
        if name.upper().startswith("OTEL_DIFY_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    assert Settings() == load_settings(environ, env_file=None)


# Generated docs.


def test_docs_configuration_up_to_date() -> None:
    committed = DOCS_CONFIGURATION.read_text(encoding="utf-8")

    assert committed == render_configuration_markdown(), (
        "docs/configuration.md is out of date; regenerate it with "
        "`python -m otel_dify.config > docs/configuration.md`"
    )


def test_configuration_variables_complete() -> None:
    variables = configuration_variables()

    assert variables == known_variables()
    assert "OTEL_DIFY_PASSWORD_FILE" in variables
    for variable in variables:
        assert f"`{variable}`" in render_configuration_markdown()


def test_every_field_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name


def test_settings_direct_runs_cross_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OTEL_DIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_DIFY_BASE_URL", "http://127.0.0.1:5001")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(pydantic.ValidationError, match="missing credentials"):
        Settings()


def test_module_prints_docs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "otel_dify.config"], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout == render_configuration_markdown()
