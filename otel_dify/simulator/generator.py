"""Seeded generation of a simulator data set.

The data imitate the demo data a real Dify 1.15.0 server was filled with.
Each app has a pool of end users and conversations of one to six messages
from the service API, the web app, the explore page and the debugger. About
3% of the messages are errors and about a fifth are liked. Workflow and
advanced-chat apps also get workflow runs. A few records sit exactly on local
midnight (and one second before it) in America/New_York, UTC and Asia/Tokyo,
so daily buckets differ between account timezones.

App runs of workflow apps get an app log, and each workflow app has
``RUNNING_RUNS_PER_APP`` runs still running at ``now``. Every run stores a
seeded ``NodePlan`` from which ``Dataset.nodes_of`` builds its node
executions on first use (see ``node_plans``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from otel_dify.dify.models import AppMode
from otel_dify.simulator.dataset import MESSAGE_MODES, Dataset, Membership, published_version
from otel_dify.simulator.pricing import MODELS, ModelPrice, message_price
from otel_dify.simulator.records import (
    APP_RUN,
    CREATED_FROM_BY_INVOKE_FROM,
    DEBUGGER,
    DEBUGGING,
    RUN_STATUSES,
    RUNNING,
    Account,
    App,
    AppRecords,
    Conversation,
    EndUser,
    Message,
    NodePlan,
    Workspace,
    WorkflowRun,
)

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_EMAIL = "admin@example.com"
#: Fake demo credential of the generated admin account.
DEFAULT_ADMIN_PASSWORD = "sim-demo-password"
DEFAULT_ADMIN_TIMEZONE = "America/New_York"
#: Zones whose local midnight gets boundary records.
BOUNDARY_ZONES = ("America/New_York", "UTC", "Asia/Tokyo")
#: Timezones of the owners of the second and later workspaces, in turn.
OTHER_OWNER_ZONES = ("UTC", "Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles")

_APP_NAMES = {
    AppMode.CHAT: ("Support Bot", "🤖"),
    AppMode.COMPLETION: ("Summarizer", "📝"),
    AppMode.AGENT_CHAT: ("Research Agent", "🕵️"),
    AppMode.ADVANCED_CHAT: ("Helpdesk Flow", "💬"),
    AppMode.WORKFLOW: ("Invoice Extractor", "⚙️"),
}
_INVOKE_FROM_WEIGHTS = (("service-api", 45), ("web-app", 35), ("explore", 10), (DEBUGGER, 10))
_RUN_STATUS_WEIGHTS = (85, 8, 4, 3)
#: Runs per workflow app still ``running`` at ``now``, started 30 s to 10 min before it.
RUNNING_RUNS_PER_APP = 2
# Bit masks that turn 128 random bits into a version-4, RFC 4122 variant UUID.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def generate_dataset(
    *,
    seed: int,
    now: datetime,
    days: int = 10,
    workspaces: int = 1,
    apps_per_mode: int = 1,
    conversations_per_app: int = 10,
    runs_per_app: int = 40,
    end_users_per_app: int = 8,
    boundary_records: bool = True,
    admin_email: str = DEFAULT_ADMIN_EMAIL,
    admin_password: str = DEFAULT_ADMIN_PASSWORD,
    admin_timezone: str = DEFAULT_ADMIN_TIMEZONE,
) -> Dataset:
    """Build a data set whose records lie in the ``days`` days before ``now``.

    Each workspace has one owner account and ``apps_per_mode`` apps of each of
    the five modes. The admin account owns the first workspace and is an
    ``admin`` member of the others. ``boundary_records`` adds, per app, records
    at local midnight and one second before it in each of ``BOUNDARY_ZONES``.
    With the default sizes an app gets about 65 records. Generating 1,000
    apps took 0.7 to 1.3 s on a 2-core VM shared with other work. That was
    measured with ``time.perf_counter`` around this call and is an
    estimate, not a bound. It leaves out node executions: building all of
    them for those 1,000 apps (about 18,000 runs) took another 1.5 s on the
    same VM.
    """
    if now.tzinfo is None:
        raise ValueError("generate_dataset needs an aware 'now'")
    if days < 1 or workspaces < 1 or apps_per_mode < 0:
        raise ValueError("days and workspaces must be at least 1 and apps_per_mode at least 0")

    rng = random.Random(seed)
    # Node executions, app logs and running runs draw from their own stream,
    # so they leave the ids and values drawn from ``rng`` as they were.
    detail_rng = random.Random(f"run-details-{seed}")
    dataset = Dataset(seed)
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    window_start = now - timedelta(days=days)
    created_base = window_start - timedelta(days=1)

    workspace_ids: list[str] = []
    for index in range(workspaces):
        owner = _make_account(rng, index, created_base, admin_email, admin_password, admin_timezone)
        workspace = Workspace(
            id=_uuid(rng),
            name=f"{owner.name}'s Workspace",
            owner_id=owner.id,
            created_at=created_base,
        )
        dataset.add_workspace(workspace)
        # A set-up Dify account has logged in at least once.
        owner.last_login_at = now - timedelta(hours=1)
        dataset.add_account(owner, [Membership(workspace.id, "owner")])
        workspace_ids.append(workspace.id)
    admin_id = dataset.workspaces[workspace_ids[0]].owner_id
    dataset.memberships[admin_id].extend(Membership(ws_id, "admin") for ws_id in workspace_ids[1:])

    app_counter = 0
    for workspace_id in workspace_ids:
        owner_id = dataset.workspaces[workspace_id].owner_id
        for copy in range(apps_per_mode):
            for mode in _APP_NAMES:
                app_counter += 1
                app = _make_app(rng, mode, copy, apps_per_mode, workspace_id, owner_id, created_base, app_counter)
                records = dataset.add_app(app)
                sizes = _AppSizes(conversations_per_app, runs_per_app, end_users_per_app, boundary_records)
                _fill_app(_Streams(rng, detail_rng), app, records, owner_id, now, window_start, sizes)

    logger.info(
        "simulator data set generated",
        extra={"seed": seed, "apps": len(dataset.apps), "workspaces": len(dataset.workspaces)},
    )
    return dataset


def _uuid(rng: random.Random) -> str:
    """Return a random UUID4 string; formats the bits directly because ``uuid.UUID`` is slow in bulk."""
    bits = rng.getrandbits(128)
    bits = (bits & _UUID_CLEAR) | _UUID_SET
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _randint(rng: random.Random, low: int, high: int) -> int:
    """Return an int in [low, high]; cheaper than ``Random.randint`` for bulk generation."""
    return low + int(rng.random() * (high - low + 1))


def _make_account(
    rng: random.Random, index: int, created_at: datetime, email: str, password: str, zone: str
) -> Account:
    if index == 0:
        return Account(id=_uuid(rng), name="Ada Admin", email=email, password=password, timezone=zone, created_at=created_at)
    return Account(
        id=_uuid(rng),
        name=f"Owner {index + 1}",
        email=f"owner{index + 1}@example.com",
        password=password,
        timezone=OTHER_OWNER_ZONES[(index - 1) % len(OTHER_OWNER_ZONES)],
        created_at=created_at,
    )


def _make_app(
    rng: random.Random,
    mode: AppMode,
    copy: int,
    copies: int,
    workspace_id: str,
    owner_id: str,
    created_base: datetime,
    counter: int,
) -> App:
    base_name, icon = _APP_NAMES[mode]
    label = f"{base_name} {copy + 1}" if copies > 1 else base_name
    # Distinct creation seconds make the console's newest-first order deterministic.
    created_at = created_base + timedelta(seconds=counter)
    site_code = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(16))
    return App(
        id=_uuid(rng),
        name=f"{label} ({mode.value})",
        mode=mode,
        workspace_id=workspace_id,
        created_by=owner_id,
        created_at=created_at,
        updated_at=created_at + timedelta(seconds=40),
        workflow_id=_uuid(rng) if mode in (AppMode.WORKFLOW, AppMode.ADVANCED_CHAT) else None,
        site_code=site_code,
        icon=icon,
    )


@dataclass(frozen=True)
class _Streams:
    """The main random stream and the one for run details (nodes, logs, running runs)."""

    main: random.Random
    detail: random.Random


@dataclass(frozen=True)
class _AppSizes:
    conversations: int
    runs: int
    end_users: int
    boundary_records: bool


def _fill_app(
    streams: _Streams,
    app: App,
    records: AppRecords,
    owner_id: str,
    now: datetime,
    window_start: datetime,
    sizes: _AppSizes,
) -> None:
    rng = streams.main
    for index in range(sizes.end_users):
        user_type = "service_api" if index % 2 == 0 else "browser"
        session = f"customer-{_randint(rng, 1000, 9999)}" if user_type == "service_api" else f"{rng.getrandbits(64):016x}"
        records.end_users.append(EndUser(id=_uuid(rng), app_id=app.id, type=user_type, session_id=session))

    span_seconds = int((now - window_start).total_seconds()) - 60
    if app.mode in MESSAGE_MODES:
        model = MODELS[rng.randrange(len(MODELS))]
        for _ in range(sizes.conversations):
            start = window_start + timedelta(seconds=_randint(rng, 0, span_seconds))
            _add_conversation(streams, app, records, owner_id, start, now, model, max_turns=6)
        if sizes.boundary_records:
            for start in _boundary_instants(rng, now, window_start):
                _add_conversation(streams, app, records, owner_id, start, now, model, max_turns=1)
    else:
        instants = [window_start + timedelta(seconds=_randint(rng, 0, span_seconds)) for _ in range(sizes.runs)]
        if sizes.boundary_records:
            instants.extend(_boundary_instants(rng, now, window_start))
        for instant in instants:
            records.workflow_runs.append(_workflow_run(streams, app, records, owner_id, instant))
        if sizes.runs and records.end_users:
            for _ in range(RUNNING_RUNS_PER_APP):
                records.workflow_runs.append(_running_run(streams.detail, app, records, now))

    records.conversations.sort(key=lambda record: record.created_at)
    records.messages.sort(key=lambda record: record.created_at)
    records.workflow_runs.sort(key=lambda record: record.created_at)


def _boundary_instants(rng: random.Random, now: datetime, window_start: datetime) -> list[datetime]:
    """Return local midnight and the second before it in each boundary zone, on random past days."""
    instants: list[datetime] = []
    for zone_name in BOUNDARY_ZONES:
        zone = ZoneInfo(zone_name)
        local_today = now.astimezone(zone).date()
        day = local_today - timedelta(days=_randint(rng, 1, 7))
        midnight = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc)
        for instant in (midnight, midnight - timedelta(seconds=1)):
            if window_start <= instant < now:
                instants.append(instant)
    return instants


def _pick_invoke_from(rng: random.Random) -> str:
    roll = rng.randrange(100)
    for value, weight in _INVOKE_FROM_WEIGHTS:
        if roll < weight:
            return value
        roll -= weight
    return _INVOKE_FROM_WEIGHTS[0][0]


def _pick_end_user(rng: random.Random, records: AppRecords, invoke_from: str) -> str:
    wanted = "browser" if invoke_from == "web-app" else "service_api"
    pool = [user for user in records.end_users if user.type == wanted] or records.end_users
    return rng.choice(pool).id


def _add_conversation(
    streams: _Streams,
    app: App,
    records: AppRecords,
    owner_id: str,
    start: datetime,
    now: datetime,
    model: ModelPrice,
    *,
    max_turns: int,
) -> None:
    rng = streams.main
    invoke_from = _pick_invoke_from(rng)
    end_user_id = None
    account_id: str | None = owner_id
    if invoke_from in ("service-api", "web-app") and records.end_users:
        end_user_id = _pick_end_user(rng, records, invoke_from)
        account_id = None

    conversation = Conversation(
        id=_uuid(rng),
        app_id=app.id,
        created_at=start,
        invoke_from=invoke_from,
        from_end_user_id=end_user_id,
        from_account_id=account_id,
    )
    records.conversations.append(conversation)

    turns = 1 if app.mode is AppMode.COMPLETION else _randint(rng, 1, max_turns)
    created_at = start
    for _ in range(turns):
        if created_at >= now:
            break
        message = _message(rng, app, conversation, created_at, model)
        records.messages.append(message)
        if app.mode is AppMode.ADVANCED_CHAT:
            records.workflow_runs.append(_chatflow_run(streams, app, records, message))
        created_at += timedelta(seconds=_randint(rng, 20, 900))


def _message(rng: random.Random, app: App, conversation: Conversation, created_at: datetime, model: ModelPrice) -> Message:
    errored = rng.random() < 0.03
    message_tokens = _randint(rng, 40, 2400)
    answer_tokens = 0 if errored else _randint(rng, 20, 900)
    tokens_per_second = rng.uniform(30.0, 90.0)
    latency = round(0.3 + answer_tokens / tokens_per_second, 3)
    return Message(
        id=_uuid(rng),
        app_id=app.id,
        conversation_id=conversation.id,
        created_at=created_at,
        from_end_user_id=conversation.from_end_user_id,
        from_account_id=conversation.from_account_id,
        invoke_from=conversation.invoke_from,
        message_tokens=message_tokens,
        answer_tokens=answer_tokens,
        total_price=message_price(model, message_tokens, answer_tokens),
        currency="USD",
        provider_response_latency=latency,
        status="error" if errored else "normal",
        liked=conversation.invoke_from != DEBUGGER and rng.random() < 0.2,
        model_provider=model.provider,
        model_name=model.model,
    )


def _chatflow_run(streams: _Streams, app: App, records: AppRecords, message: Message) -> WorkflowRun:
    rng = streams.main
    debugging = message.invoke_from == DEBUGGER
    created_by = message.from_end_user_id or message.from_account_id or ""
    run_id = _uuid(rng)
    elapsed = round(message.provider_response_latency + rng.uniform(0.05, 0.6), 3)
    status = "succeeded" if message.status == "normal" else "failed"
    records.node_plans[run_id] = NodePlan(
        seed=streams.detail.getrandbits(64),
        created_at=message.created_at,
        elapsed_time=elapsed,
        total_tokens=message.total_tokens,
        status=status,
        terminal="answer",
        chatflow_model=(message.model_provider or "", message.model_name or ""),
        prompt_tokens=message.message_tokens,
    )
    return WorkflowRun(
        id=run_id,
        app_id=app.id,
        created_at=message.created_at,
        status=status,
        triggered_from=DEBUGGING if debugging else APP_RUN,
        total_tokens=message.total_tokens,
        elapsed_time=elapsed,
        created_by=created_by,
        created_by_role="end_user" if message.from_end_user_id else "account",
        message_id=message.id,
        conversation_id=message.conversation_id,
        finished_at=message.created_at + timedelta(seconds=elapsed),
        version="draft" if debugging else published_version(app),
    )


def _workflow_run(streams: _Streams, app: App, records: AppRecords, owner_id: str, created_at: datetime) -> WorkflowRun:
    rng = streams.main
    invoke_from = _pick_invoke_from(rng)
    debugging = invoke_from == DEBUGGER
    if invoke_from in ("service-api", "web-app") and records.end_users:
        created_by, role = _pick_end_user(rng, records, invoke_from), "end_user"
    else:
        created_by, role = owner_id, "account"
    status = rng.choices(RUN_STATUSES, weights=_RUN_STATUS_WEIGHTS)[0]
    run_id = _uuid(rng)
    total_tokens = 0 if status == "failed" and rng.random() < 0.5 else _randint(rng, 150, 3200)
    elapsed = round(rng.uniform(0.4, 12.0), 3)

    detail = streams.detail
    records.node_plans[run_id] = NodePlan(
        seed=detail.getrandbits(64),
        created_at=created_at,
        elapsed_time=elapsed,
        total_tokens=total_tokens,
        status=status,
        terminal="end",
    )
    return WorkflowRun(
        id=run_id,
        app_id=app.id,
        created_at=created_at,
        status=status,
        triggered_from=DEBUGGING if debugging else APP_RUN,
        total_tokens=total_tokens,
        elapsed_time=elapsed,
        created_by=created_by,
        created_by_role=role,
        log_id=None if debugging else _uuid(detail),
        created_from=None if debugging else CREATED_FROM_BY_INVOKE_FROM[invoke_from],
        finished_at=created_at + timedelta(seconds=elapsed),
        # Every partial-succeeded plan has exactly one node in status exception.
        exceptions_count=1 if status == "partial-succeeded" else 0,
        version="draft" if debugging else published_version(app),
    )


def _running_run(rng: random.Random, app: App, records: AppRecords, now: datetime) -> WorkflowRun:
    """Return an app run of a workflow app that started shortly before ``now`` and is still running.

    Dify reports no tokens, no elapsed time and no end time until a run ends.
    """
    created_at = now - timedelta(seconds=_randint(rng, 30, 600))
    invoke_from = "service-api" if rng.random() < 0.6 else "web-app"
    created_by = _pick_end_user(rng, records, invoke_from)
    run_id = _uuid(rng)
    records.node_plans[run_id] = NodePlan(
        seed=rng.getrandbits(64), created_at=created_at, elapsed_time=0.0, total_tokens=0, status=RUNNING, terminal="end"
    )
    return WorkflowRun(
        id=run_id,
        app_id=app.id,
        created_at=created_at,
        status=RUNNING,
        triggered_from=APP_RUN,
        total_tokens=0,
        elapsed_time=0.0,
        created_by=created_by,
        created_by_role="end_user",
        log_id=_uuid(rng),
        created_from=CREATED_FROM_BY_INVOKE_FROM[invoke_from],
        version=published_version(app),
    )
