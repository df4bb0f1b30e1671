"""The record settings: levels, limits, app API keys, end-user hashing and the auth-mode rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.config_helpers import load, problems_of

APP_KEY_A = "app-Zk3pQ9rT1vX5bN7mL2cH8dF4"
APP_KEY_B = "app-Qw8eR2tY6uI0oP4aS1dF5gH9"


def test_record_defaults() -> None:
    settings = load()

    assert settings.records_enabled == ("workflow_runs", "llm_usage")
    assert settings.state_dir is None
    assert settings.records_overlap == 600.0
    assert settings.records_max_pages == 20
    assert settings.llm_usage_budget == 100
    assert settings.llm_usage_concurrency == 4
    assert settings.llm_usage_backlog == 10000
    assert settings.service_api_keys == ()
    assert settings.end_user_attribute == "off"
    assert settings.end_user_salt is None
    assert settings.end_user_top_n == 10
    assert settings.max_series_per_metric == 2000


def test_levels_parsed() -> None:
    assert load(OTEL_DIFY_RECORDS_ENABLED="messages, workflow_runs").records_enabled == ("messages", "workflow_runs")


def test_levels_none_turns_off() -> None:
    assert load(OTEL_DIFY_RECORDS_ENABLED="none").records_enabled == ()


def test_levels_empty_means_default() -> None:
    assert load(OTEL_DIFY_RECORDS_ENABLED="").records_enabled == ("workflow_runs", "llm_usage")


def test_level_unknown_rejected() -> None:
    problems = problems_of(OTEL_DIFY_RECORDS_ENABLED="workflow_runs,tokens")

    assert "'tokens'" in problems["OTEL_DIFY_RECORDS_ENABLED"]
    assert "llm_usage" in problems["OTEL_DIFY_RECORDS_ENABLED"]


def test_overlap_duration() -> None:
    assert load(OTEL_DIFY_RECORDS_OVERLAP="5m").records_overlap == 300.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_DIFY_RECORDS_MAX_PAGES", "2"),
        ("OTEL_DIFY_LLM_USAGE_BUDGET", "0"),
        ("OTEL_DIFY_LLM_USAGE_CONCURRENCY", "65"),
        ("OTEL_DIFY_LLM_USAGE_BACKLOG", "0"),
        ("OTEL_DIFY_END_USER_TOP_N", "0"),
        ("OTEL_DIFY_MAX_SERIES_PER_METRIC", "1"),
        ("OTEL_DIFY_RECORDS_OVERLAP", "-1"),
    ],
)
def test_limits_enforced(variable: str, value: str) -> None:
    assert variable in problems_of(**{variable: value})


def test_state_dir_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_text("x", encoding="utf-8")

    assert "not a directory" in problems_of(OTEL_DIFY_STATE_DIR=str(path))["OTEL_DIFY_STATE_DIR"]


def test_state_dir_missing_accepted(tmp_path: Path) -> None:
    assert load(OTEL_DIFY_STATE_DIR=str(tmp_path / "later")).state_dir == tmp_path / "later"


def test_service_keys_mode() -> None:
    settings = load(
        OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None, OTEL_DIFY_SERVICE_API_KEYS=f"{APP_KEY_A}, {APP_KEY_B}"
    )

    assert [key.get_secret_value() for key in settings.service_api_keys] == [APP_KEY_A, APP_KEY_B]
    assert settings.masked()["service_api_keys"] == "***"
    assert APP_KEY_A not in str(settings.masked())


def test_service_keys_file_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"{APP_KEY_A}\n{APP_KEY_B}\n", encoding="utf-8")

    settings = load(OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None, OTEL_DIFY_SERVICE_API_KEYS_FILE=str(path))

    assert [key.get_secret_value() for key in settings.service_api_keys] == [APP_KEY_A, APP_KEY_B]


def test_service_keys_with_console_rejected() -> None:
    problems = problems_of(OTEL_DIFY_SERVICE_API_KEYS=APP_KEY_A)

    assert "not both" in problems["OTEL_DIFY_SERVICE_API_KEYS"]


def test_service_keys_with_workspaces_rejected() -> None:
    problems = problems_of(
        OTEL_DIFY_EMAIL=None,
        OTEL_DIFY_PASSWORD=None,
        OTEL_DIFY_SERVICE_API_KEYS=APP_KEY_A,
        OTEL_DIFY_WORKSPACE_IDS="ws-1",
    )

    assert "OTEL_DIFY_WORKSPACE_IDS" in problems


def test_service_key_wrong_prefix_not_echoed() -> None:
    problems = problems_of(
        OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None, OTEL_DIFY_SERVICE_API_KEYS=f"{APP_KEY_A},sk-secret-value-123"
    )

    message = problems["OTEL_DIFY_SERVICE_API_KEYS"]
    assert "key number 2" in message
    assert "sk-secret-value-123" not in message


def test_no_credentials_mentions_service_keys() -> None:
    problems = problems_of(OTEL_DIFY_EMAIL=None, OTEL_DIFY_PASSWORD=None)

    assert "OTEL_DIFY_SERVICE_API_KEYS" in problems["OTEL_DIFY_EMAIL"]


def test_hashed_end_users_need_salt() -> None:
    problems = problems_of(OTEL_DIFY_END_USER_ATTRIBUTE="hashed")

    assert problems["OTEL_DIFY_END_USER_SALT"].startswith("missing")


def test_hashed_end_users_with_salt_file(tmp_path: Path) -> None:
    path = tmp_path / "salt"
    path.write_text("pepper value\n", encoding="utf-8")

    settings = load(OTEL_DIFY_END_USER_ATTRIBUTE="HASHED", OTEL_DIFY_END_USER_SALT_FILE=str(path))

    assert settings.end_user_attribute == "hashed"
    assert settings.end_user_salt is not None
    assert settings.end_user_salt.get_secret_value() == "pepper value"
    assert settings.masked()["end_user_salt"] == "***"


def test_end_user_mode_invalid() -> None:
    assert "OTEL_DIFY_END_USER_ATTRIBUTE" in problems_of(OTEL_DIFY_END_USER_ATTRIBUTE="sometimes")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any directory")
def test_state_dir_not_writable(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        assert "not writable" in problems_of(OTEL_DIFY_STATE_DIR=str(tmp_path))["OTEL_DIFY_STATE_DIR"]
    finally:
        tmp_path.chmod(0o700)
