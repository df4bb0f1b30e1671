"""The settings model: one field per OTEL_DIFY_* environment variable.

Build it with :func:`otel_dify.config.load_settings`, which also reads the
``*_FILE`` secret variables, rejects unknown ``OTEL_DIFY_*`` names and reports
every problem at once. Calling ``Settings()`` directly reads the environment
and ``.env`` the pydantic-settings way and runs the same field and
cross-field checks, but skips the ``*_FILE`` variables and the unknown-name
check.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from otel_dify import catalog
from otel_dify.config.errors import Problem
from otel_dify.config.parsing import (
    invalid,
    normalise_base_url,
    parse_day,
    parse_duration,
    split_list,
)
from otel_dify.records.levels import DEFAULT_LEVELS, LEVEL_NAMES

ENV_PREFIX = "OTEL_DIFY_"

# Dify locks an e-mail for 24 hours after more than 5 failed logins, so a
# retry loop faster than this would lock the account out for the day.
MIN_AUTH_BACKOFF_S = 900.0

APP_MODES: tuple[str, ...] = ("chat", "completion", "agent-chat", "advanced-chat", "workflow")

# Fields whose values must never appear in a message or a log line.
SECRET_FIELDS: frozenset[str] = frozenset({"password", "admin_api_key", "service_api_keys", "end_user_salt"})

# Fields that can also be read from a file named by <VARIABLE>_FILE, the way
# Docker and Kubernetes mount secrets.
FILE_FIELDS: tuple[str, ...] = ("email", "password", "admin_api_key", "service_api_keys", "end_user_salt")

# Dify's app API keys are "app-" and 24 characters.
SERVICE_API_KEY_PREFIX = "app-"


def env_name(field_name: str) -> str:
    """Return the environment variable of a settings field."""
    return ENV_PREFIX + field_name.upper()


def _check_email(value: str | None) -> str | None:
    if value is None:
        return None
    if "@" not in value or any(character.isspace() for character in value):
        raise invalid("invalid e-mail address (expected name@domain)")
    return value


def _check_app_modes(modes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [mode for mode in modes if mode not in APP_MODES]
    if unknown:
        raise invalid(f"invalid app mode {', '.join(map(repr, unknown))} (valid: {', '.join(APP_MODES)})")
    return modes


def _check_metric_names(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in catalog.METRIC_NAMES]
    if unknown:
        raise invalid(
            f"unknown metric {', '.join(map(repr, unknown))} (valid: {', '.join(catalog.METRIC_NAMES)})"
        )
    return names


def _check_record_levels(levels: tuple[str, ...]) -> tuple[str, ...]:
    # An empty variable counts as unset and means the default, so "none" turns every level off.
    if levels == ("none",):
        return ()
    unknown = [level for level in levels if level not in LEVEL_NAMES]
    if unknown:
        raise invalid(f"invalid record level {', '.join(map(repr, unknown))} (valid: {', '.join(LEVEL_NAMES)})")
    return levels


def _split_keys(value: Any) -> Any:
    """Split app API keys on commas and line breaks, so a key file may hold one key per line."""
    if isinstance(value, str):
        return split_list(value.replace("\r", ",").replace("\n", ","))
    return split_list(value) if isinstance(value, (list, tuple)) else value


def _check_service_keys(keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
    wrong = [
        index + 1 for index, key in enumerate(keys) if not key.get_secret_value().startswith(SERVICE_API_KEY_PREFIX)
    ]
    if wrong:
        # The message names positions only, never a key.
        raise invalid(
            f"key number {', '.join(map(str, wrong))} does not start with {SERVICE_API_KEY_PREFIX!r}; "
            "use the app API keys from the app's API Access page"
        )
    return keys


def _check_state_dir(path: Path | None) -> Path | None:
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise invalid(f"{str(path)!r} exists and is not a directory")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise invalid(f"directory {str(path)!r} is not writable by this process")
    return path


def _check_readable_file(path: Path | None) -> Path | None:
    if path is None:
        return None
    if not path.is_file():
        raise invalid(f"file {str(path)!r} not found or not a regular file")
    if not os.access(path, os.R_OK):
        raise invalid(f"file {str(path)!r} is not readable by this process")
    return path


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(parse_duration)]
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_list)]
AppModes = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_list), AfterValidator(_check_app_modes)]
MetricNames = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(split_list), AfterValidator(_check_metric_names)
]
RecordLevels = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(split_list), AfterValidator(_check_record_levels)
]
ServiceApiKeys = Annotated[
    tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_keys), AfterValidator(_check_service_keys)
]

_DURATION_FORMAT = "Seconds, or a number with a suffix ms, s, m or h (60, 60s, 5m)."


class Settings(BaseSettings):
    """The validated configuration of one otel-dify process. Immutable.

    Durations are float seconds. Lists are tuples, in the order given and
    without repeats.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # Dify and its credentials.
    base_url: Annotated[str, BeforeValidator(normalise_base_url)] = Field(
        description=(
            "URL of the Dify site, for example http://127.0.0.1:5001. A trailing / and a "
            "trailing /console/api or /v1 are removed. Required."
        ),
    )
    email: Annotated[str | None, AfterValidator(_check_email)] = Field(
        default=None,
        description="E-mail of the Dify account to log in with. Use with OTEL_DIFY_PASSWORD.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Password of the Dify account. Use with OTEL_DIFY_EMAIL.",
    )
    admin_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "Dify's ADMIN_API_KEY, used instead of e-mail and password. Needs "
            "OTEL_DIFY_WORKSPACE_IDS and Dify 1.11.0 or later, or 1.9.1 or earlier."
        ),
    )
    workspace_ids: CommaList = Field(
        default=(),
        description=(
            "Comma-separated workspace (tenant) ids to poll with the admin API key. "
            "Not used with e-mail login, which polls the account's current workspace."
        ),
    )
    password_encoding: Annotated[Literal["auto", "base64", "plain"], BeforeValidator(_lower)] = Field(
        default="auto",
        description=(
            "How the login sends the password: base64 (Dify 1.11.2 and later), plain "
            "(earlier versions), or auto to choose from the server version."
        ),
    )

    # Polling.
    poll_interval: Seconds = Field(
        default=60.0, gt=0, description=f"Time between the starts of two polls. {_DURATION_FORMAT}"
    )
    initial_delay: Seconds = Field(
        default=1.0, ge=0, description=f"Wait before the first poll. {_DURATION_FORMAT}"
    )
    request_timeout: Seconds = Field(
        default=10.0, gt=0, description=f"Timeout of one HTTP request to Dify. {_DURATION_FORMAT}"
    )
    max_concurrency: int = Field(
        default=4, ge=1, le=64, description="Maximum number of concurrent requests to Dify, 1 to 64."
    )
    history_refresh_interval: Seconds = Field(
        default=3600.0,
        gt=0,
        description=(
            "How often the totals of past days are read again from Dify; must be at least "
            f"OTEL_DIFY_POLL_INTERVAL. {_DURATION_FORMAT}"
        ),
    )
    count_from: Annotated[date | None, BeforeValidator(parse_day)] = Field(
        default=None,
        description=(
            "First day (YYYY-MM-DD, in the Dify account's time zone) that counters include. "
            "Unset: all history that Dify keeps."
        ),
    )
    max_pages: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="Maximum pages of 100 apps read from the app list per workspace, 1 to 10000.",
    )

    # App selection.
    app_include_ids: CommaList = Field(
        default=(), description="Comma-separated app ids to report. Empty: all apps."
    )
    app_exclude_ids: CommaList = Field(default=(), description="Comma-separated app ids not to report.")
    app_include_names: CommaList = Field(
        default=(),
        description=(
            "Comma-separated app name globs (*, ?, [abc]) to report, ignoring case. Empty: all apps."
        ),
    )
    app_exclude_names: CommaList = Field(
        default=(),
        description="Comma-separated app name globs not to report, ignoring case. Excludes win over includes.",
    )
    app_modes: AppModes = Field(
        default=(),
        description=(
            "Comma-separated app modes to report: chat, completion, agent-chat, advanced-chat, "
            "workflow. Empty: all modes."
        ),
    )

    # TLS.
    tls_verify: bool = Field(
        default=True, description="Verify Dify's TLS certificate (true or false)."
    )
    ca_file: Annotated[Path | None, AfterValidator(_check_readable_file)] = Field(
        default=None,
        description="PEM file of CA certificates that sign Dify's certificate, used instead of the system store.",
    )

    # Metrics.
    metrics_enabled: MetricNames = Field(
        default=(),
        description="Comma-separated optional metrics to emit in addition to the defaults (see docs/metrics.md).",
    )
    metrics_disabled: MetricNames = Field(
        default=(), description="Comma-separated metrics not to emit (see docs/metrics.md)."
    )
    export_on_poll: bool = Field(
        default=True,
        description=(
            "Export metrics right after each poll, in addition to the periodic export, so fresh "
            "values leave at once (true or false)."
        ),
    )

    # Record-level collection.
    records_enabled: RecordLevels = Field(
        default=DEFAULT_LEVELS,
        description=(
            "Comma-separated record levels to collect: workflow_runs (runs by status, one list request "
            "per workflow app and poll), llm_usage (tokens and cost per model, one request per finished "
            "run), messages (chat message tokens, one request per changed conversation), or none."
        ),
    )
    state_dir: Annotated[Path | None, AfterValidator(_check_state_dir)] = Field(
        default=None,
        description=(
            "Directory where record collection keeps its state (records-state.json), so a restart "
            "neither loses nor double counts records. Unset: counting starts at each process start."
        ),
    )
    records_overlap: Seconds = Field(
        default=600.0,
        ge=0,
        le=86400,
        description=(
            "Time before the newest record counted that each poll reads again, for records that Dify "
            f"commits late; repeats are recognised by id. {_DURATION_FORMAT}"
        ),
    )
    records_max_pages: int = Field(
        default=20,
        ge=3,
        le=1000,
        description=(
            "Maximum list requests (pages of 100 records) per app and record source in one poll, "
            "3 to 1000; a longer backlog is read over several polls."
        ),
    )
    llm_usage_budget: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="Maximum node-execution requests (one per finished run) per poll, 1 to 10000.",
    )
    llm_usage_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Maximum node-execution requests in flight at once, 1 to 64.",
    )
    llm_usage_backlog: int = Field(
        default=10000,
        ge=1,
        le=1000000,
        description=(
            "Maximum finished runs waiting for their node executions; runs beyond it are dropped and "
            "counted in dify.exporter.records.dropped."
        ),
    )
    service_api_keys: ServiceApiKeys = Field(
        default=(),
        description=(
            "Comma-separated app API keys (app-...) for the service-API-only mode, used instead of a "
            "console login: workflow runs by status, tokens and duration only. The app id of each key "
            "is key- and 16 hex digits of the key's SHA-256."
        ),
    )
    end_user_attribute: Annotated[Literal["off", "raw", "hashed"], BeforeValidator(_lower)] = Field(
        default="off",
        description=(
            "Add dify.end_user.id to record metrics: off, raw (the end user's session id) or hashed "
            "(SHA-256 of OTEL_DIFY_END_USER_SALT and the id, 16 hex digits)."
        ),
    )
    end_user_salt: SecretStr | None = Field(
        default=None,
        description="Secret prefix hashed with each end-user id; required with OTEL_DIFY_END_USER_ATTRIBUTE=hashed.",
    )
    end_user_top_n: int = Field(
        default=10,
        ge=1,
        le=1000,
        description=(
            "End users per app that get their own dify.end_user.id series, 1 to 1000: the first to rank "
            "top by tokens keep it, and the rest share the series other."
        ),
    )
    max_series_per_metric: int = Field(
        default=2000,
        ge=2,
        le=100000,
        description=(
            "Maximum series of each record-level counter; the rest are summed into one series with "
            "otel.metric.overflow=true."
        ),
    )

    # Process.
    health_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the health server listens on. In a container, set 0.0.0.0 so that probes from outside the container reach it.",
    )
    health_port: int = Field(
        default=8890, ge=0, le=65535, description="Port of the health server (/healthz, /readyz); 0 picks a free port."
    )
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = Field(
        default="INFO", description="Log level: DEBUG, INFO, WARNING or ERROR."
    )
    shutdown_timeout: Seconds = Field(
        default=30.0,
        gt=0,
        description=f"Time allowed for the final export and clean-up on SIGTERM. {_DURATION_FORMAT}",
    )
    auth_backoff: Seconds = Field(
        default=MIN_AUTH_BACKOFF_S,
        ge=0,
        description=(
            "Wait after a failed login before the next attempt, at least 900 s, because Dify locks "
            f"the account for a day after more than 5 failed logins. {_DURATION_FORMAT}"
        ),
    )

    @property
    def console_api_url(self) -> str:
        """Base URL of Dify's console API, without a trailing slash."""
        return f"{self.base_url}/console/api"

    @model_validator(mode="after")
    def _check_consistency(self) -> "Settings":
        problems = consistency_problems(self.model_dump())
        if problems:
            raise invalid("; ".join(str(problem) for problem in problems))
        return self

    def masked(self) -> dict[str, object]:
        """Return the effective configuration for the start-up log line.

        Secrets read "***" when set and "<unset>" when not. Tuples become lists,
        dates and paths strings, so the result serialises to JSON.
        """
        result: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                result[name] = "***" if value not in (None, ()) else "<unset>"
            elif isinstance(value, tuple):
                result[name] = list(value)
            elif isinstance(value, (date, Path)):
                result[name] = str(value)
            else:
                result[name] = value
        return result


def _is_set(values: Mapping[str, Any], failed: frozenset[str], field_name: str) -> bool:
    # A field that failed validation was set to something, so a cross-field
    # check must not report it as missing as well.
    return field_name in failed or bool(values.get(field_name))


def _auth_problems(values: Mapping[str, Any], failed: frozenset[str]) -> list[Problem]:
    email = _is_set(values, failed, "email")
    password = _is_set(values, failed, "password")
    admin_key = _is_set(values, failed, "admin_api_key")
    workspaces = _is_set(values, failed, "workspace_ids")
    service_keys = _is_set(values, failed, "service_api_keys")

    if service_keys and (email or password or admin_key):
        # Both would report the same workflow runs, and the sum would count them twice.
        return [
            Problem(
                env_name("service_api_keys"),
                "set either app API keys or console credentials (OTEL_DIFY_EMAIL and OTEL_DIFY_PASSWORD, "
                "or OTEL_DIFY_ADMIN_API_KEY), not both",
            )
        ]
    if service_keys:
        if workspaces:
            return [
                Problem(
                    env_name("workspace_ids"),
                    "used only with OTEL_DIFY_ADMIN_API_KEY; app API keys name their app themselves, "
                    "so unset this variable",
                )
            ]
        return []

    if admin_key:
        problems = []
        if email or password:
            problems.append(
                Problem(
                    env_name("admin_api_key"),
                    "set either the admin API key or OTEL_DIFY_EMAIL and OTEL_DIFY_PASSWORD, not both",
                )
            )
        if not workspaces:
            problems.append(
                Problem(env_name("workspace_ids"), "missing: the admin API key needs at least one workspace id")
            )
        return problems

    if not email and not password:
        return [
            Problem(
                env_name("email"),
                "missing credentials: set OTEL_DIFY_EMAIL and OTEL_DIFY_PASSWORD, "
                "or OTEL_DIFY_ADMIN_API_KEY and OTEL_DIFY_WORKSPACE_IDS, "
                "or OTEL_DIFY_SERVICE_API_KEYS for workflow runs only",
            )
        ]

    problems = []
    if not email:
        problems.append(Problem(env_name("email"), "missing: OTEL_DIFY_PASSWORD is set, so the e-mail is needed too"))
    if not password:
        problems.append(Problem(env_name("password"), "missing: OTEL_DIFY_EMAIL is set, so the password is needed too"))
    if workspaces:
        problems.append(
            Problem(
                env_name("workspace_ids"),
                "used only with OTEL_DIFY_ADMIN_API_KEY; e-mail login polls the account's current "
                "workspace, so unset this variable",
            )
        )
    return problems


def consistency_problems(values: Mapping[str, Any], failed: frozenset[str] = frozenset()) -> list[Problem]:
    """Return the problems that involve more than one field.

    ``values`` maps field names to validated values; a field missing from it
    takes its default. ``failed`` names fields that were set but failed their
    own validation: a check that needs such a field is skipped, because its
    problem is already reported.
    """
    defaults = {name: field.default for name, field in Settings.model_fields.items() if not field.is_required()}
    merged = {**defaults, **values}
    problems = _auth_problems(merged, failed)

    if not failed & {"poll_interval", "history_refresh_interval"}:
        poll_s = merged["poll_interval"]
        history_s = merged["history_refresh_interval"]
        if history_s < poll_s:
            problems.append(
                Problem(
                    env_name("history_refresh_interval"),
                    f"must be at least OTEL_DIFY_POLL_INTERVAL ({poll_s:g} s), got {history_s:g} s",
                )
            )

    if "auth_backoff" not in failed:
        backoff_s = merged["auth_backoff"]
        if backoff_s < MIN_AUTH_BACKOFF_S:
            problems.append(
                Problem(
                    env_name("auth_backoff"),
                    f"must be at least {MIN_AUTH_BACKOFF_S:g} s, got {backoff_s:g} s, because Dify locks the "
                    "account for a day after more than 5 failed logins",
                )
            )

    hashed = "end_user_attribute" not in failed and merged["end_user_attribute"] == "hashed"
    if hashed and not _is_set(merged, failed, "end_user_salt"):
        problems.append(
            Problem(
                env_name("end_user_salt"),
                "missing: OTEL_DIFY_END_USER_ATTRIBUTE=hashed needs a secret salt, or the hashes "
                "of guessable ids could be reversed",
            )
        )

    if not failed & {"metrics_enabled", "metrics_disabled"}:
        both = [name for name in merged["metrics_disabled"] if name in merged["metrics_enabled"]]
        if both:
            problems.append(
                Problem(
                    env_name("metrics_disabled"),
                    f"{', '.join(map(repr, both))} also in OTEL_DIFY_METRICS_ENABLED; remove it from one list",
                )
            )

    return problems
