"""Alert quality on generated trunks with live arrival, small and on fixed seeds.

The same code as `bench/quality.py`: a trunk's deliveries arrive as its jobs finish,
interleaved across commits, with flakes, reruns, superseded runs, runner outages and late
deliveries, through the App's handlers and tracker. Deterministic (seeded), so it cannot
flake: no alert without a real breakage (failures that passed on a rerun aside), and every
breakage alerted.
"""

from __future__ import annotations

import pytest

from bot.config.files import load_text
from bot.sim.quality import alerts_of, run_app, score
from bot.sim.trunksim import CONFIG, Knobs, Trunk

SMALL = {"commits": 160, "breakages": 3, "outages": 3}


@pytest.mark.parametrize(
    ("seed", "workflow_jobs"),
    [(11, True), (12, True), (13, False)],
    ids=["jobs-11", "jobs-12", "runs-13"],
)
async def test_no_false_alarm_and_every_breakage_alerted(seed: int, workflow_jobs: bool) -> None:
    config = load_text(CONFIG, "test")
    trunk = Trunk(Knobs(seed=seed, workflow_jobs=workflow_jobs, **SMALL))
    taken = await run_app(trunk, config)
    result = score(trunk, alerts_of(trunk, taken, config.suspects.max_prs), config.suspects.max_prs)

    assert result.found == result.breakages == 3
    assert result.false_alarms == 0
    assert result.duplicates == 0
    assert result.culprit_in_first == result.labelled  # when labelled, the culprit is in
