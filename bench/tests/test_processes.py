from otel_dify.config import load_settings
from otel_dify.records.levels import Level, active_levels
from otel_dify.runtime.assembly import enabled_metric_names

from bench.processes import exporter_environment, records_run_settings
from bench.request_counts import statistics_metric_names

STATISTICS = statistics_metric_names()


def names(text: str) -> set[str]:
    return {part for part in text.split(",") if part}


def test_records_settings_turn_levels_on():
    settings = records_run_settings({"OTEL_DIFY_RECORDS_ENABLED": "none"}, STATISTICS)

    assert names(settings["OTEL_DIFY_RECORDS_ENABLED"]) == {"workflow_runs", "llm_usage"}


def test_records_settings_keep_other_levels():
    settings = records_run_settings({"OTEL_DIFY_RECORDS_ENABLED": "messages, llm_usage"}, STATISTICS)

    assert names(settings["OTEL_DIFY_RECORDS_ENABLED"]) == {"messages", "llm_usage", "workflow_runs"}


def test_records_settings_disable_statistics():
    settings = records_run_settings(
        {
            "OTEL_DIFY_METRICS_ENABLED": "dify.app.workflow.end_users.active,dify.llm.duration",
            "OTEL_DIFY_METRICS_DISABLED": "dify.llm.cost",
        },
        STATISTICS,
    )

    assert names(settings["OTEL_DIFY_METRICS_ENABLED"]) == {"dify.llm.duration"}
    assert names(settings["OTEL_DIFY_METRICS_DISABLED"]) == STATISTICS | {"dify.llm.cost"}


def test_records_settings_keep_others():
    base = exporter_environment("http://127.0.0.1:1", max_concurrency=4)

    settings = records_run_settings(base, STATISTICS)

    for name, value in base.items():
        assert settings[name] == value


def test_records_settings_load():
    environ = records_run_settings(exporter_environment("http://127.0.0.1:1", max_concurrency=4), STATISTICS)

    settings = load_settings(environ, env_file=None)

    enabled = enabled_metric_names(settings)
    assert not enabled & STATISTICS
    assert active_levels(tuple(settings.records_enabled), enabled) == {Level.WORKFLOW_RUNS, Level.LLM_USAGE}

