"""The simulator's records: accounts, workspaces, apps and their usage rows.

``Dataset.generate`` builds a deterministic data set from a seed (see
``generator.py``); ``add_message`` and ``add_workflow_run`` append traffic
later, for day-rollover and "new traffic" tests.
"""

from __future__ import annotations

import bisect
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from otel_dify.dify.models import AppMode
from otel_dify.simulator.node_builder import NodeSpec, build_nodes, chatflow_plan, finish_nodes, running_specs
from otel_dify.simulator.node_plans import build_planned_nodes
from otel_dify.simulator.pricing import DEFAULT_MODEL, ModelPrice, message_price
from otel_dify.simulator.records import (
    APP_RUN,
    CREATED_FROM_BY_INVOKE_FROM,
    DEBUGGER,
    DEBUGGING,
    RUNNING,
    Account,
    App,
    AppRecords,
    Conversation,
    EndUser,
    Message,
    NodeExecution,
    Workspace,
    WorkflowRun,
)

logger = logging.getLogger(__name__)

#: Modes whose traffic is stored as messages.
MESSAGE_MODES = frozenset({AppMode.CHAT, AppMode.COMPLETION, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
#: Modes whose traffic is stored as workflow runs (advanced-chat writes both).
WORKFLOW_MODES = frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT})
#: ``created_from`` values of app logs, by the end-user type of a run without one given.
_CREATED_FROM_BY_USER_TYPE = {"service_api": "service-api", "browser": "web-app"}


@lru_cache(maxsize=4096)
def published_version(app: App) -> str:
    """Return the version string of the app's published workflow, as Dify sends it."""
    return app.updated_at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class Membership:
    """An account's place in a workspace; ``role`` is ``owner``, ``admin`` or ``normal``."""

    workspace_id: str
    role: str


class Dataset:
    """In-memory tables the simulator serves.

    The lists inside each ``AppRecords`` stay sorted by ``created_at``, also
    after ``add_message`` or ``add_workflow_run``. Records dated after the
    simulator clock's ``now`` exist but are not served until the clock passes
    them, so a test can schedule traffic and then advance the clock.
    """

    def __init__(self, seed: int = 0) -> None:
        self.accounts: dict[str, Account] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.apps: dict[str, App] = {}
        self.records: dict[str, AppRecords] = {}
        self.memberships: dict[str, list[Membership]] = {}
        # Ids of records added after generation come from their own seeded
        # stream, so a test that adds traffic gets the same ids on every run.
        self._rng = random.Random(f"dataset-additions-{seed}")

    @classmethod
    def generate(
        cls,
        seed: int,
        now: datetime,
        days: int = 10,
        *,
        workspaces: int = 1,
        apps_per_mode: int = 1,
        conversations_per_app: int = 10,
        runs_per_app: int = 40,
        end_users_per_app: int = 8,
        boundary_records: bool = True,
        admin_email: str | None = None,
        admin_password: str | None = None,
        admin_timezone: str | None = None,
    ) -> Dataset:
        """Build a deterministic data set spread over ``days`` days before ``now``.

        See ``generator.generate_dataset`` for what each argument sets. The
        admin fields default to ``admin@example.com``, a fake demo password
        and America/New_York. The same arguments always give the same ids,
        times and values.
        """
        # Imported here because the generator module imports this one.
        from otel_dify.simulator import generator

        return generator.generate_dataset(
            seed=seed,
            now=now,
            days=days,
            workspaces=workspaces,
            apps_per_mode=apps_per_mode,
            conversations_per_app=conversations_per_app,
            runs_per_app=runs_per_app,
            end_users_per_app=end_users_per_app,
            boundary_records=boundary_records,
            admin_email=admin_email or generator.DEFAULT_ADMIN_EMAIL,
            admin_password=admin_password or generator.DEFAULT_ADMIN_PASSWORD,
            admin_timezone=admin_timezone or generator.DEFAULT_ADMIN_TIMEZONE,
        )

    # -- lookups ---------------------------------------------------------

    def new_id(self) -> str:
        """Return a fresh UUID4 string from the data set's seeded stream."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def account_by_email(self, email: str) -> Account | None:
        """Return the account whose e-mail matches case-insensitively, or None."""
        wanted = email.lower()
        for account in self.accounts.values():
            if account.email.lower() == wanted:
                return account
        return None

    def current_workspace(self, account_id: str) -> Workspace:
        """Return the account's current workspace (its first membership)."""
        return self.workspaces[self.memberships[account_id][0].workspace_id]

    def role_in(self, account_id: str, workspace_id: str) -> str | None:
        """Return the account's role in the workspace, or None when it is no member."""
        for membership in self.memberships.get(account_id, []):
            if membership.workspace_id == workspace_id:
                return membership.role
        return None

    def owner_of(self, workspace_id: str) -> Account:
        """Return the owner account of a workspace."""
        return self.accounts[self.workspaces[workspace_id].owner_id]

    def end_user(self, app_id: str, end_user_id: str) -> EndUser | None:
        """Return an end user of the app by id, or None."""
        for end_user in self.records[app_id].end_users:
            if end_user.id == end_user_id:
                return end_user
        return None

    def workflow_run(self, app_id: str, run_id: str) -> WorkflowRun | None:
        """Return a run of the app by id, or None."""
        for run in self.records[app_id].workflow_runs:
            if run.id == run_id:
                return run
        return None

    def nodes_of(self, app_id: str, run_id: str) -> tuple[NodeExecution, ...]:
        """Return the node executions of a run in ``index`` order; () for an unknown run.

        A generated run's executions are built from its plan on the first
        call and kept, so later calls return the same records.
        """
        records = self.records[app_id]
        nodes = records.node_executions.get(run_id)
        if nodes is None:
            plan = records.node_plans.pop(run_id, None)
            nodes = build_planned_nodes(plan) if plan is not None else ()
            records.node_executions[run_id] = nodes
        return nodes

    def apps_of(self, workspace_id: str | None = None) -> list[App]:
        """Return the apps of one workspace (all when None), newest first like the console list."""
        apps = [app for app in self.apps.values() if workspace_id is None or app.workspace_id == workspace_id]
        apps.sort(key=lambda app: (app.created_at, app.id), reverse=True)
        return apps

    # -- building --------------------------------------------------------

    def add_account(self, account: Account, memberships: list[Membership]) -> None:
        """Store an account and its workspace memberships (the first one is current)."""
        self.accounts[account.id] = account
        self.memberships[account.id] = memberships

    def add_workspace(self, workspace: Workspace) -> None:
        """Store a workspace."""
        self.workspaces[workspace.id] = workspace

    def add_app(self, app: App) -> AppRecords:
        """Store an app and return its (empty) record lists."""
        self.apps[app.id] = app
        records = AppRecords()
        self.records[app.id] = records
        return records

    def add_end_user(self, app_id: str, *, type: str = "service_api", session_id: str | None = None) -> EndUser:
        """Create an end user of the app; ``type`` is ``service_api`` or ``browser``."""
        user_id = self.new_id()
        end_user = EndUser(id=user_id, app_id=app_id, type=type, session_id=session_id or f"user-{user_id[:8]}")
        self.records[app_id].end_users.append(end_user)
        return end_user

    def add_message(
        self,
        app_id: str,
        created_at: datetime,
        *,
        conversation_id: str | None = None,
        invoke_from: str = "service-api",
        end_user_id: str | None = None,
        message_tokens: int = 100,
        answer_tokens: int = 50,
        total_price: Decimal | None = None,
        provider_response_latency: float = 1.0,
        status: str = "normal",
        liked: bool = False,
        model: ModelPrice = DEFAULT_MODEL,
    ) -> Message:
        """Append one message to a chat, completion, agent-chat or advanced-chat app.

        Without ``conversation_id`` a new conversation starts at ``created_at``.
        Service-API and web-app messages need an end user: without
        ``end_user_id`` a new one is created. Explore and debugger messages
        come from the workspace owner and have no end user. ``total_price``
        defaults to the price of the tokens at ``model``'s list price.
        An advanced-chat app also gets the matching workflow run, as Dify
        writes one run per chatflow turn: one LLM node with the message's
        tokens, failed when ``status`` is ``error``. Raises ``ValueError`` for
        a workflow app or an unknown conversation.
        """
        app = self.apps[app_id]
        if app.mode not in MESSAGE_MODES:
            raise ValueError(f"app {app_id} has mode {app.mode.value}, which stores no messages")
        records = self.records[app_id]
        owner_id = self.workspaces[app.workspace_id].owner_id

        from_account_id: str | None = None
        if invoke_from in ("explore", DEBUGGER):
            end_user_id = None
            from_account_id = owner_id
        elif end_user_id is None:
            user_type = "browser" if invoke_from == "web-app" else "service_api"
            end_user_id = self.add_end_user(app_id, type=user_type).id

        if conversation_id is None:
            conversation = Conversation(
                id=self.new_id(),
                app_id=app_id,
                created_at=created_at,
                invoke_from=invoke_from,
                from_end_user_id=end_user_id,
                from_account_id=from_account_id,
            )
            bisect.insort(records.conversations, conversation, key=_created_at)
            conversation_id = conversation.id
        elif not any(conversation.id == conversation_id for conversation in records.conversations):
            raise ValueError(f"conversation {conversation_id} does not belong to app {app_id}")

        if total_price is None:
            total_price = message_price(model, message_tokens, answer_tokens)
        message = Message(
            id=self.new_id(),
            app_id=app_id,
            conversation_id=conversation_id,
            created_at=created_at,
            from_end_user_id=end_user_id,
            from_account_id=from_account_id,
            invoke_from=invoke_from,
            message_tokens=message_tokens,
            answer_tokens=answer_tokens,
            total_price=total_price,
            currency="USD",
            provider_response_latency=provider_response_latency,
            status=status,
            liked=liked,
            model_provider=model.provider,
            model_name=model.model,
        )
        bisect.insort(records.messages, message, key=_created_at)

        if app.mode is AppMode.ADVANCED_CHAT:
            failed = status != "normal"
            self.add_workflow_run(
                app_id,
                created_at,
                triggered_from=DEBUGGING if invoke_from == DEBUGGER else APP_RUN,
                status="failed" if failed else "succeeded",
                total_tokens=message.total_tokens,
                elapsed_time=round(provider_response_latency + 0.2, 3),
                created_by=end_user_id or from_account_id,
                message_id=message.id,
                conversation_id=conversation_id,
                nodes=chatflow_plan(model.provider, model.model, message_tokens, answer_tokens, failed=failed),
            )
        return message

    def add_workflow_run(
        self,
        app_id: str,
        created_at: datetime,
        *,
        triggered_from: str = APP_RUN,
        status: str = "succeeded",
        total_tokens: int | None = None,
        elapsed_time: float = 1.0,
        created_by: str | None = None,
        message_id: str | None = None,
        conversation_id: str | None = None,
        created_from: str | None = None,
        nodes: Sequence[NodeSpec] | None = None,
    ) -> WorkflowRun:
        """Append one run to a workflow or advanced-chat app.

        ``created_by`` is an end-user id of the app or an account id. Without
        it, an app run gets a new end user and a debugging run gets the
        workspace owner. ``nodes`` are the specs between the start and the
        terminal node. Without them the run has one LLM node of the default
        model whose tokens (two thirds prompt) add up to ``total_tokens``,
        which defaults to 100. With them ``total_tokens`` defaults to the sum
        of their usage, and a different value makes a run whose total does
        not match its nodes. A ``running`` run has all its nodes running, no
        tokens and no end time until ``finish_workflow_run``.

        An app run of a workflow app gets an app log. Its ``created_from``
        defaults to ``web-app`` for a browser end user, ``installed-app`` for
        an account and ``service-api`` otherwise. Raises ``ValueError`` for an
        app mode without workflow runs.
        """
        app = self.apps[app_id]
        if app.mode not in WORKFLOW_MODES:
            raise ValueError(f"app {app_id} has mode {app.mode.value}, which stores no workflow runs")
        records = self.records[app_id]

        if created_by is None:
            if triggered_from == DEBUGGING:
                created_by = self.workspaces[app.workspace_id].owner_id
            else:
                created_by = self.add_end_user(app_id).id
        role = "account" if created_by in self.accounts else "end_user"

        if nodes is None:
            tokens = 100 if total_tokens is None else total_tokens
            prompt = tokens * 2 // 3
            nodes = [NodeSpec("llm", prompt_tokens=prompt, completion_tokens=tokens - prompt)]
        specs = list(nodes)
        running = status == RUNNING
        terminal = "answer" if app.mode is AppMode.ADVANCED_CHAT else "end"
        built = build_nodes(
            running_specs(specs) if running else specs,
            created_at=created_at,
            elapsed_time=elapsed_time,
            terminal=terminal if status in ("succeeded", "partial-succeeded") else None,
            new_id=self.new_id,
        )
        if total_tokens is None:
            total_tokens = sum(node.usage.total_tokens for node in built if node.usage is not None)

        has_log = app.mode is AppMode.WORKFLOW and triggered_from == APP_RUN
        if has_log and created_from is None:
            created_from = self._default_created_from(app_id, created_by, role)
        run = WorkflowRun(
            id=self.new_id(),
            app_id=app_id,
            created_at=created_at,
            status=status,
            triggered_from=triggered_from,
            total_tokens=0 if running else total_tokens,
            elapsed_time=0.0 if running else elapsed_time,
            created_by=created_by,
            created_by_role=role,
            message_id=message_id,
            log_id=self.new_id() if has_log else None,
            created_from=created_from if has_log else None,
            conversation_id=conversation_id,
            finished_at=None if running else created_at + timedelta(seconds=elapsed_time),
            exceptions_count=sum(1 for node in built if node.status == "exception"),
            version="draft" if triggered_from == DEBUGGING else published_version(app),
        )
        bisect.insort(records.workflow_runs, run, key=_created_at)
        records.node_executions[run.id] = built
        return run

    def finish_workflow_run(self, app_id: str, run_id: str, *, status: str, finished_at: datetime) -> WorkflowRun:
        """End a ``running`` run at ``finished_at`` with final ``status`` and return the new record.

        The run's nodes finish as ``node_builder.finish_nodes`` describes,
        its ``total_tokens`` becomes the sum of its leaf usage and its
        ``elapsed_time`` the seconds since it started. Raises ``LookupError``
        for an unknown run and ``ValueError`` for a run that is not running
        or a status that is not final.
        """
        if status not in ("succeeded", "failed", "stopped", "partial-succeeded"):
            raise ValueError(f"status must be a final run status, got {status!r}")
        run = self.workflow_run(app_id, run_id)
        if run is None:
            raise LookupError(f"no workflow run {run_id} in app {app_id}")
        if run.status != RUNNING:
            raise ValueError(f"workflow run {run_id} is {run.status}, not running")

        terminal = "answer" if self.apps[app_id].mode is AppMode.ADVANCED_CHAT else "end"
        running_nodes = self.nodes_of(app_id, run_id)
        nodes = finish_nodes(running_nodes, status=status, finished_at=finished_at, terminal=terminal, new_id=self.new_id)
        self.records[app_id].node_executions[run_id] = nodes
        logger.info("workflow run finished", extra={"app_id": app_id, "run_id": run_id, "status": status})
        return self.update_workflow_run(
            app_id,
            run_id,
            status=status,
            total_tokens=sum(node.usage.total_tokens for node in nodes if node.usage is not None),
            elapsed_time=round(max((finished_at - run.created_at).total_seconds(), 0.0), 3),
            finished_at=finished_at,
            exceptions_count=sum(1 for node in nodes if node.status == "exception"),
        )

    def update_workflow_run(self, app_id: str, run_id: str, **changes: Any) -> WorkflowRun:
        """Replace fields of a stored run (``dataclasses.replace``) and return the new record.

        Tests use it, for example, to give one run a ``total_tokens`` that
        differs from its nodes. ``created_at`` must stay the same, so the run
        list stays sorted. Raises ``LookupError`` for an unknown run.
        """
        if "created_at" in changes:
            raise ValueError("update_workflow_run cannot move a run in time")
        runs = self.records[app_id].workflow_runs
        for position, run in enumerate(runs):
            if run.id == run_id:
                runs[position] = replace(run, **changes)
                logger.debug("workflow run updated", extra={"app_id": app_id, "run_id": run_id, "fields": sorted(changes)})
                return runs[position]
        raise LookupError(f"no workflow run {run_id} in app {app_id}")

    def _default_created_from(self, app_id: str, created_by: str, role: str) -> str:
        if role == "account":
            return CREATED_FROM_BY_INVOKE_FROM["explore"]
        end_user = self.end_user(app_id, created_by)
        user_type = end_user.type if end_user else "service_api"
        return _CREATED_FROM_BY_USER_TYPE.get(user_type, "service-api")


def _created_at(record: Conversation | Message | WorkflowRun) -> datetime:
    return record.created_at
