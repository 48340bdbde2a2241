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
from bot.sim.quality.scores import Arrivals, allows_exact_at, arrivals
from bot.sim.trunksim import CONFIG, Breakage, Knobs, Trunk

SMALL = {"commits": 160, "breakages": 3, "outages": 3}


# Run without coverage: under its tracer these replays take four times as long (60 s a
# trunk), and the code they run is measured by the tests of its parts.
@pytest.mark.no_cover
# (The two `workflow_job` trunks run without coverage: tracing doubles their time, and the
# rest of the suite covers the same code.)
@pytest.mark.parametrize(
    ("seed", "workflow_jobs"),
    [
        pytest.param(11, True, marks=pytest.mark.no_cover),
        pytest.param(12, True, marks=pytest.mark.no_cover),
        (13, False),
    ],
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


SHARDS = ("test (default, 1, 3)", "test (default, 2, 3)", "test (default, 3, 3)")
SUITE = Breakage("suite", "pull", 10, 20, frozenset(SHARDS), frozenset({"pull / test (default)"}))


def test_exactness_is_possible_once_the_culprits_run_reported_and_its_parent_passed() -> None:
    """The bench's "where the results known then allowed it": one shard of the culprit
    failing while the others still run may be chance, so exactness is not yet owed."""
    known: Arrivals = {(9, "pull", name): [(50.0, 1, "success")] for name in SHARDS}
    known[(10, "pull", SHARDS[0])] = [(60.0, 1, "failure")]
    known[(10, "pull", SHARDS[1])] = [(70.0, 1, "success")]
    known[(10, "pull", SHARDS[2])] = [(80.0, 1, "failure")]

    assert not allows_exact_at(SUITE, known, 45.0)  # nothing known
    assert not allows_exact_at(SUITE, known, 65.0)  # one shard failed, two still running
    assert not allows_exact_at(SUITE, known, 75.0)
    assert allows_exact_at(SUITE, known, 80.0)  # all reported, two failed; the parent passed
    known[(9, "pull", SHARDS[1])] = [(50.0, 1, "failure"), (90.0, 2, "success")]
    assert not allows_exact_at(SUITE, known, 85.0)  # the parent's shard failed, rerun going
    assert allows_exact_at(SUITE, known, 90.0)


def test_without_workflow_job_events_a_result_is_known_when_its_run_completes() -> None:
    """Without `workflow_job` events the App lists a run's jobs on its `completed`
    delivery: the bench scores it on what it could know then, not when each job ended."""
    trunk = Trunk(Knobs(seed=3, commits=40, breakages=1, workflow_jobs=False))
    completed = {
        (e.data["run_id"], e.data["attempt"]): e.at
        for e in trunk.events
        if e.kind == "run" and e.data["status"] == "completed"
    }
    jobs = [e for e in trunk.events if e.kind == "job" and e.data["status"] == "completed"]
    known = arrivals(trunk)
    earlier = 0
    for e in jobs:
        d = e.data
        listed = completed[(d["run_id"], d["attempt"])]
        seen = [at for at, attempt, _ in known.get((d["index"], d["workflow"], d["name"]), [])
                if attempt == d["attempt"]]  # fmt: skip
        if listed < e.at:
            continue  # (delivered late, after the listing: not in it)
        assert listed in seen
        earlier += e.at < listed
    assert earlier > len(jobs) // 2  # most jobs end before the last of their run
