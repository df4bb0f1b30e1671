"""Runs counted late in a poll have their node executions read in the same poll."""

from __future__ import annotations

import random
from datetime import timedelta

from otel_dify.simulator import DifySimulator
from tests.integration.harness import running_harness
from tests.integration.test_records_workflow import POLL_S, add_runs


async def test_late_counted_runs_drained() -> None:
    simulator = DifySimulator(profile="1.15", seed=21)
    rng = random.Random(8)
    async with running_harness(simulator, records_enabled="workflow_runs,llm_usage") as harness:
        assert (await harness.poll()).succeeded
        records = harness.assembly.records
        assert records is not None

        # The recorder's clock runs 2 s ahead of the poll's start, as when the
        # run lists of a large workspace take that long to read.
        recorder = records.recorder
        recorder._wall_clock = lambda: (simulator.clock.now() + timedelta(seconds=2)).timestamp()

        harness.advance(POLL_S)
        added = add_runs(simulator, rng, 3)
        assert (await harness.poll()).succeeded

        assert len(added) == 6
        assert len(records.state.backlog) == 0
