"""New workflow runs for the records measurement, added to the simulator on request.

Each call adds finished runs, created one second before the simulator's
current time, in turn to the workflow and advanced-chat apps. Every run has a ``code`` node
and two to four ``llm`` nodes of the three priced models, so the exporter's
``llm_usage`` level reads one node-execution list per run and sums several
models. The counts that :meth:`RunTraffic.add` returns are exact: the
benchmark compares them with the exporter's counters.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.node_builder import NodeSpec
from otel_dify.simulator.pricing import MODELS

from bench.control import RUN_AGE_S, AddedRuns

logger = logging.getLogger(__name__)

#: App modes whose apps get the added runs.
RUN_MODES = frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT})

#: Duration of each added run, in seconds; it ends before the request.
RUN_ELAPSED_S = 0.5

#: LLM nodes per run cycle through these counts.
LLM_NODES_PER_RUN = (2, 3, 4)


def run_specs(number: int) -> list[NodeSpec]:
    """Return the node specs between start and terminal node of the ``number``-th added run.

    The same number always gives the same specs. Token counts vary with the
    number so that runs differ, and every LLM node has tokens, so each one
    counts as one call.
    """
    llm_nodes = LLM_NODES_PER_RUN[number % len(LLM_NODES_PER_RUN)]
    specs = [NodeSpec("code")]
    for position in range(llm_nodes):
        model = MODELS[(number + position) % len(MODELS)]
        prompt = 200 + (number * 37 + position * 11) % 400
        completion = 40 + (number * 13 + position * 7) % 160
        specs.append(NodeSpec("llm", model.provider, model.model, prompt, completion))
    return specs


class RunTraffic:
    """Adds finished workflow runs to a simulator's workflow and advanced-chat apps, in turn.

    Each app gets one end user, created at its first run, who starts all of
    its added runs. The advanced-chat runs have no conversation or message,
    because the records measurement reads runs and node executions only.
    Raises ValueError when the simulator has no app of either mode.
    """

    def __init__(self, simulator: DifySimulator) -> None:
        self._simulator = simulator
        self._apps = [app for app in simulator.apps() if app.mode in RUN_MODES]
        if not self._apps:
            raise ValueError("the simulator has no workflow or advanced-chat app to add runs to")
        self._end_users: dict[str, str] = {}
        self._added = 0

    @property
    def total_runs(self) -> int:
        """Runs added since this object was created."""
        return self._added

    def add(self, count: int) -> AddedRuns:
        """Add ``count`` finished runs; raise ValueError for a negative count.

        The runs of one call get creation times a microsecond apart, the last
        ``RUN_AGE_S`` before the simulator's current time, so they list in
        the order they were added.
        """
        if count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")

        dataset = self._simulator.dataset
        newest = self._simulator.clock.now() - timedelta(seconds=RUN_AGE_S)
        llm_calls = input_tokens = output_tokens = 0
        for offset in range(count):
            number = self._added + offset
            app = self._apps[number % len(self._apps)]
            specs = run_specs(number)
            dataset.add_workflow_run(
                app.id,
                newest - timedelta(microseconds=count - 1 - offset),
                created_by=self._end_user(app.id),
                elapsed_time=RUN_ELAPSED_S,
                nodes=specs,
            )
            llm_specs = [spec for spec in specs if spec.node_type == "llm"]
            llm_calls += len(llm_specs)
            input_tokens += sum(spec.prompt_tokens for spec in llm_specs)
            output_tokens += sum(spec.completion_tokens for spec in llm_specs)

        self._added += count
        logger.info("workflow runs added", extra={"runs": count, "llm_calls": llm_calls, "total_runs": self._added})
        return AddedRuns(runs=count, llm_calls=llm_calls, input_tokens=input_tokens, output_tokens=output_tokens)

    def _end_user(self, app_id: str) -> str:
        end_user_id = self._end_users.get(app_id)
        if end_user_id is None:
            end_user_id = self._simulator.dataset.add_end_user(app_id).id
            self._end_users[app_id] = end_user_id
        return end_user_id
