from pathlib import Path

from bench.run import build_parser, settings_line, summary_line


def test_settings_line_absent_without_set():
    assert settings_line([]) is None


def test_settings_line_lists_values():
    line = settings_line([("OTEL_DIFY_RECORDS_ENABLED", "none"), ("OTEL_DIFY_MAX_SERIES_PER_METRIC", "500")])

    assert line == "settings: OTEL_DIFY_RECORDS_ENABLED=none OTEL_DIFY_MAX_SERIES_PER_METRIC=500"


def test_settings_line_quotes_spaces():
    line = settings_line([("OTEL_RESOURCE_ATTRIBUTES", "a=1, b=2")])

    assert line == "settings: 'OTEL_RESOURCE_ATTRIBUTES=a=1, b=2'"


def test_settings_line_hides_secrets():
    line = settings_line(
        [("OTEL_DIFY_PASSWORD", "hunter2"), ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer abc")]
    )

    assert line is not None
    assert "hunter2" not in line
    assert "Bearer" not in line
    assert "OTEL_DIFY_PASSWORD=***" in line
    assert "OTEL_EXPORTER_OTLP_HEADERS=***" in line


def test_settings_line_from_command_line():
    args = build_parser().parse_args(["--set", "OTEL_DIFY_RECORDS_ENABLED=none", "--set", "OTEL_DIFY_X=1"])

    assert settings_line(args.settings) == "settings: OTEL_DIFY_RECORDS_ENABLED=none OTEL_DIFY_X=1"


def test_summary_line_one_app_count():
    line = summary_line(1, 24.0, Path("/tmp/logs"))

    assert line == "1 app count measured in 0.4 min; child process logs in /tmp/logs"


def test_summary_line_several_app_counts():
    line = summary_line(3, 1230.0, Path("/tmp/logs"))

    assert line.startswith("3 app counts measured in 20.5 min;")
