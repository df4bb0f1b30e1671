"""List prices of the models the simulated traffic uses, and Dify's price arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

#: Dify stores prices as ``Numeric(10, 7)``.
PRICE_QUANTUM = Decimal("0.0000001")
#: Dify's ``price_unit`` for per-token prices quoted per million tokens.
PER_MILLION = Decimal("0.000001")


@dataclass(frozen=True)
class ModelPrice:
    """A model and its USD list prices per million prompt and completion tokens."""

    provider: str
    model: str
    prompt_per_million: Decimal
    completion_per_million: Decimal


MODELS: tuple[ModelPrice, ...] = (
    ModelPrice("langgenius/openai/openai", "gpt-4o-mini", Decimal("0.15"), Decimal("0.60")),
    ModelPrice("langgenius/openai/openai", "gpt-4o", Decimal("2.50"), Decimal("10.00")),
    ModelPrice("langgenius/anthropic/anthropic", "claude-3-5-sonnet-20241022", Decimal("3.00"), Decimal("15.00")),
)
DEFAULT_MODEL = MODELS[0]


def message_price(model: ModelPrice, message_tokens: int, answer_tokens: int) -> Decimal:
    """Return a message's ``total_price`` in USD, 7 decimals.

    Dify rounds the prompt and the answer price separately (half up, to the
    column's 7 decimals) and stores their sum.
    """
    prompt = (message_tokens * model.prompt_per_million * PER_MILLION).quantize(PRICE_QUANTUM, ROUND_HALF_UP)
    answer = (answer_tokens * model.completion_per_million * PER_MILLION).quantize(PRICE_QUANTUM, ROUND_HALF_UP)
    return prompt + answer
