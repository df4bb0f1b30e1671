"""Console routes of record-level data: app logs, workflow runs, node executions, conversations, messages.

Each handler checks in Dify's order: authentication (and CSRF), the app
lookup, the app mode, the role where Dify needs an editor, then the query
parameters.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from otel_dify.dify.models import AppMode
from otel_dify.simulator.auth import Principal
from otel_dify.simulator.chat_views import conversation_item, message_item
from otel_dify.simulator.conversations import (
    ConversationFilter,
    ConversationNotFoundError,
    FirstMessageNotFoundError,
    conversation_states,
    filter_conversations,
    message_page,
)
from otel_dify.simulator.errors import json_error
from otel_dify.simulator.handlers import UUID_PATTERN, json_response
from otel_dify.simulator.record_features import RecordFeatures
from otel_dify.simulator.record_queries import (
    parse_app_log_query,
    parse_conversation_query,
    parse_message_query,
    parse_run_count_query,
    parse_run_list_query,
)
from otel_dify.simulator.records import App, WorkflowRun
from otel_dify.simulator.run_views import app_log_item, node_list, run_detail, run_list_item
from otel_dify.simulator.workflow_logs import logged_runs, paginate
from otel_dify.simulator.workflow_runs import UnknownCursorError, count_runs, list_runs

if TYPE_CHECKING:
    from otel_dify.simulator.handlers import ConsoleHandlers
    from otel_dify.simulator.server import DifySimulator

logger = logging.getLogger(__name__)

#: Python set reprs Dify prints in "App mode is not in the supported list" errors.
WORKFLOW_ONLY = "{'workflow'}"
# The element order of this repr is a guess, because no real server was asked.
WORKFLOW_AND_CHATFLOW = "{'advanced-chat', 'workflow'}"
CHATFLOW_ONLY = "{'advanced-chat'}"
CHAT_MODES = "{'chat', 'agent-chat', 'advanced-chat', 'agent'}"
#: Roles that pass Dify's editor check on conversation and message lists.
EDITOR_ROLES = frozenset({"owner", "admin", "editor"})
FORBIDDEN_MESSAGE = (
    "You don't have the permission to access the requested resource. It is either read-protected or not readable "
    "by the server."
)
#: Dify rules the simulator does not serve but that appear in the route hints of 404 messages.
HINT_ONLY_RULES = (
    "/apps/<uuid:app_id>/workflow-archived-logs",
    "/apps/<uuid:app_id>/completion-conversations",
)


class RecordRoutes:
    """The record-level console routes of one ``DifySimulator``."""

    def __init__(self, simulator: DifySimulator, console: ConsoleHandlers) -> None:
        self._sim = simulator
        self._console = console
        self._features = RecordFeatures.for_profile(simulator.profile)

    def register(self, app: web.Application) -> None:
        """Add the record routes of the simulator's profile to ``app``."""
        add = self._console.add_route
        path = "/apps/{app_id:" + UUID_PATTERN + "}"
        rule = "/apps/<uuid:app_id>"
        run = "{run_id:" + UUID_PATTERN + "}"

        add(app, "GET", f"{path}/workflow-app-logs", f"{rule}/workflow-app-logs", self.workflow_app_logs)
        add(app, "GET", f"{path}/workflow-runs", f"{rule}/workflow-runs", self.workflow_runs)
        add(
            app,
            "GET",
            f"{path}/advanced-chat/workflow-runs",
            f"{rule}/advanced-chat/workflow-runs",
            self.advanced_chat_workflow_runs,
        )
        if self._features.run_list_filters:
            add(app, "GET", f"{path}/workflow-runs/count", f"{rule}/workflow-runs/count", self.workflow_run_count)
            add(
                app,
                "GET",
                f"{path}/advanced-chat/workflow-runs/count",
                f"{rule}/advanced-chat/workflow-runs/count",
                self.advanced_chat_workflow_run_count,
            )
        add(app, "GET", f"{path}/workflow-runs/{run}", f"{rule}/workflow-runs/<uuid:run_id>", self.workflow_run)
        add(
            app,
            "GET",
            f"{path}/workflow-runs/{run}/node-executions",
            f"{rule}/workflow-runs/<uuid:run_id>/node-executions",
            self.node_executions,
        )
        add(app, "GET", f"{path}/chat-conversations", f"{rule}/chat-conversations", self.chat_conversations)
        add(app, "GET", f"{path}/chat-messages", f"{rule}/chat-messages", self.chat_messages)
        self._console.rules.extend("/console/api" + hint for hint in HINT_ONLY_RULES)

    # -- shared steps ----------------------------------------------------

    def _app(self, request: web.Request, modes: frozenset[AppMode], supported: str) -> tuple[Principal, App]:
        principal = self._console.principal(request)
        app = self._console.app_for(request, principal)
        if app.mode not in modes:
            raise self._console.mode_not_supported(request, supported)
        return principal, app

    def _require_editor(self, principal: Principal) -> None:
        # The 403 body is Werkzeug's Forbidden text, not observed on a real
        # server. Every generated account is an owner or admin anyway.
        role = self._sim.dataset.role_in(principal.account.id, principal.workspace.id)
        if principal.auth_kind != "admin-key" and role not in EDITOR_ROLES:
            raise json_error(403, "forbidden", FORBIDDEN_MESSAGE)

    # -- workflow routes -------------------------------------------------

    async def workflow_app_logs(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/workflow-app-logs``: page-numbered app logs of a workflow app, newest first."""
        _, app = self._app(request, frozenset({AppMode.WORKFLOW}), WORKFLOW_ONLY)
        query = parse_app_log_query(request.query, self._sim.profile, service_api=False)
        dataset = self._sim.dataset
        runs = logged_runs(
            app,
            dataset.records[app.id],
            now=self._sim.clock.now(),
            log_filter=query.filter,
            account_id_of=lambda email: account.id if (account := dataset.account_by_email(email)) else None,
            end_user_of=lambda user_id: dataset.end_user(app.id, user_id),
        )
        page, total, has_more = paginate(runs, query.page, query.limit)
        items = [
            app_log_item(run, dataset.nodes_of(app.id, run.id), dataset, self._features, detail=query.detail)
            for run in page
        ]
        return json_response({"page": query.page, "limit": query.limit, "total": total, "has_more": has_more, "data": items})

    async def workflow_runs(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/workflow-runs``: cursor-paged runs, editor test runs unless ``triggered_from=app-run``."""
        _, app = self._app(request, frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT}), WORKFLOW_AND_CHATFLOW)
        return self._run_list(request, app, advanced=False)

    async def advanced_chat_workflow_runs(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/advanced-chat/workflow-runs``: the run list plus conversation and message ids."""
        _, app = self._app(request, frozenset({AppMode.ADVANCED_CHAT}), CHATFLOW_ONLY)
        return self._run_list(request, app, advanced=True)

    def _run_list(self, request: web.Request, app: App, *, advanced: bool) -> web.Response:
        query = parse_run_list_query(request.query, self._sim.profile)
        dataset = self._sim.dataset
        try:
            page = list_runs(
                dataset.records[app.id],
                now=self._sim.clock.now(),
                triggered_from=query.triggered_from,
                status=query.status,
                last_id=query.last_id,
                limit=query.limit,
            )
        except UnknownCursorError as exc:
            # NOTE: Dify raises ValueError("Last workflow run not exists"), which
            # its error handler turns into this 400; the body was not observed.
            raise json_error(400, "invalid_param", "Last workflow run not exists") from exc
        items = [run_list_item(run, dataset.nodes_of(app.id, run.id), dataset, advanced=advanced) for run in page.runs]
        return json_response({"limit": query.limit, "has_more": page.has_more, "data": items})

    async def workflow_run_count(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/workflow-runs/count`` (1.9.2+): runs per status."""
        _, app = self._app(request, frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT}), WORKFLOW_AND_CHATFLOW)
        return self._run_count(request, app)

    async def advanced_chat_workflow_run_count(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/advanced-chat/workflow-runs/count`` (1.9.2+)."""
        _, app = self._app(request, frozenset({AppMode.ADVANCED_CHAT}), CHATFLOW_ONLY)
        return self._run_count(request, app)

    def _run_count(self, request: web.Request, app: App) -> web.Response:
        query = parse_run_count_query(request.query, self._sim.profile)
        counts = count_runs(
            self._sim.dataset.records[app.id],
            now=self._sim.clock.now(),
            triggered_from=query.triggered_from,
            status=query.status,
            time_range=query.time_range,
        )
        return json_response(counts)

    async def workflow_run(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/workflow-runs/<run_id>``: one run, debugging or not."""
        _, app = self._app(request, frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT}), WORKFLOW_AND_CHATFLOW)
        run = self._run(request, app)
        dataset = self._sim.dataset
        return json_response(run_detail(app, run, dataset.nodes_of(app.id, run.id), dataset))

    async def node_executions(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/workflow-runs/<run_id>/node-executions``: every execution in index order."""
        _, app = self._app(request, frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT}), WORKFLOW_AND_CHATFLOW)
        run = self._run(request, app)
        dataset = self._sim.dataset
        return json_response(node_list(app, run, dataset.nodes_of(app.id, run.id), dataset, self._features))

    def _run(self, request: web.Request, app: App) -> WorkflowRun:
        run = self._sim.dataset.workflow_run(app.id, request.match_info["run_id"].lower())
        if run is None or run.created_at > self._sim.clock.now():
            # NOTE: the 404 body of an unknown run id was not observed on a real server.
            raise json_error(404, "not_found", "Workflow run not found.")
        return run

    # -- conversation routes ---------------------------------------------

    async def chat_conversations(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/chat-conversations``: page-numbered conversations, by default most recently updated first."""
        principal, app = self._app(
            request, frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT}), CHAT_MODES
        )
        self._require_editor(principal)
        query = parse_conversation_query(request.query, self._sim.profile)
        window = self._console.time_window(request, principal)

        dataset = self._sim.dataset
        conversation_filter = ConversationFilter(
            keyword=query.keyword,
            window_start=window.start,
            # Dify sets the end minute's seconds to 59 and compares inclusively.
            window_end=window.end + timedelta(seconds=59) if window.end is not None else None,
            annotated_only=query.annotation_status == "annotated",
            message_count_gte=query.message_count_gte,
            sort_by=query.sort_by,
        )
        states = conversation_states(app, dataset.records[app.id], self._sim.clock.now())
        selected = filter_conversations(states, conversation_filter, lambda user_id: dataset.end_user(app.id, user_id))
        page, total, has_more = paginate(selected, query.page, query.limit)
        items = [conversation_item(state, app, dataset) for state in page]
        return json_response({"page": query.page, "limit": query.limit, "total": total, "has_more": has_more, "data": items})

    async def chat_messages(self, request: web.Request) -> web.Response:
        """``GET /apps/<id>/chat-messages``: ``limit`` messages before ``first_id``, oldest first."""
        principal, app = self._app(
            request, frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT}), CHAT_MODES
        )
        self._require_editor(principal)
        query = parse_message_query(request.query, self._sim.profile)

        records = self._sim.dataset.records[app.id]
        try:
            messages, has_more = message_page(
                records, query.conversation_id, first_id=query.first_id, limit=query.limit, now=self._sim.clock.now()
            )
        except ConversationNotFoundError as exc:
            raise json_error(404, "not_found", "Conversation Not Exists.") from exc
        except FirstMessageNotFoundError as exc:
            raise json_error(404, "not_found", "First message not found") from exc

        run_ids = {run.message_id: run.id for run in records.workflow_runs if run.message_id is not None}
        items = [message_item(message, app, run_ids.get(message.id)) for message in messages]
        return json_response({"limit": query.limit, "has_more": has_more, "data": items})
