"""The Grafana dashboard, the alert rules and docs/deploy.md use only Prometheus names
that the metric catalog yields.

The names are those of the OpenTelemetry Collector's prometheus exporter with its
default translation, underscore escaping with suffixes:

- every character that is not a letter or digit separates name tokens, which are
  joined with ``_``;
- the main unit is appended after mapping (``s`` becomes ``seconds``), unless it is
  empty, ``1`` or an annotation in braces;
- a per-unit after ``/`` is appended as ``per_<unit>`` in the singular (``s`` becomes
  ``second``);
- a monotonic counter gets ``_total``, and a gauge with unit ``1`` gets ``_ratio``;
- a unit already among the name's tokens is not added again.
 Attribute keys become labels with every other character turned into ``_``.
Source: the collector-contrib translator pkg/translator/prometheus (normalize_name.go
and its README) and prometheus/otlptranslator, which implement the same rules.

The rule checks run only where PyYAML is installed; .ci/deploy.sh installs it. The
PromQL syntax check runs only where promtool is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from otel_dify.catalog import METRICS, MetricSpec

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "otel-dify.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

# UCUM units that the translator maps to Prometheus base-unit words. Only the
# entries that a metric of this project could plausibly use are listed; any
# other unit is appended as it is, after cleaning.
_UNIT_WORDS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "1": "",
    "%": "percent",
}
_PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

# Labels that Prometheus, the collector's exporter or a histogram add to every
# series, beside the attributes.
_STANDARD_LABELS = {"job", "instance", "le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}

# Series that a rule or test may name although the catalog does not make them.
_FOREIGN_SERIES = {"up"}

# PromQL words that look like label or metric names but are not.
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "sum", "max", "min", "avg", "count", "rate", "increase", "time",
    "histogram_quantile", "absent", "present_over_time", "max_over_time",
}


def _tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[^A-Za-z0-9]+", text) if token]


def _clean(text: str) -> str:
    return "_".join(_tokens(text))


def prometheus_name(spec: MetricSpec) -> str:
    """Return the series name the collector's prometheus exporter gives ``spec``.

    For a histogram this is the base name, without ``_bucket``, ``_sum`` or ``_count``.
    """
    tokens = _tokens(spec.name)
    main_unit, _, per_unit = spec.unit.partition("/")
    main_unit, per_unit = main_unit.strip(), per_unit.strip()

    if main_unit and "{" not in main_unit and "}" not in main_unit:
        word = _clean(_UNIT_WORDS.get(main_unit, main_unit))
        if word and word not in tokens:
            tokens.append(word)

    if per_unit and "{" not in per_unit and "}" not in per_unit:
        word = _clean(_PER_UNIT_WORDS.get(per_unit, per_unit))
        if word and word not in tokens:
            tokens += ["per", word]

    if spec.instrument == "counter":
        tokens = [token for token in tokens if token != "total"] + ["total"]
    if spec.instrument == "gauge" and spec.unit == "1":
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]
    return "_".join(tokens)


def series_names(spec: MetricSpec) -> set[str]:
    """Return every series name ``spec`` appears under in Prometheus."""
    base = prometheus_name(spec)
    if spec.instrument == "histogram":
        return {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return {base}


def label_name(attribute: str) -> str:
    """Return the Prometheus label of an OpenTelemetry attribute key."""
    return re.sub(r"[^A-Za-z0-9_]", "_", attribute)


# Series name -> labels it may carry.
SERIES_LABELS: dict[str, set[str]] = {
    name: {label_name(key) for key in spec.attributes} | _STANDARD_LABELS
    for spec in METRICS
    for name in series_names(spec)
}
ALL_LABELS: set[str] = set().union(*SERIES_LABELS.values())


def _dashboard_panels() -> list[dict]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in _dashboard_panels() for target in panel.get("targets", [])]


def _dashboard_label_values() -> list[tuple[str, str]]:
    """Return (series selector, label) of every ``label_values(...)`` variable query."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["definition"].strip())
        assert match, f"variable {variable['name']} is not a label_values query"
        queries.append((match.group(1), match.group(2)))
    return queries


def _legend_labels() -> set[str]:
    legends = [target.get("legendFormat", "") for panel in _dashboard_panels() for target in panel.get("targets", [])]
    return {label for legend in legends for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)}


def _load_yaml(path: Path):
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; .ci/deploy.sh installs it")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alert_exprs() -> list[str]:
    rules = _load_yaml(ALERTS)
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _alert_test_series() -> list[str]:
    tests = _load_yaml(ALERT_TESTS)
    return [series["series"] for test in tests["tests"] for series in test["input_series"]]


# A grouping or matching clause with its label list, for example "by (a, b)".
_GROUPING_CLAUSE = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"


def metric_names_in(expr: str) -> set[str]:
    """Return the series names that a PromQL expression or selector mentions.

    Names come from bare identifiers before a selector or range and from
    ``__name__`` matchers, whose alternatives are split at ``|``.
    """
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_grouping = re.sub(_GROUPING_CLAUSE, " ", without_matchers)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|[><=!])", without_grouping))
    names -= _PROMQL_WORDS

    for alternatives in re.findall(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names.update(alternatives.split("|"))
    return {name for name in names if not re.fullmatch(r"[0-9]+", name)}


def selectors_in(expr: str) -> list[tuple[str, set[str]]]:
    """Return (series name, matched labels) for every ``name{...}`` selector in ``expr``."""
    selectors = []
    for name, matchers in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
        labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"[^"]*"', '""', matchers)))
        selectors.append((name, labels))
    return selectors


def grouping_labels_in(expr: str) -> set[str]:
    """Return the labels of every ``by``/``without``/``on``/``ignoring`` clause."""
    clauses = [clause[clause.index("(") + 1 : -1] for clause in re.findall(_GROUPING_CLAUSE, expr)]
    return {label.strip() for clause in clauses for label in clause.split(",") if label.strip()}


def test_prometheus_name_known_examples():
    by_name = {spec.name: spec for spec in METRICS}

    assert prometheus_name(by_name["dify.app.tokens"]) == "dify_app_tokens_total"
    assert prometheus_name(by_name["dify.app.cost"]) == "dify_app_cost_total"
    assert prometheus_name(by_name["dify.app.response.latency"]) == "dify_app_response_latency_seconds"
    assert prometheus_name(by_name["dify.app.satisfaction"]) == "dify_app_satisfaction_ratio"
    assert prometheus_name(by_name["dify.app.output_tokens.rate"]) == "dify_app_output_tokens_rate_per_second"
    assert prometheus_name(by_name["dify.exporter.up"]) == "dify_exporter_up_ratio"
    assert "dify_exporter_poll_duration_seconds_bucket" in series_names(by_name["dify.exporter.poll.duration"])
    assert label_name("dify.app.name") == "dify_app_name"
    assert label_name("http.response.status_code") == "http_response_status_code"


def test_prometheus_names_are_unique():
    names = [prometheus_name(spec) for spec in METRICS]

    assert len(names) == len(set(names))


def test_metric_names_in_parses_selectors():
    expr = 'sum by (a) (rate(dify_app_tokens_total{b="x{y}"}[5m])) > 3 * max(dify_apps) and time() - foo'

    assert metric_names_in(expr) == {"dify_app_tokens_total", "dify_apps", "foo"}
    assert metric_names_in('{__name__=~"one|two", x="y"}') == {"one", "two"}


def test_dashboard_uses_only_catalog_series():
    selectors = [selector for selector, _ in _dashboard_label_values()]
    used = set().union(*(metric_names_in(expr) for expr in _dashboard_exprs() + selectors))

    unknown = used - set(SERIES_LABELS)
    assert used, "no series found in the dashboard"
    assert unknown == set()


def test_dashboard_selectors_use_each_series_labels():
    for expr in _dashboard_exprs():
        for name, labels in selectors_in(expr):
            assert labels <= SERIES_LABELS[name], f"{name} has no label {labels - SERIES_LABELS[name]} in {expr}"


def test_dashboard_variables_read_labels_of_their_series():
    for selector, label in _dashboard_label_values():
        names = metric_names_in(selector)
        matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"[^"]*"', '""', selector))) - {"__name__"}
        assert names, selector
        for name in names:
            assert label in SERIES_LABELS[name], f"{name} has no label {label}"
            assert matched <= SERIES_LABELS[name], f"{name} has no label {matched - SERIES_LABELS[name]}"


def test_dashboard_groups_and_legends_use_known_labels():
    grouping = set().union(*(grouping_labels_in(expr) for expr in _dashboard_exprs()))

    assert grouping - ALL_LABELS == set()
    assert _legend_labels() - ALL_LABELS == set()


def test_dashboard_covers_usage_and_health():
    used = set().union(*(metric_names_in(expr) for expr in _dashboard_exprs()))
    expected = {
        "dify_app_tokens_total",
        "dify_app_cost_total",
        "dify_app_messages_total",
        "dify_app_conversations_active",
        "dify_app_end_users_active",
        "dify_app_satisfaction_ratio",
        "dify_app_response_latency_seconds",
        "dify_app_workflow_runs_total",
        "dify_exporter_up_ratio",
        "dify_exporter_last_success_seconds",
        "dify_exporter_poll_duration_seconds_bucket",
        "dify_exporter_errors_total",
        "dify_exporter_requests_total",
    }

    assert expected - used == set()


def test_dashboard_has_workspace_and_app_variables():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}

    assert variables["workspace"]["type"] == "query"
    assert variables["app"]["type"] == "query"
    assert "$workspace" in variables["app"]["definition"]
    assert variables["datasource"]["type"] == "datasource"


def test_dashboard_panels_query_the_datasource_variable():
    for panel in _dashboard_panels():
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_panel_ids_are_unique():
    ids = [panel["id"] for panel in _dashboard_panels()]

    assert len(ids) == len(set(ids))


def test_alerts_use_only_catalog_series():
    used = set().union(*(metric_names_in(expr) for expr in _alert_exprs()))

    assert used, "no series found in the alert rules"
    assert used - set(SERIES_LABELS) == set()


def test_alerts_use_each_series_labels():
    for expr in _alert_exprs():
        for name, labels in selectors_in(expr):
            assert labels <= SERIES_LABELS[name], f"{name} has no label {labels - SERIES_LABELS[name]} in {expr}"
        assert grouping_labels_in(expr) <= ALL_LABELS, expr


def test_alert_tests_name_series_as_exported():
    for series in _alert_test_series():
        name = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", series).group(1)
        assert name in SERIES_LABELS or name in _FOREIGN_SERIES, series
        if name in SERIES_LABELS:
            labels = set(re.findall(r"(\w+)\s*=", re.sub(r'"[^"]*"', '""', series)))
            assert labels <= SERIES_LABELS[name], series


def test_deploy_doc_lists_every_metric_name():
    doc = DEPLOY_DOC.read_text(encoding="utf-8")

    for spec in METRICS:
        row = f"| `{spec.name}` | `{spec.unit}` | {spec.instrument} | `{prometheus_name(spec)}` |"
        assert row in doc, f"docs/deploy.md lacks the row: {row}"


def _with_grafana_macros_replaced(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1d")
    return re.sub(r"\$\w+", ".*", expr)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed; .ci/deploy.sh installs it")
def test_dashboard_exprs_parse_with_promtool(tmp_path):
    # promtool has no command that parses one expression, but checking rules
    # parses every expr, so the dashboard's queries become recording rules.
    rules = [
        {"record": f"dashboard:query_{index}", "expr": _with_grafana_macros_replaced(expr)}
        for index, expr in enumerate(_dashboard_exprs())
    ]
    rules_file = tmp_path / "dashboard-rules.json"
    rules_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")

    result = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
