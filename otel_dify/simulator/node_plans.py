"""Node executions of generated workflow runs, built from a stored ``NodePlan``.

The node specs between a run's start and terminal node are drawn from a
random stream seeded by the plan, so the same plan always gives the same
executions and ids. Most runs call one LLM. Some first classify the question or extract
parameters with a model, some run an LLM inside an iteration or loop, some
use an agent node, and some call two models of different providers. The
leaf nodes share the run's ``total_tokens`` exactly, so the run total always
equals the sum of its leaf usage.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace

from otel_dify.simulator.node_builder import (
    EXCEPTION_NODE_ERROR,
    NODE_TIMEOUT_ERROR,
    RATE_LIMIT_ERROR,
    NodeSpec,
    build_nodes,
    chatflow_plan,
    running_specs,
)
from otel_dify.simulator.pricing import MODELS, ModelPrice
from otel_dify.simulator.records import RUNNING, NodeExecution, NodePlan

# Cumulative percentages of the plan shapes.
_SHAPES = (
    (45, "llm"),
    (60, "classifier"),
    (70, "extractor"),
    (80, "iteration"),
    (85, "loop"),
    (93, "agent"),
    (100, "two-models"),
)
_LEAF_COUNTS = {"llm": 1, "classifier": 2, "extractor": 2, "loop": 2, "agent": 1, "two-models": 2}
_OPENAI_MINI, _OPENAI_4O, _CLAUDE = MODELS


def build_planned_nodes(plan: NodePlan) -> tuple[NodeExecution, ...]:
    """Build the node executions that ``plan`` describes. The same plan always gives the same executions."""
    rng = random.Random(plan.seed)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    if plan.chatflow_model is not None:
        provider, model = plan.chatflow_model
        failed = plan.status == "failed"
        completion = plan.total_tokens - plan.prompt_tokens
        specs = chatflow_plan(provider, model, plan.prompt_tokens, completion, failed=failed)
        elapsed = plan.elapsed_time
    elif plan.status == RUNNING:
        # A running run reports no tokens yet, so its future usage is drawn here.
        specs = running_specs(random_plan(rng, 150 + int(rng.random() * 3051), "succeeded"))
        elapsed = rng.uniform(2.0, 20.0)
    else:
        specs = random_plan(rng, plan.total_tokens, plan.status)
        elapsed = plan.elapsed_time

    reached_terminal = plan.status in ("succeeded", "partial-succeeded")
    return build_nodes(
        specs,
        created_at=plan.created_at,
        elapsed_time=elapsed,
        terminal=plan.terminal if reached_terminal else None,
        new_id=new_id,
    )


def random_plan(rng: random.Random, total_tokens: int, status: str) -> list[NodeSpec]:
    """Return the node specs of a finished run with ``total_tokens`` and run ``status``.

    A failed run without tokens failed in its first LLM call. A failed run
    with tokens fails in its last leaf node, and a stopped run stops there.
    A partial-succeeded run ends with an ``http-request`` node in status
    ``exception``.
    """
    if total_tokens == 0:
        return [NodeSpec("llm", status="failed", error=RATE_LIMIT_ERROR, title="Extract invoice fields")]

    shape = _pick_shape(rng)
    leaf_count = 2 + int(rng.random() * 2) if shape == "iteration" else _LEAF_COUNTS[shape]
    shares = _split(rng, total_tokens, leaf_count)
    model = _pick_model(rng)

    def leaf(node_type: str, share: int, price: ModelPrice = model, title: str | None = None) -> NodeSpec:
        prompt = int(share * rng.uniform(0.55, 0.8))
        return NodeSpec(node_type, price.provider, price.model, prompt, share - prompt, title=title)

    specs: list[NodeSpec]
    if shape == "llm":
        specs = [leaf("llm", shares[0], title="Extract invoice fields")]
    elif shape == "classifier":
        specs = [leaf("question-classifier", shares[0], _OPENAI_MINI), leaf("llm", shares[1])]
    elif shape == "extractor":
        specs = [leaf("parameter-extractor", shares[0], _OPENAI_MINI), leaf("llm", shares[1])]
    elif shape in ("iteration", "loop"):
        children = tuple(leaf("llm", share) for share in shares)
        specs = [NodeSpec(shape, children=children)]
    elif shape == "agent":
        specs = [leaf("agent", shares[0])]
    else:
        specs = [leaf("llm", shares[0], _OPENAI_4O), leaf("llm", shares[1], _CLAUDE, title="Review with Claude")]

    return _apply_status(specs, status)


def _pick_shape(rng: random.Random) -> str:
    roll = rng.random() * 100
    for limit, shape in _SHAPES:
        if roll < limit:
            return shape
    return _SHAPES[-1][1]


def _pick_model(rng: random.Random) -> ModelPrice:
    roll = rng.random()
    if roll < 0.7:
        return _OPENAI_MINI
    return _OPENAI_4O if roll < 0.85 else _CLAUDE


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` positive integers when ``total >= parts``."""
    if parts == 1:
        return [total]
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    shares = [max(1, int(weight * scale)) for weight in weights[:-1]]
    shares.append(total - sum(shares))
    return shares


def _apply_status(specs: list[NodeSpec], status: str) -> list[NodeSpec]:
    if status in ("failed", "stopped"):
        last = specs[-1]
        error = NODE_TIMEOUT_ERROR if status == "failed" else None
        if last.children:
            # The container fails or stops with its last child.
            children = (*last.children[:-1], replace(last.children[-1], status=status, error=error))
            specs[-1] = replace(last, status=status, children=children)
        else:
            specs[-1] = replace(last, status=status, error=error)
    elif status == "partial-succeeded":
        specs.append(NodeSpec("http-request", status="exception", error=EXCEPTION_NODE_ERROR))
    return specs
