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
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from otel_dify.dify.models import AppMode
from otel_dify.simulator.pricing import DEFAULT_MODEL, message_price
from otel_dify.simulator.records import (
    APP_RUN,
    DEBUGGER,
    DEBUGGING,
    Account,
    App,
    AppRecords,
    Conversation,
    EndUser,
    Message,
    Workspace,
    WorkflowRun,
)

logger = logging.getLogger(__name__)

#: Modes whose traffic is stored as messages.
MESSAGE_MODES = frozenset({AppMode.CHAT, AppMode.COMPLETION, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
#: Modes whose traffic is stored as workflow runs (advanced-chat writes both).
WORKFLOW_MODES = frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT})


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
    ) -> Message:
        """Append one message to a chat, completion, agent-chat or advanced-chat app.

        Without ``conversation_id`` a new conversation starts at ``created_at``.
        Service-API and web-app messages need an end user: without
        ``end_user_id`` a new one is created. Explore and debugger messages
        come from the workspace owner and have no end user. ``total_price``
        defaults to the price of the tokens at the default model's list price.
        An advanced-chat app also gets the matching workflow run, as Dify
        writes one run per chatflow turn. Raises ``ValueError`` for a workflow
        app or an unknown conversation.
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
            total_price = message_price(DEFAULT_MODEL, message_tokens, answer_tokens)
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
        )
        bisect.insort(records.messages, message, key=_created_at)

        if app.mode is AppMode.ADVANCED_CHAT:
            self.add_workflow_run(
                app_id,
                created_at,
                triggered_from=DEBUGGING if invoke_from == DEBUGGER else APP_RUN,
                status="succeeded" if status == "normal" else "failed",
                total_tokens=message.total_tokens,
                elapsed_time=round(provider_response_latency + 0.2, 3),
                created_by=end_user_id or from_account_id,
                message_id=message.id,
            )
        return message

    def add_workflow_run(
        self,
        app_id: str,
        created_at: datetime,
        *,
        triggered_from: str = APP_RUN,
        status: str = "succeeded",
        total_tokens: int = 100,
        elapsed_time: float = 1.0,
        created_by: str | None = None,
        message_id: str | None = None,
    ) -> WorkflowRun:
        """Append one run to a workflow or advanced-chat app.

        ``created_by`` is an end-user id of the app or an account id. Without
        it, an app run gets a new end user and a debugging run gets the
        workspace owner. Raises ``ValueError`` for an app mode without
        workflow runs.
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

        run = WorkflowRun(
            id=self.new_id(),
            app_id=app_id,
            created_at=created_at,
            status=status,
            triggered_from=triggered_from,
            total_tokens=total_tokens,
            elapsed_time=elapsed_time,
            created_by=created_by,
            created_by_role=role,
            message_id=message_id,
        )
        bisect.insort(records.workflow_runs, run, key=_created_at)
        return run


def _created_at(record: Conversation | Message | WorkflowRun) -> datetime:
    return record.created_at
