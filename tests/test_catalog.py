"""Tests of the metric catalog: naming rules, selection and the generated docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from otel_dify import catalog

DOCS_METRICS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"

# Instrument name syntax from the OpenTelemetry metrics API specification.
INSTRUMENT_NAME = re.compile(r"[a-zA-Z][-_./a-zA-Z0-9]{0,254}")


def test_docs_metrics_up_to_date() -> None:
    committed = DOCS_METRICS.read_text(encoding="utf-8")

    assert committed == catalog.render_markdown(), (
        "docs/metrics.md is out of date; regenerate it with "
        "`python -m otel_dify.catalog > docs/metrics.md`"
    )


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_name_matches_instrument_rule(spec: catalog.MetricSpec) -> None:
    assert INSTRUMENT_NAME.fullmatch(spec.name)


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_name_lowercase_dify_namespace(spec: catalog.MetricSpec) -> None:
    assert spec.name == spec.name.lower()
    assert spec.name.startswith("dify.")


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_name_without_total_suffix(spec: catalog.MetricSpec) -> None:
    assert not spec.name.endswith(".total")
    assert not spec.name.endswith("_total")


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_unit_ascii_and_short(spec: catalog.MetricSpec) -> None:
    assert spec.unit.isascii()
    assert 0 < len(spec.unit) <= 63


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_instrument_kind_known(spec: catalog.MetricSpec) -> None:
    assert spec.instrument in catalog.INSTRUMENT_KINDS


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_attributes_described_and_unique(spec: catalog.MetricSpec) -> None:
    assert len(set(spec.attributes)) == len(spec.attributes)
    for key in spec.attributes:
        assert key in catalog.ATTRIBUTE_DESCRIPTIONS, key


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_description_one_sentence(spec: catalog.MetricSpec) -> None:
    assert spec.description.endswith(".")
    assert ". " not in spec.description


@pytest.mark.parametrize("spec", catalog.METRICS, ids=lambda spec: spec.name)
def test_buckets_only_on_histograms(spec: catalog.MetricSpec) -> None:
    if spec.instrument != "histogram":
        assert spec.bucket_boundaries == ()
        return

    assert list(spec.bucket_boundaries) == sorted(set(spec.bucket_boundaries))


def test_names_unique() -> None:
    names = [spec.name for spec in catalog.METRICS]

    assert len(names) == len(set(names))


def test_metric_names_follow_catalog_order() -> None:
    assert catalog.METRIC_NAMES == tuple(spec.name for spec in catalog.METRICS)


def test_poll_duration_buckets_cover_range() -> None:
    spec = catalog.get("dify.exporter.poll.duration")

    assert spec.bucket_boundaries[0] <= 0.05
    assert spec.bucket_boundaries[-1] >= 300


def test_cost_carries_currency() -> None:
    spec = catalog.get("dify.app.cost")

    assert catalog.ATTR_COST_CURRENCY in spec.attributes
    assert spec.unit.startswith("{")
    assert spec.note


def test_get_known() -> None:
    assert catalog.get("dify.app.tokens").unit == "{token}"


def test_get_unknown_lists_valid_names() -> None:
    with pytest.raises(KeyError) as excinfo:
        catalog.get("dify.app.token")

    assert "dify.app.token'" in str(excinfo.value)
    assert "dify.app.tokens" in str(excinfo.value)


def test_enabled_metrics_defaults() -> None:
    names = [spec.name for spec in catalog.enabled_metrics()]

    assert names == [spec.name for spec in catalog.METRICS if spec.enabled_by_default]
    assert "dify.app.workflow.end_users.active" not in names
    assert "dify.app.interactions.per_conversation" not in names


def test_enabled_metrics_adds_optional() -> None:
    names = [spec.name for spec in catalog.enabled_metrics(enabled=["dify.app.interactions.per_conversation"])]

    assert "dify.app.interactions.per_conversation" in names
    assert names.index("dify.app.interactions.per_conversation") > names.index("dify.app.satisfaction")


def test_enabled_metrics_removes_disabled() -> None:
    names = [spec.name for spec in catalog.enabled_metrics(disabled=["dify.app.cost", "dify.exporter.up"])]

    assert "dify.app.cost" not in names
    assert "dify.exporter.up" not in names
    assert "dify.app.tokens" in names


def test_enabled_metrics_enable_default_is_noop() -> None:
    assert catalog.enabled_metrics(enabled=["dify.app.cost"]) == catalog.enabled_metrics()


def test_enabled_metrics_rejects_both() -> None:
    with pytest.raises(ValueError, match="dify.app.cost"):
        catalog.enabled_metrics(enabled=["dify.app.cost"], disabled=["dify.app.cost"])


def test_enabled_metrics_rejects_unknown() -> None:
    with pytest.raises(KeyError, match="dify.nope"):
        catalog.enabled_metrics(disabled=["dify.nope"])


def test_spec_frozen() -> None:
    spec = catalog.get("dify.apps")

    with pytest.raises(AttributeError):
        spec.unit = "1"  # type: ignore[misc]


def test_markdown_sections_in_order() -> None:
    text = catalog.render_markdown()

    default_at = text.index("## Default metrics")
    optional_at = text.index("## Optional metrics")
    assert default_at < optional_at
    assert default_at < text.index("### dify.app.messages") < optional_at
    assert text.index("### dify.app.workflow.end_users.active") > optional_at


def test_markdown_lists_every_metric() -> None:
    text = catalog.render_markdown()

    for spec in catalog.METRICS:
        assert f"### {spec.name}\n" in text


def test_module_prints_docs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "otel_dify.catalog"], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout == catalog.render_markdown()
