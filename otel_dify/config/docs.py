"""The configuration reference (docs/configuration.md), generated from the settings fields."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from otel_dify.config.loader import file_variable
from otel_dify.config.settings import FILE_FIELDS, Settings, env_name

_INTRO = """\
# Configuration

<!-- Generated from otel_dify/config/settings.py by `python -m otel_dify.config > docs/configuration.md`. Do not edit by hand. -->

otel-dify reads its settings from `OTEL_DIFY_*` environment variables and from an optional
`.env` file in the working directory; the process environment wins over the file. Other
variables in the environment or the file are ignored, so Dify's own `.env` can be passed
as well. An `OTEL_DIFY_*` name that is not listed below is an error, because it is
usually a typo. At start-up every invalid variable is reported, one line each, before
the process exits.

Value formats:

- Durations: seconds (`60`, `1.5`) or a number with a suffix `ms`, `s`, `m` or `h`
  (`60s`, `5m`, `1h`).
- Lists: comma-separated, spaces around items are ignored, repeats are dropped.
- Booleans: `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
- An empty value counts as unset.

Credentials: set one of `OTEL_DIFY_EMAIL` and `OTEL_DIFY_PASSWORD` (console login),
`OTEL_DIFY_ADMIN_API_KEY` and `OTEL_DIFY_WORKSPACE_IDS` (admin API key), or
`OTEL_DIFY_SERVICE_API_KEYS` (app API keys only: workflow runs of workflow apps, no
statistics, cost or models). The e-mail, the password and every key can instead be read
from the file named by the same variable with `_FILE` appended (Docker and Kubernetes
secrets); one trailing newline is removed. Setting both the variable and its `_FILE`
variant is an error.

## Variables

| Variable | Default | Description |
| -------- | ------- | ----------- |
"""

_OTEL_SECTION = """
## OpenTelemetry variables

The export side follows the standard OpenTelemetry variables. otel-dify reads
`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, then `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or
`http/protobuf`, default `http/protobuf`) to choose the exporter. The OpenTelemetry
Python SDK reads the rest itself, for example `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (seconds in the Python SDK),
`OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`,
`OTEL_METRIC_EXPORT_INTERVAL` (milliseconds, default 60000), `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES`.
"""


def _format_default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"

    value: Any = field.default
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _escape(text: str) -> str:
    # Escape characters that Markdown tables and emphasis would swallow.
    return text.replace("|", "\\|").replace("*", "\\*")


def _rows() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for field_name, field in Settings.model_fields.items():
        variable = env_name(field_name)
        rows.append((variable, _format_default(field), field.description or ""))
        if field_name in FILE_FIELDS:
            rows.append(
                (
                    file_variable(field_name),
                    "(unset)",
                    f"File that contains the value of {variable}, used instead of it.",
                )
            )
    return rows


def configuration_variables() -> list[str]:
    """Return every variable of the configuration table, in table order."""
    return [variable for variable, _default, _description in _rows()]


def render_configuration_markdown() -> str:
    """Render docs/configuration.md. The output is deterministic, so a test can compare it with the file."""
    table = "".join(
        f"| `{variable}` | {_escape(default)} | {_escape(description)} |\n"
        for variable, default, description in _rows()
    )
    return _INTRO + table + _OTEL_SECTION
