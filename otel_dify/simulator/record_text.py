"""Deterministic texts for records: chat queries and answers, conversation names, run inputs.

The simulator stores no message or run text, so each text is picked from a
short list by the record's id. The same record always gets the same text.
"""

from __future__ import annotations

from typing import Any

from otel_dify.dify.models import AppMode
from otel_dify.simulator.records import App, Message, WorkflowRun

SYSTEM_PROMPT = "You are a helpful support assistant for Example Corp."
QUERIES = (
    "How do I get a refund for my last order?",
    "What's the difference between the Team and Pro plan?",
    "Can I change the delivery address after ordering?",
    "I can't log in after enabling 2FA, what now?",
    "Does the warranty cover water damage?",
    "Can I pay yearly instead of monthly?",
)
ANSWERS = (
    "Sure! Refunds are processed within 5-7 business days once the return is received.",
    "The Pro plan adds SSO, audit logs and priority support on top of the Team plan.",
    "Yes, as long as the order has not shipped. Open the order and choose Edit address.",
    "Use one of your backup codes, then enroll your authenticator app again.",
    "Water damage is not covered, but the extended warranty covers accidental damage.",
    "Yes. Yearly billing is available on every plan and saves two months.",
)
CONVERSATION_NAMES = (
    "Refund policy question",
    "Compare plan features",
    "Delivery address change",
    "Two-factor login issue",
    "Warranty claim",
    "Billing cycle",
)
MESSAGE_ERROR = "[langgenius/openai/openai] Error: Request timed out."
_VENDORS = ("Acme Supplies", "Globex", "Initech", "Umbrella Parts")


def pick(options: tuple[str, ...], record_id: str) -> str:
    """Return the option chosen by the first 8 hex digits of ``record_id``."""
    return options[int(record_id[:8], 16) % len(options)]


def message_query(message: Message) -> str:
    """Return the user's question of a message."""
    return pick(QUERIES, message.id)


def message_answer(message: Message) -> str:
    """Return the answer text of a message, empty for an error message."""
    return "" if message.status == "error" else pick(ANSWERS, message.id)


def conversation_name(conversation_id: str) -> str:
    """Return the name Dify generated for a conversation."""
    return pick(CONVERSATION_NAMES, conversation_id)


def run_inputs(app: App, run: WorkflowRun, query: str | None = None) -> dict[str, Any]:
    """Return a run's inputs: an invoice text for workflow apps, the user query for chatflows."""
    if app.mode is AppMode.ADVANCED_CHAT:
        return {"sys.query": query or pick(QUERIES, run.id)}
    number = int(run.id[:5], 16) % 90000 + 10000
    vendor = pick(_VENDORS, run.id)
    return {"invoice_text": f"INVOICE #{number} {vendor} total EUR {number % 5000}.00"}


def run_outputs(app: App, run: WorkflowRun) -> dict[str, Any]:
    """Return a run's outputs, which only succeeded and partial-succeeded runs have."""
    if run.status not in ("succeeded", "partial-succeeded"):
        return {}
    if app.mode is AppMode.ADVANCED_CHAT:
        return {"answer": pick(ANSWERS, run.id)}
    vendor = pick(_VENDORS, run.id)
    return {"fields": f'{{"vendor": "{vendor}", "total": {int(run.id[:5], 16) % 5000}.00, "currency": "EUR"}}'}
