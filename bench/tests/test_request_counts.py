from otel_dify.collect.workspace import PROFILE_REFRESH_S
from otel_dify.dify.auth.session import REFRESH_MARGIN_S
from otel_dify.records.levels import Level

from bench.request_counts import (
    KIND_APP_LIST,
    KIND_OTHER,
    KIND_RECORDS,
    KIND_SESSION,
    KIND_STATISTICS,
    LOGIN_REQUESTS,
    PROFILE_REQUESTS,
    REFRESH_REQUESTS,
    SessionSchedule,
    app_list_pages,
    count_by_endpoint,
    count_by_kind,
    record_requests,
    request_kind,
    statistics_metric_names,
    statistics_requests,
)

MESSAGES_ONLY = frozenset({"dify.app.messages"})
WORKFLOW_RUNS_ONLY = frozenset({"dify.app.workflow.runs"})
ONE_APP_PER_MODE = {"chat": 1, "completion": 1, "agent-chat": 1, "advanced-chat": 1, "workflow": 1}


def test_request_kind_of_each_endpoint():
    assert request_kind("/console/api/apps") == KIND_APP_LIST
    assert request_kind("/console/api/apps/{app_id}/statistics/token-costs") == KIND_STATISTICS
    assert request_kind("/console/api/apps/{app_id}/workflow/statistics/daily-terminals") == KIND_STATISTICS
    assert request_kind("/console/api/login") == KIND_SESSION
    assert request_kind("/console/api/setup") == KIND_SESSION
    assert request_kind("/console/api/refresh-token") == KIND_SESSION
    assert request_kind("/console/api/account/profile") == KIND_SESSION
    assert request_kind("/console/api/workspaces/current") == KIND_SESSION
    assert request_kind("/console/api/apps/{app_id}/workflow-app-logs") == KIND_RECORDS
    assert request_kind("/console/api/apps/{app_id}/advanced-chat/workflow-runs") == KIND_RECORDS
    assert request_kind("/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions") == KIND_RECORDS
    assert request_kind("/console/api/apps/{app_id}/chat-conversations") == KIND_RECORDS
    assert request_kind("/console/api/apps/{app_id}/annotations") == KIND_OTHER


def test_count_by_endpoint_difference():
    before = {("/console/api/apps", 200): 2, ("/console/api/login", 200): 1}
    after = {
        ("/console/api/apps", 200): 5,
        ("/console/api/login", 200): 1,
        ("/console/api/apps/{app_id}/statistics/token-costs", 200): 4,
        ("/console/api/apps/{app_id}/statistics/token-costs", 500): 1,
    }

    counts = count_by_endpoint(before, after)

    assert counts == {"/console/api/apps": 3, "/console/api/apps/{app_id}/statistics/token-costs": 5}


def test_count_by_kind_lists_every_kind():
    counts = count_by_kind({"/console/api/apps": 1, "/console/api/apps/{app_id}/statistics/daily-messages": 7})

    assert counts[KIND_APP_LIST] == 1
    assert counts[KIND_STATISTICS] == 7
    assert counts[KIND_SESSION] == 0
    assert counts[KIND_OTHER] == 0


def test_app_list_pages_by_page_size():
    assert app_list_pages(0) == 1
    assert app_list_pages(10) == 1
    assert app_list_pages(100) == 1
    assert app_list_pages(101) == 2
    assert app_list_pages(1000) == 10


def test_statistics_requests_messages_only():
    # daily-messages serves the four message modes, not workflow apps.
    assert statistics_requests(ONE_APP_PER_MODE, MESSAGES_ONLY, history=False) == 4
    assert statistics_requests(ONE_APP_PER_MODE, MESSAGES_ONLY, history=True) == 8


def test_statistics_requests_scale_with_apps():
    three_each = {mode: 3 for mode in ONE_APP_PER_MODE}

    # Workflow runs come from workflow and advanced-chat apps.
    assert statistics_requests(three_each, WORKFLOW_RUNS_ONLY, history=False) == 6
    assert statistics_requests(three_each, frozenset(), history=True) == 0


def test_record_requests_by_level():
    two_each = {mode: 2 for mode in ONE_APP_PER_MODE}

    # Runs of workflow and advanced-chat apps; conversations of the chat modes.
    assert record_requests(two_each, frozenset({Level.WORKFLOW_RUNS})) == 4
    assert record_requests(two_each, frozenset({Level.MESSAGES})) == 6
    assert record_requests(two_each, frozenset({Level.WORKFLOW_RUNS, Level.LLM_USAGE})) == 4
    assert record_requests(two_each, frozenset()) == 0


def test_session_schedule_first_poll_logs_in():
    schedule = SessionSchedule(token_ttl_s=3600)

    assert schedule.due_requests(100.0) == LOGIN_REQUESTS
    assert schedule.due_requests(110.0) == 0


def test_session_schedule_token_refresh_due():
    schedule = SessionSchedule(token_ttl_s=600)
    schedule.due_requests(0.0)

    assert schedule.due_requests(600 - REFRESH_MARGIN_S - 1) == 0
    assert schedule.due_requests(600 - REFRESH_MARGIN_S) == REFRESH_REQUESTS
    assert schedule.due_requests(600 - REFRESH_MARGIN_S + 1) == 0


def test_session_schedule_profile_read_due():
    schedule = SessionSchedule(token_ttl_s=10 * PROFILE_REFRESH_S)
    schedule.due_requests(0.0)

    assert schedule.due_requests(PROFILE_REFRESH_S - 1) == 0
    assert schedule.due_requests(PROFILE_REFRESH_S) == PROFILE_REQUESTS


def test_statistics_metric_names():
    names = statistics_metric_names()

    assert "dify.app.messages" in names
    assert "dify.app.workflow.runs" in names
    assert "dify.workflow.runs" not in names
    assert "dify.llm.calls" not in names
    assert "dify.exporter.up" not in names
