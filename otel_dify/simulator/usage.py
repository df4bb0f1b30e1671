"""LLM usage of node executions and messages, and its JSON form.

Dify keeps usage as ``LLMUsage``: token counts, unit prices per
``price_unit`` tokens, prices rounded to 7 decimals, currency and latency.
The API sends the prices as strings, the same text ``str(Decimal)`` gives.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from otel_dify.simulator.pricing import MODELS, PER_MILLION, PRICE_QUANTUM, ModelPrice
from otel_dify.simulator.records import NodeUsage

_ZERO = Decimal("0.00")
_PRICES = {(model.provider, model.model): model for model in MODELS}


def model_price(provider: str, model: str) -> ModelPrice:
    """Return the list price of ``model``. A model the simulator does not price costs 0."""
    known = _PRICES.get((provider, model))
    if known is not None:
        return known
    return ModelPrice(provider, model, _ZERO, _ZERO)


def make_usage(price: ModelPrice, prompt_tokens: int, completion_tokens: int, latency: float) -> NodeUsage:
    """Return the usage of one LLM call at ``price``; ``latency`` is in seconds."""
    prompt_price = (prompt_tokens * price.prompt_per_million * PER_MILLION).quantize(PRICE_QUANTUM, ROUND_HALF_UP)
    completion_price = (completion_tokens * price.completion_per_million * PER_MILLION).quantize(
        PRICE_QUANTUM, ROUND_HALF_UP
    )
    return NodeUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        prompt_unit_price=price.prompt_per_million,
        completion_unit_price=price.completion_per_million,
        price_unit=PER_MILLION,
        prompt_price=prompt_price,
        completion_price=completion_price,
        latency=latency,
    )


def usage_json(usage: NodeUsage) -> dict[str, Any]:
    """Return the ``usage`` object of ``process_data``, ``outputs`` or message ``metadata``.

    The time to the first token is an invented share of the latency,
    because the simulator records only the total.
    """
    first_token = round(min(usage.latency, 0.25 + usage.latency * 0.08), 3)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "prompt_unit_price": str(usage.prompt_unit_price),
        "prompt_price_unit": str(usage.price_unit),
        "prompt_price": str(usage.prompt_price),
        "completion_tokens": usage.completion_tokens,
        "completion_unit_price": str(usage.completion_unit_price),
        "completion_price_unit": str(usage.price_unit),
        "completion_price": str(usage.completion_price),
        "total_tokens": usage.total_tokens,
        "total_price": str(usage.total_price),
        "currency": usage.currency,
        "latency": usage.latency,
        "time_to_first_token": first_token,
        "time_to_generate": round(usage.latency - first_token, 3),
    }


def usage_totals_json(total_tokens: int, total_price: Decimal, currency: str) -> dict[str, Any]:
    """Return the usage part of ``execution_metadata``: tokens, price as a string, currency."""
    return {"total_tokens": total_tokens, "total_price": str(total_price), "currency": currency}
