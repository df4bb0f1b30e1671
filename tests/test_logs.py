"""Tests of JSON logging: line format, redaction, rate limiting and OpenTelemetry SDK records."""

from __future__ import annotations

import io
import json
import logging
import math
import warnings
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)

from otel_dify.logs import (
    REDACTED,
    RateLimitFilter,
    clear_secrets,
    configure_logging,
    register_secret,
)

SECRET = "s3cret-pa55word"


class FakeClock:
    """A monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
    clear_secrets()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stream(clock: FakeClock) -> io.StringIO:
    output = io.StringIO()
    configure_logging("INFO", output, clock=clock)
    return output


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# Line format.


def test_line_fields(stream: io.StringIO) -> None:
    logging.getLogger("otel_dify.test").info("poll finished")

    [line] = lines(stream)
    assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
    assert line["level"] == "INFO"
    assert line["logger"] == "otel_dify.test"
    assert line["message"] == "poll finished"


def test_timestamp_iso_utc(stream: io.StringIO) -> None:
    before = datetime.now(timezone.utc)
    logging.getLogger("otel_dify.test").info("tick")

    [line] = lines(stream)
    assert line["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    assert abs((stamp - before).total_seconds()) < 60


def test_extra_fields(stream: io.StringIO) -> None:
    logging.getLogger("otel_dify.test").warning(
        "request failed",
        extra={"workspace_id": "ws-1", "app_id": "app-1", "endpoint": "/console/api/apps", "http_status": 502},
    )

    [line] = lines(stream)
    assert line["workspace_id"] == "ws-1"
    assert line["app_id"] == "app-1"
    assert line["endpoint"] == "/console/api/apps"
    assert line["http_status"] == 502


def test_args_formatted(stream: io.StringIO) -> None:
    logging.getLogger("otel_dify.test").info("found %d apps in %s", 3, "ws-1")

    [line] = lines(stream)
    assert line["message"] == "found 3 apps in ws-1"


def test_exception_as_string(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("otel_dify.test").exception("poll failed")

    [line] = lines(stream)
    assert isinstance(line["exc_info"], str)
    assert "Traceback" in line["exc_info"]
    assert "RuntimeError: boom" in line["exc_info"]


def test_level_threshold(stream: io.StringIO) -> None:
    logger = logging.getLogger("otel_dify.test")
    logger.debug("hidden")
    logger.info("shown")

    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_level_case_insensitive() -> None:
    output = io.StringIO()
    configure_logging("debug", output)

    logging.getLogger("otel_dify.test").debug("shown")

    assert [line["message"] for line in lines(output)] == ["shown"]


def test_level_invalid() -> None:
    with pytest.raises(ValueError, match="invalid log level 'loud'"):
        configure_logging("loud", io.StringIO())


def test_second_call_replaces_handler() -> None:
    first = io.StringIO()
    second = io.StringIO()
    configure_logging("INFO", first)
    configure_logging("INFO", second)

    logging.getLogger("otel_dify.test").info("once")

    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]


def test_basic_config_handler_removed() -> None:
    plain = io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(plain))
    output = io.StringIO()
    configure_logging("INFO", output)

    logging.getLogger("otel_dify.test").info("json only")

    assert plain.getvalue() == ""
    assert len(lines(output)) == 1


def test_unserialisable_extra(stream: io.StringIO) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-value"

    logging.getLogger("otel_dify.test").info("with object", extra={"thing": Opaque()})

    [line] = lines(stream)
    assert line["thing"] == "opaque-value"


def test_warnings_logged(stream: io.StringIO) -> None:
    warnings.warn("old option", DeprecationWarning, stacklevel=1)

    [line] = lines(stream)
    assert line["logger"] == "py.warnings"
    assert "old option" in line["message"]


# Redaction.


def test_redacts_message(stream: io.StringIO) -> None:
    register_secret(SECRET)

    logging.getLogger("otel_dify.test").info(f"login with {SECRET}")

    assert SECRET not in stream.getvalue()
    assert lines(stream)[0]["message"] == f"login with {REDACTED}"


def test_redacts_args(stream: io.StringIO) -> None:
    register_secret(SECRET)

    logging.getLogger("otel_dify.test").info("token %s for %s", SECRET, "ws-1")

    assert SECRET not in stream.getvalue()
    assert lines(stream)[0]["message"] == f"token {REDACTED} for ws-1"


def test_redacts_extra(stream: io.StringIO) -> None:
    register_secret(SECRET)

    logging.getLogger("otel_dify.test").info(
        "request", extra={"header": f"Bearer {SECRET}", "nested": {"items": [SECRET, "plain"]}}
    )

    [line] = lines(stream)
    assert line["header"] == f"Bearer {REDACTED}"
    assert line["nested"] == {"items": [REDACTED, "plain"]}


def test_redacts_exception_text(stream: io.StringIO) -> None:
    register_secret(SECRET)

    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        logging.getLogger("otel_dify.test").exception("failed")

    assert SECRET not in stream.getvalue()
    assert f"bad token {REDACTED}" in lines(stream)[0]["exc_info"]


def test_redacts_json_escaped_secret(stream: io.StringIO) -> None:
    secret = 'pa"ss\\wörd'
    register_secret(secret)

    try:
        raise ValueError(f"bad {secret}")
    except ValueError:
        logging.getLogger("otel_dify.test").exception("failed")

    raw = stream.getvalue()
    assert secret not in raw
    assert json.dumps(secret)[1:-1] not in raw
    assert secret not in json.dumps(lines(stream)[0], ensure_ascii=False)


def test_redacts_longest_secret_whole(stream: io.StringIO) -> None:
    register_secret("abcd")
    register_secret("abcdefgh")

    logging.getLogger("otel_dify.test").info("value abcdefgh")

    assert lines(stream)[0]["message"] == f"value {REDACTED}"


def test_short_secret_not_registered(stream: io.StringIO) -> None:
    register_secret("abc")

    logging.getLogger("otel_dify.test").info("abc is fine")

    assert lines(stream)[0]["message"] == "abc is fine"


def test_redaction_reaches_other_handlers(stream: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    register_secret(SECRET)

    with caplog.at_level(logging.INFO):
        logging.getLogger("otel_dify.test").info("token %s", SECRET)

    assert SECRET not in stream.getvalue()
    assert SECRET not in caplog.text


# Rate limiting.


def warn(message: str = "request failed", **extra: Any) -> None:
    logging.getLogger("otel_dify.test").warning(message, extra=extra)


def test_repeats_dropped_in_window(stream: io.StringIO, clock: FakeClock) -> None:
    for _ in range(5):
        warn(endpoint="/console/api/apps", error_type="timeout")
        clock.advance(10)

    assert len(lines(stream)) == 1


def test_next_window_carries_count(stream: io.StringIO, clock: FakeClock) -> None:
    warn(endpoint="/console/api/apps")
    warn(endpoint="/console/api/apps")
    warn(endpoint="/console/api/apps")
    clock.advance(300)
    warn(endpoint="/console/api/apps")

    output = lines(stream)
    assert len(output) == 2
    assert "suppressed" not in output[0]
    assert output[1]["suppressed"] == 2


def test_no_count_without_repeats(stream: io.StringIO, clock: FakeClock) -> None:
    warn()
    clock.advance(301)
    warn()

    output = lines(stream)
    assert len(output) == 2
    assert "suppressed" not in output[1]


def test_window_restarts_after_pass(stream: io.StringIO, clock: FakeClock) -> None:
    warn()
    clock.advance(300)
    warn()
    clock.advance(100)
    warn()

    assert len(lines(stream)) == 2


@pytest.mark.parametrize(
    "second",
    [
        {"endpoint": "/console/api/apps/{app_id}/statistics/token-costs"},
        {"app_id": "app-2"},
        {"error_type": "timeout"},
    ],
)
def test_different_fields_not_repeats(stream: io.StringIO, second: dict[str, str]) -> None:
    first = {"endpoint": "/console/api/apps", "app_id": "app-1", "error_type": "transport"}

    warn(**first)
    warn(**{**first, **second})

    assert len(lines(stream)) == 2


def test_template_not_formatted_message_keys(stream: io.StringIO) -> None:
    logger = logging.getLogger("otel_dify.test")

    logger.warning("retry %d of %d", 1, 3)
    logger.warning("retry %d of %d", 2, 3)
    logger.warning("other template")

    assert [line["message"] for line in lines(stream)] == ["retry 1 of 3", "other template"]


def test_levels_and_loggers_separate(stream: io.StringIO) -> None:
    logging.getLogger("otel_dify.a").warning("failed")
    logging.getLogger("otel_dify.a").error("failed")
    logging.getLogger("otel_dify.b").warning("failed")

    assert len(lines(stream)) == 3


def test_info_never_dropped(stream: io.StringIO) -> None:
    for _ in range(3):
        logging.getLogger("otel_dify.test").info("poll finished")

    assert len(lines(stream)) == 3


def test_filter_forgets_oldest_keys() -> None:
    clock = FakeClock()
    rate_limit = RateLimitFilter(300, clock=clock, max_keys=2)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("otel_dify.test", logging.WARNING, __file__, 1, message, None, None)

    assert rate_limit.filter(record("a"))
    assert rate_limit.filter(record("b"))
    assert rate_limit.filter(record("c"))
    assert rate_limit.filter(record("a"))
    assert not rate_limit.filter(record("c"))


# OpenTelemetry SDK records.


class FailingExporter(MetricExporter):
    """An exporter whose every export raises, as an unreachable collector can make it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.calls += 1
        raise ConnectionError("collector unreachable")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def sdk_lines(output: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in output if line["logger"].startswith("opentelemetry")]


def test_sdk_errors_json_and_limited(stream: io.StringIO, clock: FakeClock) -> None:
    exporter = FailingExporter()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("test").create_counter("dify.test.counter").add(1)

    try:
        reader.force_flush()
        reader.force_flush()
        clock.advance(300)
        reader.force_flush()
    finally:
        provider.shutdown()

    failures = [line for line in sdk_lines(lines(stream)) if "collector unreachable" in line.get("exc_info", "")]
    assert exporter.calls >= 3
    assert len(failures) == 2
    assert failures[0]["level"] == "ERROR"
    assert failures[1]["suppressed"] == 1
