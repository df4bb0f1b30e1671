"""The catalog of every metric otel-dify can emit: the single source for code and docs.

Each :class:`MetricSpec` names one instrument with its unit, description,
attribute keys and default state. The telemetry pipeline creates instruments
from it, the configuration validates ``OTEL_DIFY_METRICS_ENABLED`` and
``OTEL_DIFY_METRICS_DISABLED`` against it, and :func:`render_markdown` builds
``docs/metrics.md`` from it (``python -m otel_dify.catalog > docs/metrics.md``).

Naming follows the OpenTelemetry metric conventions: a ``dify.`` namespace
because no semantic convention covers these figures, UCUM units with
curly-brace annotations for counts of things, no unit in the name and no
``.total`` suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

Instrument = Literal["counter", "gauge", "histogram"]

INSTRUMENT_KINDS: tuple[Instrument, ...] = ("counter", "gauge", "histogram")

# Attribute keys. Every module uses these constants so that a typo fails at import.
ATTR_WORKSPACE_ID = "dify.workspace.id"
ATTR_WORKSPACE_NAME = "dify.workspace.name"
ATTR_APP_ID = "dify.app.id"
ATTR_APP_NAME = "dify.app.name"
ATTR_APP_MODE = "dify.app.mode"
ATTR_COST_CURRENCY = "dify.cost.currency"
ATTR_HTTP_ROUTE = "http.route"
ATTR_HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
ATTR_ERROR_TYPE = "error.type"
ATTR_WORKFLOW_RUN_STATUS = "dify.workflow.run.status"
ATTR_WORKFLOW_RUN_CREATED_FROM = "dify.workflow.run.created_from"
ATTR_GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
ATTR_LLM_PROVIDER_ID = "dify.llm.provider.id"
ATTR_GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
ATTR_GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
ATTR_MESSAGE_STATUS = "dify.message.status"
ATTR_END_USER_ID = "dify.end_user.id"
ATTR_RECORDS_LEVEL = "dify.records.level"
ATTR_METRIC_NAME = "dify.metric.name"
ATTR_METRIC_OVERFLOW = "otel.metric.overflow"

APP_ATTRIBUTES: tuple[str, ...] = (
    ATTR_WORKSPACE_ID,
    ATTR_WORKSPACE_NAME,
    ATTR_APP_ID,
    ATTR_APP_NAME,
    ATTR_APP_MODE,
)

ATTRIBUTE_DESCRIPTIONS: dict[str, str] = {
    ATTR_WORKSPACE_ID: "Dify workspace (tenant) id.",
    ATTR_WORKSPACE_NAME: "Dify workspace name.",
    ATTR_APP_ID: "Dify app id.",
    ATTR_APP_NAME: "Dify app name.",
    ATTR_APP_MODE: "Dify app mode: chat, completion, agent-chat, advanced-chat or workflow.",
    ATTR_COST_CURRENCY: "ISO 4217 currency code of the cost, for example USD.",
    ATTR_HTTP_ROUTE: "Dify endpoint template, for example /console/api/apps/{app_id}/statistics/token-costs.",
    ATTR_HTTP_RESPONSE_STATUS_CODE: "HTTP status code of the response, 0 when no response arrived.",
    ATTR_ERROR_TYPE: (
        "Short error name, for example timeout, transport, http_status, not_found, "
        "invalid_response or authentication."
    ),
    ATTR_WORKFLOW_RUN_STATUS: "Final status of the workflow run: succeeded, failed, stopped or partial-succeeded.",
    ATTR_WORKFLOW_RUN_CREATED_FROM: (
        "Where the run was started: service-api, web-app or installed-app (explore). "
        "Absent for advanced-chat runs, whose list does not say."
    ),
    ATTR_GEN_AI_PROVIDER_NAME: (
        "Model provider in the OpenTelemetry GenAI convention: openai, anthropic, azure.ai.openai, "
        "aws.bedrock, gcp.gemini, gcp.vertex_ai, mistral_ai, or the last segment of Dify's provider id; "
        "unknown when Dify names none."
    ),
    ATTR_LLM_PROVIDER_ID: "Model provider id as Dify stores it, for example langgenius/openai/openai or openai.",
    ATTR_GEN_AI_REQUEST_MODEL: "Model name as Dify stores it, for example gpt-4o-mini; unknown for agent nodes.",
    ATTR_GEN_AI_TOKEN_TYPE: "input (prompt tokens) or output (completion tokens).",
    ATTR_MESSAGE_STATUS: "Status of the message as Dify stores it: normal or error.",
    ATTR_END_USER_ID: (
        "End user who started the record: the session id (or end-user id) for one of the app's top "
        "end users, other for the rest, or its salted SHA-256 with OTEL_DIFY_END_USER_ATTRIBUTE=hashed. "
        "Only with OTEL_DIFY_END_USER_ATTRIBUTE raw or hashed, and absent for records of console accounts."
    ),
    ATTR_RECORDS_LEVEL: "Record level that sent the request: workflow_runs, llm_usage or messages.",
    ATTR_METRIC_NAME: "Name of the metric whose series were folded.",
    ATTR_METRIC_OVERFLOW: (
        "true on the one series into which the series beyond OTEL_DIFY_MAX_SERIES_PER_METRIC are folded; "
        "such a point carries no other attribute."
    ),
}

# Bucket boundaries in seconds for dify.exporter.poll.duration. A poll of a
# small Dify takes a fraction of a second, but a large one with a slow database
# can take minutes, so the buckets span 0.05 s to 300 s.
POLL_DURATION_BUCKETS_S: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 300.0,
)

# Bucket boundaries in seconds for dify.workflow.run.duration. A workflow of one
# small model call ends in well under a second, while one with tools, loops and
# human input can run for an hour.
WORKFLOW_RUN_DURATION_BUCKETS_S: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)

# Bucket boundaries in seconds for model call latencies: the advisory of the
# OpenTelemetry GenAI convention for gen_ai.client.operation.duration.
MODEL_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)


@dataclass(frozen=True)
class MetricSpec:
    """The definition of one metric.

    ``instrument`` selects the OpenTelemetry instrument: ``counter`` is an
    ObservableCounter that reports absolute cumulative totals, ``gauge`` an
    ObservableGauge, ``histogram`` a synchronous Histogram recorded by the poll
    loop. ``attributes`` lists the keys a point may carry. ``source`` names the
    Dify endpoint that feeds the metric, and ``note`` explains a name or unit
    that differs from what a reader might expect. ``bucket_boundaries`` applies
    to histograms only; empty means the SDK default buckets.
    """

    name: str
    instrument: Instrument
    unit: str
    description: str
    attributes: tuple[str, ...]
    enabled_by_default: bool
    source: str
    note: str = ""
    bucket_boundaries: tuple[float, ...] = ()


_STATISTICS = "GET /console/api/apps/{app_id}/statistics/"
_WORKFLOW_STATISTICS = "GET /console/api/apps/{app_id}/workflow/statistics/"
_TODAY = "on the current day in the time zone of the Dify account"

_WORKFLOW_RUN_SOURCE = (
    "GET /console/api/apps/{app_id}/workflow-app-logs (workflow apps), "
    "GET /console/api/apps/{app_id}/advanced-chat/workflow-runs?triggered_from=app-run "
    "(advanced-chat apps, Dify 1.9.2 and later), or GET /v1/workflows/logs with an app API key"
)
_NODE_EXECUTIONS_SOURCE = "GET /console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions (leaf nodes)"
_MESSAGES_SOURCE = (
    "GET /console/api/apps/{app_id}/chat-conversations, then "
    "GET /console/api/apps/{app_id}/chat-messages per changed conversation"
)
_RECORD_COUNTER_NOTE = (
    "Counted once per record from the start of collection (no backfill without a state "
    "directory); a total held by the exporter and kept in OTEL_DIFY_STATE_DIR across restarts."
)
_WORKFLOW_RUN_ATTRIBUTES = APP_ATTRIBUTES + (ATTR_END_USER_ID,)
_MODEL_ATTRIBUTES = APP_ATTRIBUTES + (ATTR_GEN_AI_PROVIDER_NAME, ATTR_LLM_PROVIDER_ID, ATTR_GEN_AI_REQUEST_MODEL)

METRICS: tuple[MetricSpec, ...] = (
    # App counters: cumulative totals since OTEL_DIFY_COUNT_FROM.
    MetricSpec(
        name="dify.app.messages",
        instrument="counter",
        unit="{message}",
        description="Messages that the app answered, excluding debugger messages.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "daily-messages (message_count summed over days)",
        note="Workflow apps write no messages, so they report no points.",
    ),
    MetricSpec(
        name="dify.app.tokens",
        instrument="counter",
        unit="{token}",
        description="Prompt and answer tokens of the app's messages, summed.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "token-costs (token_count summed over days)",
        note=(
            "Dify's statistics give only the sum of prompt and answer tokens, "
            "so there is no input/output split and no gen_ai.token.type attribute."
        ),
    ),
    MetricSpec(
        name="dify.app.cost",
        instrument="counter",
        unit="{currency_unit}",
        description="Model cost of the app's messages in the currency given by dify.cost.currency.",
        attributes=APP_ATTRIBUTES + (ATTR_COST_CURRENCY,),
        enabled_by_default=True,
        source=_STATISTICS + "token-costs (total_price summed over days)",
        note=(
            "A unit applies to every point of a metric, but the currency is a "
            "per-point attribute, so the unit is the annotation {currency_unit}; "
            "Prometheus drops annotations and names the series dify_app_cost_total. "
            "Never sum across currencies. Dify 1.15 always reports USD."
        ),
    ),
    MetricSpec(
        name="dify.app.workflow.runs",
        instrument="counter",
        unit="{run}",
        description="Workflow runs of the app in any status, excluding editor debug runs.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_WORKFLOW_STATISTICS + "daily-conversations (runs summed over days)",
        note=(
            "Dify names the endpoint daily-conversations but it counts runs started "
            "from the published app; runs started by triggers are not counted."
        ),
    ),
    MetricSpec(
        name="dify.app.workflow.tokens",
        instrument="counter",
        unit="{token}",
        description="Tokens consumed by the app's workflow runs.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_WORKFLOW_STATISTICS + "token-costs (token_count summed over days)",
        note="Dify reports no price for workflow runs, so there is no workflow cost metric.",
    ),
    # App gauges: figures for the current day.
    MetricSpec(
        name="dify.app.conversations.active",
        instrument="gauge",
        unit="{conversation}",
        description=f"Conversations with at least one message {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "daily-conversations (conversation_count of the current day)",
    ),
    MetricSpec(
        name="dify.app.end_users.active",
        instrument="gauge",
        unit="{user}",
        description=f"Distinct end users who sent a message {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "daily-end-users (terminal_count of the current day)",
        note="Console and explore users are not end users and are not counted.",
    ),
    MetricSpec(
        name="dify.app.workflow.end_users.active",
        instrument="gauge",
        unit="{user}",
        description=f"Distinct users, end users and accounts, who started a workflow run {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=False,
        source=_WORKFLOW_STATISTICS + "daily-terminals (terminal_count of the current day)",
        note=(
            "Optional because Dify counts workspace accounts together with end users here, "
            "and for advanced-chat apps it overlaps with dify.app.end_users.active."
        ),
    ),
    MetricSpec(
        name="dify.app.satisfaction",
        instrument="gauge",
        unit="1",
        description=f"Ratio of likes to messages {_TODAY}, not counting dislikes.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "user-satisfaction-rate (rate of the current day, divided by 1000)",
        note="Dify returns likes per 1000 messages, so the exporter divides by 1000 to report the ratio 1.",
    ),
    MetricSpec(
        name="dify.app.interactions.per_conversation",
        instrument="gauge",
        unit="{message}",
        description=f"Mean number of messages per conversation started {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=False,
        source=_STATISTICS + "average-session-interactions (interactions of the current day)",
        note=(
            "Optional because it is the slowest statistics endpoint on a large Dify "
            "database. Only chat, agent-chat and advanced-chat apps report it. The unit "
            "is {message} because the value is a message count averaged over conversations."
        ),
    ),
    MetricSpec(
        name="dify.app.response.latency",
        instrument="gauge",
        unit="s",
        description=f"Mean model response latency of the app's messages {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "average-response-time (latency of the current day, ms converted to s)",
        note=(
            "Dify serves this figure only for completion apps, so other modes report no points. "
            "It is a daily mean, not a distribution, so it is a gauge and not a histogram."
        ),
    ),
    MetricSpec(
        name="dify.app.output_tokens.rate",
        instrument="gauge",
        unit="{token}/s",
        description=f"Answer tokens per second of model response time {_TODAY}.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_STATISTICS + "tokens-per-second (tps of the current day)",
    ),
    MetricSpec(
        name="dify.apps",
        instrument="gauge",
        unit="{app}",
        description="Apps in the workspace that pass the OTEL_DIFY_APP_* filters, by mode.",
        attributes=(ATTR_WORKSPACE_ID, ATTR_WORKSPACE_NAME, ATTR_APP_MODE),
        enabled_by_default=True,
        source="GET /console/api/apps (all pages)",
    ),
    # Record-level metrics: counted from individual runs and messages.
    MetricSpec(
        name="dify.workflow.runs",
        instrument="counter",
        unit="{run}",
        description="Finished workflow runs of the app, by final status and origin, excluding editor debug runs.",
        attributes=APP_ATTRIBUTES + (ATTR_WORKFLOW_RUN_STATUS, ATTR_WORKFLOW_RUN_CREATED_FROM, ATTR_END_USER_ID),
        enabled_by_default=True,
        source=_WORKFLOW_RUN_SOURCE,
        note=(
            "Needs the workflow_runs level of OTEL_DIFY_RECORDS_ENABLED (on by default). A run is "
            "counted once, when it reaches a final status; running and paused runs wait. "
            + _RECORD_COUNTER_NOTE
        ),
    ),
    MetricSpec(
        name="dify.workflow.run.duration",
        instrument="histogram",
        unit="s",
        description="Elapsed time of each finished workflow run, by final status.",
        attributes=APP_ATTRIBUTES + (ATTR_WORKFLOW_RUN_STATUS,),
        enabled_by_default=False,
        source=_WORKFLOW_RUN_SOURCE + " (elapsed_time)",
        note=(
            "Optional because every series of a histogram carries one count per bucket. Recorded "
            "when the run is counted, so a restarted exporter starts a new distribution."
        ),
        bucket_boundaries=WORKFLOW_RUN_DURATION_BUCKETS_S,
    ),
    MetricSpec(
        name="dify.workflow.tokens",
        instrument="counter",
        unit="{token}",
        description="Tokens of the app's finished workflow runs, as the run reports them.",
        attributes=_WORKFLOW_RUN_ATTRIBUTES,
        enabled_by_default=True,
        source=_WORKFLOW_RUN_SOURCE + " (total_tokens)",
        note="Needs the workflow_runs level. " + _RECORD_COUNTER_NOTE,
    ),
    MetricSpec(
        name="dify.llm.tokens",
        instrument="counter",
        unit="{token}",
        description="Model tokens of the app's workflow runs, by provider, model and token type.",
        attributes=_MODEL_ATTRIBUTES + (ATTR_GEN_AI_TOKEN_TYPE,),
        enabled_by_default=True,
        source=_NODE_EXECUTIONS_SOURCE + " (process_data.usage, or outputs.usage for agent nodes)",
        note=(
            "Needs the llm_usage level of OTEL_DIFY_RECORDS_ENABLED (on by default): one request per "
            "finished run. Iteration and loop nodes are skipped because their usage repeats that of "
            "their children. Usage known only as a total (agent nodes without outputs.usage) has no "
            "token type and is left out here. " + _RECORD_COUNTER_NOTE
        ),
    ),
    MetricSpec(
        name="dify.llm.cost",
        instrument="counter",
        unit="{currency_unit}",
        description=(
            "Model cost of the app's workflow runs, by provider and model, in the currency of dify.cost.currency."
        ),
        attributes=_MODEL_ATTRIBUTES + (ATTR_COST_CURRENCY,),
        enabled_by_default=True,
        source=_NODE_EXECUTIONS_SOURCE + " (usage.total_price and usage.currency)",
        note="Never sum across currencies. Needs the llm_usage level. " + _RECORD_COUNTER_NOTE,
    ),
    MetricSpec(
        name="dify.llm.calls",
        instrument="counter",
        unit="{call}",
        description="Model calls of the app's workflow runs: leaf nodes that report usage, by provider and model.",
        attributes=_MODEL_ATTRIBUTES,
        enabled_by_default=True,
        source=_NODE_EXECUTIONS_SOURCE,
        note="Needs the llm_usage level. " + _RECORD_COUNTER_NOTE,
    ),
    MetricSpec(
        name="dify.llm.duration",
        instrument="histogram",
        unit="s",
        description="Latency of each model call of the app's workflow runs, by provider and model.",
        attributes=_MODEL_ATTRIBUTES,
        enabled_by_default=False,
        source=_NODE_EXECUTIONS_SOURCE + " (usage.latency)",
        note=(
            "Optional because every series of a histogram carries one count per bucket. Recorded "
            "when the run's node executions are read. Needs the llm_usage level."
        ),
        bucket_boundaries=MODEL_LATENCY_BUCKETS_S,
    ),
    MetricSpec(
        name="dify.message.tokens",
        instrument="counter",
        unit="{token}",
        description="Prompt (input) and answer (output) tokens of the app's chat messages.",
        attributes=APP_ATTRIBUTES + (ATTR_GEN_AI_TOKEN_TYPE, ATTR_END_USER_ID),
        enabled_by_default=True,
        source=_MESSAGES_SOURCE + " (message_tokens, answer_tokens)",
        note=(
            "Needs the messages level of OTEL_DIFY_RECORDS_ENABLED, which is off by default. Dify's "
            "message lists name no model, and only some releases put a price in the message metadata, "
            "so these points carry neither. Completion apps are not read. " + _RECORD_COUNTER_NOTE
        ),
    ),
    MetricSpec(
        name="dify.messages",
        instrument="counter",
        unit="{message}",
        description="Chat messages of the app, by message status.",
        attributes=APP_ATTRIBUTES + (ATTR_MESSAGE_STATUS, ATTR_END_USER_ID),
        enabled_by_default=True,
        source=_MESSAGES_SOURCE,
        note=(
            "Needs the messages level (off by default). A message is counted when its answer is "
            "complete or once it is older than OTEL_DIFY_RECORDS_OVERLAP. Dify's conversation list "
            "hides debugger conversations of advanced-chat apps only, so for chat and agent-chat apps "
            "these counts include the editor's debugger messages, which dify.app.messages leaves out. "
            + _RECORD_COUNTER_NOTE
        ),
    ),
    MetricSpec(
        name="dify.message.latency",
        instrument="histogram",
        unit="s",
        description="Model response latency of each chat message, by message status.",
        attributes=APP_ATTRIBUTES + (ATTR_MESSAGE_STATUS,),
        enabled_by_default=False,
        source=_MESSAGES_SOURCE + " (provider_response_latency)",
        note=(
            "Optional because every series of a histogram carries one count per bucket. Needs the "
            "messages level (off by default). Messages without a latency are not recorded."
        ),
        bucket_boundaries=MODEL_LATENCY_BUCKETS_S,
    ),
    # Exporter self-metrics.
    MetricSpec(
        name="dify.exporter.up",
        instrument="gauge",
        unit="1",
        description="1 when the last poll of the workspace succeeded, 0 when it failed.",
        attributes=(ATTR_WORKSPACE_ID,),
        enabled_by_default=True,
        source="the exporter's poll loop",
    ),
    MetricSpec(
        name="dify.exporter.last_success",
        instrument="gauge",
        unit="s",
        description="Unix time of the last successful poll of the workspace.",
        attributes=(ATTR_WORKSPACE_ID,),
        enabled_by_default=True,
        source="the exporter's poll loop",
        note="Alert when now minus this value exceeds three poll intervals.",
    ),
    MetricSpec(
        name="dify.exporter.poll.duration",
        instrument="histogram",
        unit="s",
        description="Duration of one poll of the workspace, successful or not.",
        attributes=(ATTR_WORKSPACE_ID,),
        enabled_by_default=True,
        source="the exporter's poll loop",
        bucket_boundaries=POLL_DURATION_BUCKETS_S,
    ),
    MetricSpec(
        name="dify.exporter.requests",
        instrument="counter",
        unit="{request}",
        description="HTTP requests sent to Dify, by endpoint template and status code.",
        attributes=(ATTR_HTTP_ROUTE, ATTR_HTTP_RESPONSE_STATUS_CODE),
        enabled_by_default=True,
        source="the exporter's Dify client",
        note="http.response.status_code is 0 when the request failed before a response arrived.",
    ),
    MetricSpec(
        name="dify.exporter.errors",
        instrument="counter",
        unit="{error}",
        description="Errors raised while polling Dify, by error type.",
        attributes=(ATTR_WORKSPACE_ID, ATTR_ERROR_TYPE),
        enabled_by_default=True,
        source="the exporter's poll loop and Dify client",
    ),
    MetricSpec(
        name="dify.exporter.records.backlog",
        instrument="gauge",
        unit="{run}",
        description="Finished workflow runs waiting for their node executions to be read.",
        attributes=(),
        enabled_by_default=True,
        source="the exporter's record collection (llm_usage level)",
        note=(
            "Grows when runs finish faster than OTEL_DIFY_LLM_USAGE_BUDGET node-execution requests "
            "per poll can read them."
        ),
    ),
    MetricSpec(
        name="dify.exporter.records.dropped",
        instrument="counter",
        unit="{run}",
        description="Finished workflow runs whose model usage was not read because the backlog was full.",
        attributes=(),
        enabled_by_default=True,
        source="the exporter's record collection (llm_usage level)",
        note="Only a backlog at OTEL_DIFY_LLM_USAGE_BACKLOG drops runs; the count covers this process.",
    ),
    MetricSpec(
        name="dify.exporter.records.requests",
        instrument="counter",
        unit="{request}",
        description="Requests that record-level collection sent to Dify, by record level.",
        attributes=(ATTR_RECORDS_LEVEL,),
        enabled_by_default=True,
        source="the exporter's record collection",
        note=(
            "One count per request before retries; dify.exporter.requests counts every HTTP attempt. "
            "The count covers this process."
        ),
    ),
    MetricSpec(
        name="dify.exporter.records.usage_mismatches",
        instrument="counter",
        unit="{run}",
        description="Workflow runs whose leaf-node token sum differs from the run's total tokens.",
        attributes=APP_ATTRIBUTES,
        enabled_by_default=True,
        source=_NODE_EXECUTIONS_SOURCE,
        note=(
            "A mismatch means node usage that the exporter cannot see or attribute, for example a "
            "node type with usage in an unexpected place. Kept in OTEL_DIFY_STATE_DIR across restarts."
        ),
    ),
    MetricSpec(
        name="dify.exporter.records.series_overflow",
        instrument="gauge",
        unit="{series}",
        description="Series of a record-level metric folded into its otel.metric.overflow series.",
        attributes=(ATTR_METRIC_NAME,),
        enabled_by_default=True,
        source="the exporter's snapshot builder",
        note="Non-zero means OTEL_DIFY_MAX_SERIES_PER_METRIC is too low for the apps, models and end users seen.",
    ),
)

_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}

METRIC_NAMES: tuple[str, ...] = tuple(spec.name for spec in METRICS)


def get(name: str) -> MetricSpec:
    """Return the spec of metric ``name``.

    Raises KeyError, naming the valid metrics, when ``name`` is not in the catalog.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}. Valid names: {', '.join(METRIC_NAMES)}") from None


def enabled_metrics(enabled: Iterable[str] = (), disabled: Iterable[str] = ()) -> tuple[MetricSpec, ...]:
    """Return the specs to emit, in catalog order.

    The result is the metrics enabled by default, plus those in ``enabled``,
    minus those in ``disabled``. Raises KeyError for an unknown name and
    ValueError for a name in both lists. The configuration checks both earlier,
    so it can report them per variable.
    """
    enabled_names = {get(name).name for name in enabled}
    disabled_names = {get(name).name for name in disabled}

    both = sorted(enabled_names & disabled_names)
    if both:
        raise ValueError(f"metrics both enabled and disabled: {', '.join(both)}")

    return tuple(
        spec
        for spec in METRICS
        if (spec.enabled_by_default or spec.name in enabled_names) and spec.name not in disabled_names
    )


_INSTRUMENT_LABELS: dict[str, str] = {
    "counter": "ObservableCounter (monotonic, cumulative totals)",
    "gauge": "ObservableGauge",
    "histogram": "Histogram",
}


def _render_metric(spec: MetricSpec) -> list[str]:
    lines = [
        f"### {spec.name}",
        "",
        spec.description,
        "",
        "| Unit | Instrument | Source |",
        "| ---- | ---------- | ------ |",
        f"| `{spec.unit}` | {_INSTRUMENT_LABELS[spec.instrument]} | {spec.source} |",
        "",
    ]

    if spec.bucket_boundaries:
        boundaries = ", ".join(f"{boundary:g}" for boundary in spec.bucket_boundaries)
        lines += [f"Bucket boundaries (s): {boundaries}.", ""]

    if spec.note:
        lines += [f"Note: {spec.note}", ""]

    lines += [
        "#### Attributes",
        "",
        "| Name | Description |",
        "| ---- | ----------- |",
    ]
    lines += [f"| `{key}` | {ATTRIBUTE_DESCRIPTIONS[key]} |" for key in spec.attributes]
    lines.append("")
    return lines


def render_markdown() -> str:
    """Render the metrics reference that docs/metrics.md contains.

    The output is deterministic, so a test can compare it with the committed file.
    """
    default_specs = [spec for spec in METRICS if spec.enabled_by_default]
    optional_specs = [spec for spec in METRICS if not spec.enabled_by_default]
    example_default = default_specs[0].name
    example_optional = optional_specs[0].name if optional_specs else example_default

    lines = [
        "# Metrics",
        "",
        "<!-- Generated from otel_dify/catalog.py by `python -m otel_dify.catalog > docs/metrics.md`."
        " Do not edit by hand. -->",
        "",
        "otel-dify emits the metrics below. Counters report cumulative totals since",
        "`OTEL_DIFY_COUNT_FROM` (or since the oldest statistics Dify returns); gauges report",
        "figures of the current day in the time zone of the Dify account that the exporter",
        "uses. Units follow UCUM; Prometheus drops annotations in braces from names.",
        "",
        "Record-level counters (`dify.workflow.*`, `dify.llm.*`, `dify.message*`) count each",
        "run or message once from the start of record collection instead, and need their level",
        "in `OTEL_DIFY_RECORDS_ENABLED`; see the README's section on record-level collection.",
        "",
        "## Turning metrics on and off",
        "",
        "Both variables take a comma-separated list of metric names. A name in both lists,",
        "or a name that is not listed here, stops the exporter at start-up with an error.",
        "",
        "```sh",
        f"OTEL_DIFY_METRICS_DISABLED={example_default}",
        f"OTEL_DIFY_METRICS_ENABLED={example_optional}",
        "```",
        "",
        "A disabled metric gets no instrument at all, so it sends no data points.",
        "",
        "## Default metrics",
        "",
        "These metrics are emitted unless `OTEL_DIFY_METRICS_DISABLED` names them.",
        "",
    ]
    for spec in default_specs:
        lines += _render_metric(spec)

    lines += [
        "## Optional metrics",
        "",
        "These metrics are emitted only when `OTEL_DIFY_METRICS_ENABLED` names them.",
        "",
    ]
    for spec in optional_specs:
        lines += _render_metric(spec)

    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
