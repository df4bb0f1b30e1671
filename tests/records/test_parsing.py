"""Parsing of captured Dify 1.15.0 record bodies, and of node shapes built from them."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from otel_dify.records.models import UNKNOWN_MODEL
from otel_dify.records.parsing import (
    InvalidRecordError,
    parse_conversation_page,
    parse_log_page,
    parse_message_page,
    parse_node_executions,
    parse_run_item,
    parse_run_page,
    parse_service_info,
)
from tests.records.support import body


def llm_node() -> dict:
    nodes = body("51_wf_run_node_executions")["data"]
    return copy.deepcopy(next(node for node in nodes if node["node_type"] == "llm"))


def nodes_body(*nodes: dict) -> dict:
    return {"data": list(nodes)}


def test_log_page_items() -> None:
    page = parse_log_page(body("50_wf_logs_p1_l5"))

    assert page.total == 127
    assert page.has_more is True
    assert len(page.runs) == 5
    first = page.runs[0]
    assert first.id == "724ce958-dcd5-4500-9e90-5f9a069ee434"
    assert first.status == "succeeded"
    assert first.total_tokens == 950
    assert first.elapsed_s == pytest.approx(4.054)
    assert first.created_at == 1796411337
    assert first.created_from == "web-app"
    assert first.end_user == "a6bfd51404df4a3c"
    assert first.final


def test_log_page_service_api_same_shape() -> None:
    page = parse_log_page(body("71_v1_workflows_logs_p2_l5"))

    assert page.total == 127
    assert [run.created_from for run in page.runs][:2] == ["service-api", "web-app"]
    assert page.runs[0].end_user == "customer-6503-ivan"


def test_log_page_skips_malformed_item() -> None:
    page_body = body("50_wf_logs_p1_l5")
    del page_body["data"][1]["workflow_run"]["status"]

    page = parse_log_page(page_body)

    assert len(page.runs) == 4
    assert page.skipped == 1


def test_log_page_without_has_more_rejected() -> None:
    page_body = body("50_wf_logs_p1_l5")
    del page_body["has_more"]

    with pytest.raises(InvalidRecordError, match="has_more"):
        parse_log_page(page_body)


def test_run_page_cursor_list() -> None:
    page = parse_run_page(body("51_wf_runs_list"))

    assert page.total is None
    assert page.has_more is True
    assert [run.status for run in page.runs] == ["succeeded", "failed", "succeeded"]
    assert page.runs[1].total_tokens == 0
    assert page.runs[0].created_from is None


def test_run_detail_console_and_service() -> None:
    console = parse_run_item(body("51_wf_run_detail"))
    service = parse_run_item(body("71_v1_workflow_run_detail"))

    assert console.id == service.id
    assert console.total_tokens == service.total_tokens == 950
    assert console.end_user == "a6bfd51404df4a3c"
    assert service.end_user is None


@pytest.mark.parametrize("status", ["running", "scheduled", "paused"])
def test_run_not_final_statuses(status: str) -> None:
    item = body("51_wf_run_detail")
    item["status"] = status

    assert not parse_run_item(item).final


def test_run_unknown_status_final() -> None:
    item = body("51_wf_run_detail")
    item["status"] = "archived"

    assert parse_run_item(item).final


def test_node_executions_llm_leaf() -> None:
    usage = parse_node_executions(body("51_wf_run_node_executions"))

    assert usage.running is False
    assert len(usage.leaves) == 1
    leaf = usage.leaves[0]
    assert leaf.node_type == "llm"
    assert leaf.provider_id == "langgenius/openai/openai"
    assert leaf.model == "gpt-4o-mini"
    assert leaf.input_tokens == 665
    assert leaf.output_tokens == 285
    assert leaf.total_tokens == 950
    assert leaf.price == Decimal("0.0002708")
    assert isinstance(leaf.price, Decimal)
    assert leaf.currency == "USD"
    assert leaf.latency_s == pytest.approx(3.914)


def test_node_executions_iteration_container_skipped() -> None:
    child_a, child_b = llm_node(), llm_node()
    child_b["id"] = "child-b"
    container = llm_node()
    container.update(node_type="iteration", process_data=None, outputs={})
    container["execution_metadata"] = {"total_tokens": 1900, "total_price": "0.0005416", "currency": "USD"}
    loop = copy.deepcopy(container)
    loop["node_type"] = "loop"

    usage = parse_node_executions(nodes_body(container, child_a, child_b, loop))

    assert [leaf.node_type for leaf in usage.leaves] == ["llm", "llm"]
    assert sum(leaf.total_tokens for leaf in usage.leaves) == 1900


def test_node_executions_container_with_usage_skipped() -> None:
    container = llm_node()
    container["node_type"] = "iteration"

    usage = parse_node_executions(nodes_body(container))

    assert usage.leaves == ()


def test_node_executions_agent_outputs_usage() -> None:
    agent = llm_node()
    agent["node_type"] = "agent"
    agent["process_data"] = {"agent_strategy": "function_calling"}

    usage = parse_node_executions(nodes_body(agent))

    leaf = usage.leaves[0]
    assert leaf.node_type == "agent"
    assert leaf.model == UNKNOWN_MODEL
    assert leaf.provider_id is None
    assert leaf.input_tokens == 665
    assert leaf.output_tokens == 285
    assert leaf.price == Decimal("0.0002708")


def test_node_executions_agent_metadata_only() -> None:
    agent = llm_node()
    agent["node_type"] = "agent"
    agent["process_data"] = None
    agent["outputs"] = {"text": "done"}

    usage = parse_node_executions(nodes_body(agent))

    leaf = usage.leaves[0]
    assert leaf.input_tokens is None
    assert leaf.output_tokens is None
    assert leaf.total_tokens == 950
    assert leaf.price == Decimal("0.0002708")
    assert leaf.latency_s is None


def test_node_executions_knowledge_retrieval_counted() -> None:
    retrieval = llm_node()
    retrieval["node_type"] = "knowledge-retrieval"
    retrieval["process_data"] = {"usage": retrieval["process_data"]["usage"]}

    usage = parse_node_executions(nodes_body(retrieval))

    assert usage.leaves[0].model == UNKNOWN_MODEL
    assert usage.leaves[0].provider_id is None


def test_node_executions_running_flag() -> None:
    nodes = body("51_wf_run_node_executions")
    nodes["data"][2]["status"] = "running"

    assert parse_node_executions(nodes).running is True


def test_node_executions_bad_price_rejected() -> None:
    node = llm_node()
    node["process_data"]["usage"]["total_price"] = "lots"

    with pytest.raises(InvalidRecordError, match="total_price"):
        parse_node_executions(nodes_body(node))


def test_node_executions_tokens_as_strings() -> None:
    node = llm_node()
    node["process_data"]["usage"]["prompt_tokens"] = "665"

    assert parse_node_executions(nodes_body(node)).leaves[0].input_tokens == 665


def test_conversation_page_session_ids() -> None:
    page = parse_conversation_page(body("60_chat_conversations_chat_p2_l5"))

    assert page.has_more is True
    assert page.conversations[0].end_user == "3005169796f24acb"
    # A console conversation has no end user.
    assert page.conversations[1].end_user is None
    assert page.conversations[0].updated_at == 1796322419


def test_message_page_ascending_with_tokens() -> None:
    page = parse_message_page(body("62_chat_messages_l2"))

    assert page.has_more is True
    assert [message.created_at for message in page.messages] == [1796404306, 1796404535]
    first = page.messages[0]
    assert first.input_tokens == 1386
    assert first.output_tokens == 460
    assert first.latency_s == pytest.approx(7.058)
    assert first.status == "normal"
    assert first.workflow_run_id is None
    assert first.looks_finished


def test_message_page_advanced_chat_run_ids() -> None:
    page = parse_message_page(body("62_chat_messages_advanced_chat"))

    assert [message.workflow_run_id for message in page.messages] == [
        "2dee67d1-2757-4c9a-a1e4-10c5efb19d79",
        "9ae622b6-580e-4502-9cbe-b81707400bd4",
    ]


def test_message_unfinished_detected() -> None:
    page_body = body("62_chat_messages_l2")
    page_body["data"][0].update(answer_tokens=0, provider_response_latency=0)

    assert not parse_message_page(page_body).messages[0].looks_finished


def test_service_info_workflow() -> None:
    info = parse_service_info(body("70_v1_info_workflow"))

    assert info.name == "Invoice Extractor (workflow)"
    assert info.mode == "workflow"


def test_service_info_without_mode() -> None:
    info_body = body("70_v1_info_chat")
    del info_body["mode"]

    assert parse_service_info(info_body).mode == "unknown"


@pytest.mark.parametrize(("field", "value"), [("prompt_tokens", -1), ("total_price", "-0.1")])
def test_node_executions_negative_rejected(field: str, value: object) -> None:
    node = llm_node()
    node["process_data"]["usage"][field] = value

    with pytest.raises(InvalidRecordError, match=field):
        parse_node_executions(nodes_body(node))


def test_log_page_negative_tokens_skipped() -> None:
    page_body = body("50_wf_logs_p1_l5")
    page_body["data"][0]["workflow_run"]["total_tokens"] = -5

    page = parse_log_page(page_body)

    assert page.skipped == 1
    assert len(page.runs) == 4
