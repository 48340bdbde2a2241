"""The tracker, rule by rule: pure, no fakes, facts built by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.tracker import RepoTracker
from bot.tracker.model import (
    AlertState,
    CloseReason,
    CommitInfo,
    Decision,
    DecisionKind,
    FailingJob,
    GridCell,
    GroupRule,
    JobKey,
    JobResult,
    Push,
    State,
    TrackerConfig,
)
from bot.tracker.order import BranchOrder
from bot.tracker.reference import streak_and_blame
from bot.tracker.results import Verdict
from bot.tracker.timeline import KeyLine

REPO = "pytorch/pytorch"
NULL = "0" * 40
OPEN, UPDATE, CLOSE = DecisionKind.OPEN, DecisionKind.UPDATE, DecisionKind.CLOSE
FIXTURES = Path(__file__).parents[2] / "shared" / "fixtures" / "github" / "history"


def sha(i: int) -> str:
    return f"c{i:02d}"


def commit(i: int) -> CommitInfo:
    return CommitInfo(
        sha(i), message=f"commit {i}", timestamp=f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
    )


def push(first: int, last: int, branch: str = "main", delivery: str = "") -> Push:
    """Commits first..last (inclusive), after commit first-1."""
    before = sha(first - 1) if first > 0 else NULL
    return Push(
        REPO,
        branch,
        before,
        sha(last),
        tuple(commit(i) for i in range(first, last + 1)),
        delivery_id=delivery or f"push-{first}-{last}",
    )


def result(
    i: int,
    job: str,
    conclusion: str | None,
    *,
    workflow: str = "trunk",
    run: int | None = None,
    attempt: int = 1,
    job_id: int = 0,
    branch: str = "main",
    delivery: str | None = None,
) -> JobResult:
    run_id = run if run is not None else 1000 + i
    return JobResult(
        REPO,
        branch,
        sha(i),
        workflow,
        job,
        run_id,
        attempt,
        conclusion,
        job_id,
        url=f"https://ci/{i}/{job}/{attempt}",
        delivery_id=delivery if delivery is not None else f"d-{i}-{workflow}-{job}-{attempt}",
    )


CODES = {
    "P": "success",
    "F": "failure",
    "T": "timed_out",
    "C": "cancelled",
    "S": "skipped",
    "N": "neutral",
}


def results_from(jobs: dict[str, str]) -> list[JobResult]:
    """Per job a row of codes, one per commit: P F T C S N, `.` no result, R = failed then
    passed on a rerun, X = passed then failed on a rerun. Facts come commit by commit."""
    facts: list[JobResult] = []
    width = max(len(row) for row in jobs.values())
    for i in range(width):
        for job, row in jobs.items():
            code = row[i] if i < len(row) else "."
            if code in CODES:
                facts.append(result(i, job, CODES[code]))
            elif code == "R":
                facts += [result(i, job, "failure"), result(i, job, "success", attempt=2)]
            elif code == "X":
                facts += [result(i, job, "success"), result(i, job, "failure", attempt=2)]
    return facts


def config(**rule: object) -> TrackerConfig:
    recovery = int(rule.pop("recovery_passes", 1))  # type: ignore[call-overload]
    retention = int(rule.pop("retention_commits", 2000))  # type: ignore[call-overload]
    return TrackerConfig(
        groups=(GroupRule("ci", **rule),),  # type: ignore[arg-type]
        recovery_passes=recovery,
        retention_commits=retention,
    )


@dataclass
class Run:
    tracker: RepoTracker
    decisions: list[Decision] = field(default_factory=list)

    def feed(self, *facts: Push | JobResult) -> list[Decision]:
        out: list[Decision] = []
        for fact in facts:
            out += self.tracker.apply(fact)
        self.decisions += out
        return out

    def kinds(self) -> list[tuple[DecisionKind, int, CloseReason | None]]:
        return [(d.kind, int(d.alert.rsplit(":", 1)[1]), d.reason) for d in self.decisions]


def run(rows: dict[str, str], cfg: TrackerConfig | None = None, **rule: object) -> Run:
    """Push every commit, then feed the results commit by commit."""
    width = max(len(row) for row in rows.values())
    r = Run(RepoTracker(REPO, cfg or config(**rule)))
    r.feed(push(0, width - 1))
    r.feed(*results_from(rows))
    return r


def key(job: str, workflow: str = "trunk") -> JobKey:
    return JobKey(workflow, job)


# -- rules 4 and 5: streaks, threshold, min_failing_jobs --------------------------------------


@pytest.mark.parametrize(
    ("jobs", "rule", "opened_at"),
    [
        ({"a": "PFF"}, {"threshold": 3}, None),
        ({"a": "PFFF"}, {"threshold": 3}, 3),
        ({"a": "PF"}, {"threshold": 1}, 1),
        ({"a": "PFFFF", "b": "PPPPP"}, {"threshold": 3, "min_failing_jobs": 2}, None),
        ({"a": "PFFFF", "b": "PPFFF"}, {"threshold": 3, "min_failing_jobs": 2}, 4),
        ({"a": "PFCFSFN"}, {"threshold": 3}, 5),  # cancelled/skipped/neutral say nothing
        ({"a": "PTTT"}, {"threshold": 3}, 3),  # timed_out fails
        ({"a": "PF.F..F"}, {"threshold": 3}, 6),  # commits without a result are skipped
        ({"a": "PFFPFF"}, {"threshold": 3}, None),  # a pass breaks the streak
        ({"a": "PRRRR"}, {"threshold": 2}, None),  # reruns that pass are flakes
        ({"a": "PFFX"}, {"threshold": 3}, 3),  # the latest attempt wins, both ways
    ],
)
def test_when_an_alert_opens(
    jobs: dict[str, str], rule: dict[str, int], opened_at: int | None
) -> None:
    r = run(jobs, **rule)
    opens = [d for d in r.decisions if d.kind is OPEN]
    if opened_at is None:
        assert opens == []
        assert r.tracker.alerts() == []
    else:
        assert [d.at for d in opens] == [sha(opened_at)]
        assert opens[0].alert == f"{REPO}:main:ci:1"


def test_streak_and_jobs_of_the_open_decision() -> None:
    r = run({"a": "PFFF", "b": "PPFF"}, threshold=2)
    opened = r.decisions[0]
    assert opened.kind is OPEN and opened.at == sha(2)
    assert [(j.key, j.streak) for j in opened.jobs] == [(key("a"), 2)]
    assert opened.streak == 2
    assert opened.delivery_id == "d-2-trunk-a-1"
    assert opened.jobs[0].latest_failed_url == "https://ci/2/a/1"
    assert opened.last_green == sha(0)


def test_shards_merge_into_one_key() -> None:
    shard = "test (default, {}, 2, linux.2xlarge)"
    jobs = {shard.format(1): "PF.F", shard.format(2): "PPF."}
    r = run(jobs, threshold=3)
    assert [d.kind for d in r.decisions] == [OPEN]
    assert r.decisions[0].jobs[0].key == key("test (default, linux.2xlarge)")
    assert run(jobs, threshold=3, split_shards=True).decisions == []


def test_a_key_passes_once_every_shard_passed() -> None:
    shard = "test (default, {}, 3, x)"
    rows = {shard.format(1): "PFFFP", shard.format(2): "PPPPP", shard.format(3): "PPPP."}
    sharded = run(rows, threshold=3)
    assert [d.kind for d in sharded.decisions] == [OPEN]  # shard 3 has not reported on 4
    sharded.feed(result(4, shard.format(3), "success"))
    assert sharded.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)
    green = run(rows, threshold=3)
    green.feed(result(4, "", "success"))  # a green run: every job of it passed
    assert green.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)


def test_shards_that_never_report_are_not_waited_for() -> None:
    r = run({"test (default, 1, 2, x)": "PFFFP"}, threshold=3)
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)


def test_a_shard_seen_late_is_waited_for_on_older_commits_too() -> None:
    first, second = "test (default, 1, 2, x)", "test (default, 2, 2, x)"
    r = run({first: "PFFFP"}, threshold=3)
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)
    # Shard 2 turns up: commit 4 (where only shard 1 passed) no longer passes the key, so
    # the streak never ended. The closed alert stays closed; the breakage is a new alert.
    (opened,) = r.feed(result(0, second, "success"))
    assert opened.kind is OPEN and opened.alert.endswith(":2") and opened.streak == 3
    assert r.tracker.group_status("main", "ci").jobs[0].streak == 3


def test_any_failing_shard_fails_the_key_and_a_passing_one_does_not_hide_it() -> None:
    shard = "test (default, {}, 2, x)"
    r = run({shard.format(1): "PFFF", shard.format(2): "PPPP"}, threshold=3)
    assert [d.kind for d in r.decisions] == [OPEN]


def test_latest_attempt_is_ordered_by_run_then_attempt_then_job_id() -> None:
    r = Run(RepoTracker(REPO, config(threshold=1)))
    r.feed(push(0, 1))
    r.feed(result(1, "a", "failure", run=5, attempt=2))
    assert [d.kind for d in r.decisions] == [OPEN]
    (update,) = r.feed(result(1, "a", "success", run=5, attempt=1))  # an older attempt
    assert update.changed == ("culprit",)  # only the evidence: attempts success, failure
    assert update.breakages[0].evidence[0].conclusions == ("success", "failure")
    r.feed(result(1, "a", "success", run=6, attempt=1))  # a newer run
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.FLAKY)


def test_a_flake_is_counted_and_does_not_alert() -> None:
    r = run({"a": "PRPRP"}, threshold=2)
    assert r.decisions == []
    status = r.tracker.group_status("main", "ci")
    assert [(j.key, j.flakes, j.streak) for j in status.jobs] == [(key("a"), 2, 0)]
    grid = r.tracker.grid("main", "ci", n=3)
    assert [row.commit.sha for row in grid.rows] == [sha(4), sha(3), sha(2)]
    assert [row.cells for row in grid.rows] == [
        (GridCell.PASS,),
        (GridCell.FLAKY,),
        (GridCell.PASS,),
    ]


# -- rule 8: blamelists and suspects ------------------------------------------------------------


def test_blamelist_runs_from_after_the_last_pass_through_the_first_failure() -> None:
    r = run({"a": "P..FFF"}, threshold=3)
    job = r.decisions[0].jobs[0]
    assert job.last_passing_sha == sha(0)
    assert job.first_failing_sha == sha(3)
    assert job.blamelist == (sha(1), sha(2), sha(3))
    assert r.decisions[0].suspects == (sha(1), sha(2), sha(3))
    assert r.decisions[0].suspects_known


def test_suspects_are_the_intersection_of_the_blamelists() -> None:
    r = run({"a": "P..FFFF", "b": "P...FFF"}, threshold=3, min_failing_jobs=2)
    opened = r.decisions[0]
    assert [j.blamelist for j in opened.jobs] == [
        (sha(1), sha(2), sha(3)),
        (sha(1), sha(2), sha(3), sha(4)),
    ]
    assert opened.suspects == (sha(1), sha(2), sha(3))


def test_suspects_are_the_union_when_the_blamelists_do_not_meet() -> None:
    r = run({"a": "PFFFFF", "b": "PPPFFF"}, threshold=3, min_failing_jobs=2)
    assert r.decisions[0].suspects == (sha(1), sha(3))


def test_suspects_unknown_without_a_passing_commit() -> None:
    r = run({"a": ".FFF"}, threshold=3)
    opened = r.decisions[0]
    assert not opened.suspects_known
    assert opened.suspects == (sha(0), sha(1))
    assert opened.jobs[0].last_passing_sha is None
    assert opened.last_green is None


# -- rule 6: the life of an alert ---------------------------------------------------------------


def test_recovery_closes_and_a_new_breakage_is_a_new_alert() -> None:
    r = run({"a": "PFFFPFFF"}, threshold=3)
    assert r.kinds() == [
        (OPEN, 1, None),
        (CLOSE, 1, CloseReason.RECOVERED),
        (OPEN, 2, None),
    ]
    closed = r.decisions[1]
    assert closed.recovered_by == sha(4) and closed.at == sha(4)
    assert closed.delivery_id == "d-4-trunk-a-1"
    assert r.decisions[2].suspects == (sha(5),)
    assert [(a.seq, a.open) for a in r.tracker.alerts()] == [(1, False), (2, True)]


def test_recovery_passes_two() -> None:
    r = run({"a": "PFFFPFP"}, threshold=3, recovery_passes=2)
    assert [k for k, _, _ in r.kinds() if k is not UPDATE] == [OPEN, CLOSE]
    assert r.decisions[-1].recovered_by == sha(6)
    assert run({"a": "PFFFP"}, threshold=3, recovery_passes=2).tracker.open_alert("main", "ci")


def test_a_job_that_reaches_the_threshold_joins_with_an_update() -> None:
    r = run({"a": "PFFFF", "b": "PPPFF"}, threshold=2)
    joined = [d for d in r.decisions if d.kind is UPDATE and "jobs" in d.changed]
    assert len(joined) == 1
    assert joined[0].at == sha(4)
    assert [j.key for j in joined[0].jobs] == [key("a"), key("b")]
    assert joined[0].suspects == (sha(1), sha(3))
    assert "suspects" in joined[0].changed


def test_update_only_when_something_changed() -> None:
    r = Run(RepoTracker(REPO, config(threshold=2)))
    r.feed(push(0, 3), *results_from({"a": "PFF"}))
    assert [d.kind for d in r.decisions] == [OPEN]
    assert r.feed(result(2, "other", "success")) == []
    assert [d.changed for d in r.feed(result(3, "a", "failure"))] == [("streak",)]


def test_withdrawn_as_flaky_when_a_rerun_passes() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    assert [d.kind for d in r.decisions] == [OPEN]
    (closed,) = r.feed(result(2, "a", "success", attempt=2))
    assert closed.kind is CLOSE and closed.reason is CloseReason.FLAKY
    assert closed.flaky_reruns == ("trunk / a",)
    assert closed.at == sha(2) and closed.delivery_id == "d-2-trunk-a-2"
    assert r.tracker.open_alert("main", "ci") is None


def test_a_recovered_alert_is_withdrawn_when_its_failures_pass_on_rerun_later() -> None:
    r = run({"a": "PFFFFP"}, threshold=3)
    assert r.kinds()[-1] == (DecisionKind.CLOSE, 1, CloseReason.RECOVERED)
    # Three in a row remain: real, and the culprit is 2, not 1 (said on the closed alert).
    (settled,) = r.feed(result(1, "a", "success", attempt=2))
    assert (settled.kind, settled.reason, settled.suspects) == (
        CLOSE,
        CloseReason.RECOVERED,
        (sha(2),),
    )
    assert "suspects" in settled.changed
    withdrawn = r.feed(result(2, "a", "success", attempt=2))  # two: there never was a streak
    assert [(d.kind, d.reason) for d in withdrawn] == [(DecisionKind.CLOSE, CloseReason.FLAKY)]
    assert withdrawn[0].alert == r.decisions[0].alert
    assert r.tracker.alerts()[0].reason is CloseReason.FLAKY
    assert r.tracker.alerts()[0].closed_at == sha(5)  # where it recovered, still
    assert r.feed(result(3, "a", "success", attempt=2)) == []  # once


def test_a_rerun_that_passes_after_the_group_had_another_alert_still_withdraws_its_own() -> None:
    """A confirmation rerun reports hours later: the group may have had another alert since.
    The older alert, on failures that all passed on rerun, is withdrawn all the same."""
    r = run({"a": "PFFFPPFFFP"}, threshold=3)
    assert [k for k in r.kinds() if k[0] is CLOSE] == [
        (CLOSE, 1, CloseReason.RECOVERED),
        (CLOSE, 2, CloseReason.RECOVERED),
    ]
    withdrawn = r.feed(result(1, "a", "success", attempt=2))  # two in a row: no streak
    assert [(d.kind, d.reason) for d in withdrawn] == [(CLOSE, CloseReason.FLAKY)]
    assert withdrawn[0].alert == r.decisions[0].alert
    assert [a.reason for a in r.tracker.alerts()] == [CloseReason.FLAKY, CloseReason.RECOVERED]


def test_a_later_alert_whose_rerun_runs_does_not_take_the_previous_ones_culprit() -> None:
    """While the rerun of the second alert's first failure runs, its streak is gone, and the
    newest streak before it is the first alert's: nothing is said of that. When it passes,
    the second alert stood on chance failures: it is withdrawn, the first one untouched."""
    r = run({"a": "PFFFPPFFFP"}, threshold=3)
    second = r.decisions[-1].alert
    running = replace(result(6, "a", None, attempt=2), status="queued")
    assert r.feed(running) == []
    (withdrawn,) = r.feed(result(6, "a", "success", attempt=2))
    assert (withdrawn.alert, withdrawn.reason) == (second, CloseReason.FLAKY)
    assert r.tracker.alerts()[0].suspects == (sha(1),)


def test_a_recovery_that_turns_pending_and_passes_again_files_nothing_new() -> None:
    """The pass that recovered an alert goes pending (its run is rerun for another job's
    sake): the streak does not go on from there unless the key fails again."""
    r = run({"a": "PFFFP"}, threshold=3)
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)
    rerun = replace(result(4, "", None, attempt=2), status="requested")
    assert r.feed(rerun) == []  # pending on commit 4: waited for, nothing filed
    assert r.feed(result(4, "", "success", attempt=2)) == []
    r.feed(replace(result(4, "", None, attempt=3), status="requested"))
    (opened,) = r.feed(result(4, "a", "failure", attempt=3))  # the streak goes on: a new alert
    assert opened.kind is OPEN and opened.alert.endswith(":2")


def test_a_closed_alert_is_never_reopened() -> None:
    r = run({"a": "PFFFP"}, threshold=3)
    r.feed(result(4, "a", "failure", attempt=2))  # the recovery was a flake after all
    alerts = r.tracker.alerts()
    assert [(a.seq, a.open, a.reason) for a in alerts] == [
        (1, False, CloseReason.RECOVERED),
        (2, True, None),
    ]


def test_resolve_does_not_refile_the_same_streak() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    (closed,) = r.tracker.resolve("main", "ci", delivery_id="cmd-1")
    assert closed.reason is CloseReason.RESOLVED_BY_USER and closed.delivery_id == "cmd-1"
    assert closed.at == sha(3)
    r.feed(push(4, 9))
    assert r.feed(*[result(i, "a", "failure") for i in range(4, 7)]) == []
    assert r.tracker.resolve("main", "ci") == []
    # it passes once, then breaks again: that is a new streak
    r.feed(result(7, "a", "success"))
    assert r.feed(result(8, "a", "failure"), result(9, "a", "failure")) == []
    r.feed(push(10, 10))
    (opened,) = r.feed(result(10, "a", "failure"))
    assert opened.kind is OPEN and opened.alert.endswith(":2") and opened.suspects == (sha(8),)


def test_resolve_lets_other_jobs_file() -> None:
    r = run({"a": "PFFF", "b": "PPPP"}, threshold=3)
    r.tracker.resolve("main", "ci")
    r.feed(push(4, 6))
    out = r.feed(*[result(i, job, "failure") for i in range(4, 7) for job in ("a", "b")])
    assert [(d.kind, [j.key for j in d.jobs]) for d in out] == [(OPEN, [key("b")])]


# -- rule 1 and the trunk order -----------------------------------------------------------------


def test_results_before_their_push_count_once_placed() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 0), result(0, "a", "success"))
    assert r.feed(*[result(i, "a", "failure") for i in (1, 2, 3)]) == []
    (opened,) = r.feed(push(1, 3))
    assert opened.at == sha(3) and opened.delivery_id == "d-3-trunk-a-1"


def test_out_of_order_pushes_give_the_trunk_order() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 0), result(0, "a", "success"))
    r.feed(push(3, 4), push(1, 2))
    assert [c.sha for c in r.tracker.trunk("main")] == [sha(i) for i in range(5)]
    r.feed(*[result(i, "a", "failure") for i in (1, 2, 3)])
    assert r.decisions[0].suspects == (sha(1),)


def test_a_missed_push_inserted_later_changes_the_suspects() -> None:
    r = Run(RepoTracker(REPO, config(threshold=2)))
    r.feed(push(0, 0), result(0, "a", "success"))
    r.feed(push(3, 4), result(3, "a", "failure"), result(4, "a", "failure"))
    assert r.decisions[0].suspects == (sha(3),)
    (updated,) = r.feed(push(1, 2))  # commits 1 and 2 were there all along
    assert updated.kind is UPDATE and updated.suspects == (sha(1), sha(2), sha(3))


def test_a_missed_push_can_move_the_last_green_commit() -> None:
    r = Run(RepoTracker(REPO, config(threshold=2)))
    r.feed(push(0, 0), result(0, "a", "success"), result(2, "a", "success"))
    r.feed(push(3, 4), result(3, "a", "failure"), result(4, "a", "failure"))
    assert r.decisions[0].last_green == sha(0)
    (updated,) = r.feed(push(1, 2))
    assert updated.last_green == sha(2)
    assert "last_green" in updated.changed and "suspects" not in updated.changed
    assert updated.suspects == (sha(3),)


def test_branches_not_configured_are_ignored() -> None:
    r = Run(RepoTracker(REPO, config(threshold=1)))
    assert r.feed(push(0, 2, branch="dev")) == []
    assert r.feed(result(1, "a", "failure", branch="dev")) == []
    assert r.tracker.head("dev") is None and r.tracker.commit(sha(1)) is None


def test_a_repeated_fact_changes_nothing() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    before = r.tracker.alerts()
    assert r.feed(push(0, 3), result(3, "a", "failure")) == []
    assert r.feed(result(3, "a", "failure", delivery="another-delivery")) == []
    assert r.tracker.alerts() == before


# -- rule 3: workflow-level results -------------------------------------------------------------


def test_a_run_without_job_results_counts_at_workflow_level() -> None:
    r = run({"": "PFFF"}, threshold=3)
    assert [d.jobs[0].key for d in r.decisions] == [JobKey("trunk", "")]


def test_a_run_with_job_results_is_judged_by_them() -> None:
    r = Run(RepoTracker(REPO, config(threshold=1)))
    r.feed(push(0, 1))
    r.feed(result(1, "", "failure", run=7), result(1, "a", "success", run=7))
    assert [d.kind for d in r.decisions] == [OPEN, CLOSE]  # the run first, then its jobs
    assert r.decisions[1].reason is CloseReason.FLAKY
    status = r.tracker.group_status("main", "ci")
    assert [(j.key, j.streak) for j in status.jobs] == [(key("a"), 0)]


def test_a_green_run_passes_the_jobs_it_ran() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    r.feed(push(4, 4), result(4, "", "success"))
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.RECOVERED)
    assert r.decisions[-1].recovered_by == sha(4)


def test_a_green_rerun_of_the_run_passes_jobs_of_an_older_attempt() -> None:
    r = Run(RepoTracker(REPO, config(threshold=1)))
    r.feed(push(0, 1), result(1, "a", "failure", run=9, attempt=1))
    assert [d.kind for d in r.decisions] == [OPEN]
    r.feed(result(1, "", "success", run=9, attempt=2))
    assert r.kinds()[-1] == (CLOSE, 1, CloseReason.FLAKY)
    flakes = {j.key: j.flakes for j in r.tracker.group_status("main", "ci").jobs}
    assert flakes == {key(""): 0, key("a"): 1}


def test_a_rerun_of_the_failed_jobs_leaves_the_passed_ones_passed() -> None:
    """GitHub's "re-run failed jobs" starts attempt 2 of the run and queues the failed jobs
    only: the job that passed keeps its pass (it is not running again), the failed one is
    pending until its rerun reports."""
    r = Run(RepoTracker(REPO, config(threshold=1)))
    r.feed(push(0, 1), result(1, "build", "success", run=9, job_id=1))
    r.feed(result(1, "test", "failure", run=9, job_id=2))
    r.feed(replace(result(1, "", None, run=9, attempt=2), status="requested"))  # attempt 2
    assert cells(r) == {"build": GridCell.PENDING, "test": GridCell.PENDING}  # none named yet
    r.feed(replace(result(1, "test", None, run=9, attempt=2, job_id=3), status="queued"))
    assert cells(r) == {"build": GridCell.PASS, "test": GridCell.PENDING}


def cells(r: Run) -> dict[str, GridCell]:
    """Each key's cell on the newest commit."""
    grid = r.tracker.grid("main", "ci")
    return {key.job: cell for key, cell in zip(grid.keys, grid.rows[0].cells, strict=True)}


def test_workflow_level_key_only_when_the_rule_matches_an_empty_job() -> None:
    r = run({"": "PFFF"}, threshold=3, jobs=("test*",))
    assert r.decisions == []


def test_group_rules_select_jobs() -> None:
    cfg = TrackerConfig(
        groups=(
            GroupRule("inductor", jobs=("*inductor*",), exclude_jobs=("*unstable*",), threshold=2),
            GroupRule("all", threshold=2),
        )
    )
    r = run({"test (inductor, 1, 2, x)": "PFF", "test (inductor_unstable)": "PFF"}, cfg)
    assert [(a.group, [str(j.key) for j in a.jobs]) for a in r.tracker.alerts()] == [
        ("all", ["trunk / test (inductor, x)", "trunk / test (inductor_unstable)"]),
        ("inductor", ["trunk / test (inductor, x)"]),
    ]


# -- restart, configuration, pruning ------------------------------------------------------------


def test_load_and_evaluate_does_not_repeat_recorded_decisions() -> None:
    live = run({"a": "PFFFF"}, threshold=3)
    commits = [("main", commit(i), sha(i - 1) if i else None) for i in range(5)]
    restarted = RepoTracker(REPO, config(threshold=3), live.tracker.alerts())
    restarted.load(commits, results_from({"a": "PFFFF"}))
    assert restarted.evaluate() == []
    assert restarted.alerts() == live.tracker.alerts()


def test_load_and_evaluate_decides_what_was_not_recorded() -> None:
    commits = [("main", commit(i), sha(i - 1) if i else None) for i in range(5)]
    restarted = RepoTracker(REPO, config(threshold=3))
    restarted.load(commits, results_from({"a": "PFFFF"}))
    decisions = restarted.evaluate()
    assert [(d.kind, d.at) for d in decisions] == [(OPEN, sha(3)), (UPDATE, sha(4))]


def test_set_config_re_evaluates() -> None:
    r = run({"a": "PFF"}, threshold=3)
    assert r.decisions == []
    (opened,) = r.tracker.set_config(config(threshold=2))
    assert opened.kind is OPEN and opened.at == sha(2)


def test_pruning_keeps_the_newest_commits() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3, retention_commits=10)))
    for i in range(30):
        r.feed(push(i, i), result(i, "a", "failure" if 20 <= i <= 23 else "success"))
        r.feed(result(i, "", "failure" if 20 <= i <= 23 else "success"))
    trunk = [c.sha for c in r.tracker.trunk("main")]
    assert 10 <= len(trunk) <= 11 and trunk[-1] == sha(29)
    assert r.tracker.commit(sha(0)) is None
    assert r.kinds() == [(OPEN, 1, None), (UPDATE, 1, None), (CLOSE, 1, CloseReason.RECOVERED)]
    assert r.feed(result(0, "a", "failure")) == []


def test_decisions_come_out_in_a_deterministic_order() -> None:
    cfg = TrackerConfig(groups=(GroupRule("b", threshold=1), GroupRule("a", threshold=1)))
    r = Run(RepoTracker(REPO, cfg))
    r.feed(push(0, 3))
    out = r.tracker.set_config(cfg)
    assert out == []
    r.tracker.load([], results_from({"x": "FPF"}))
    decisions = r.tracker.evaluate()
    assert [(d.group, d.alert[-1], d.kind) for d in decisions] == [
        ("a", "1", OPEN),
        ("a", "1", CLOSE),
        ("a", "2", OPEN),
        ("b", "1", OPEN),
        ("b", "1", CLOSE),
        ("b", "2", OPEN),
    ]


def test_queries() -> None:
    r = run({"a": "PFFF", "b": "PPPP"}, threshold=3)
    assert r.tracker.head("main") == sha(3)
    assert r.tracker.commit(sha(1)) == commit(1)
    assert r.tracker.watches_workflow("trunk")
    assert r.tracker.workflow_in_streak("main", "trunk")
    assert not r.tracker.workflow_in_streak("main", "pull")
    status = r.tracker.group_status("main", "ci")
    assert status.broken and status.open_alert == f"{REPO}:main:ci:1"
    assert status.suspects == (sha(1),) and status.last_green == sha(0)
    assert [(j.key.job, j.streak, j.last_passing_sha) for j in status.jobs] == [
        ("a", 3, sha(0)),
        ("b", 0, sha(3)),
    ]
    assert r.tracker.open_alert("main", "ci") == r.tracker.alerts()[0]
    with pytest.raises(KeyError):
        r.tracker.group_status("main", "nope")


def test_restored_alert_states_are_kept() -> None:
    alert = AlertState(
        f"{REPO}:main:ci:4", REPO, "main", "ci", 4, False, sha(0), sha(0), CloseReason.RECOVERED
    )
    r = Run(RepoTracker(REPO, config(threshold=1), [alert]))
    r.feed(push(0, 1), result(1, "a", "failure"))
    assert [d.alert for d in r.decisions] == [f"{REPO}:main:ci:5"]


# -- the trunk order ------------------------------------------------------------------------------


def test_order_fast_path_and_repeats() -> None:
    order = BranchOrder()
    assert order.add_push(push(0, 2)) == 0
    assert order.add_push(push(3, 4)) == 3
    assert order.add_push(push(3, 4)) is None
    assert order.order == [sha(i) for i in range(5)]


def test_order_out_of_order_reports_the_lowest_change() -> None:
    order = BranchOrder()
    order.add_push(push(0, 1))
    assert order.add_push(push(4, 5)) == 2  # disconnected: placed by timestamp
    assert order.add_push(push(2, 3)) == 2
    assert order.order == [sha(i) for i in range(6)]


def test_order_disconnected_chains_by_timestamp_then_sha() -> None:
    def chain(names: str, stamp: str) -> Push:
        return Push(
            REPO,
            "main",
            "x" + names,
            names[-1],
            tuple(CommitInfo(n, timestamp=stamp) for n in names),
        )

    a, b = BranchOrder(), BranchOrder()
    pushes = [chain("pq", "2025-01-02"), chain("mn", "2025-01-01"), chain("yz", "2025-01-01")]
    for p in pushes:
        a.add_push(p)
    for p in reversed(pushes):
        b.add_push(p)
    assert a.order == b.order == ["m", "n", "y", "z", "p", "q"]


def test_order_survives_a_cycle() -> None:
    order = BranchOrder()
    order.add_links([(CommitInfo("a"), "b"), (CommitInfo("b"), "a")])
    order.rebuild()
    assert sorted(order.order) == ["a", "b"]


# -- a recorded history ---------------------------------------------------------------------------


def _fixture() -> tuple[list[list[str]], list[list[str]]]:
    base = FIXTURES / "pytorch-autorevert-fixture"
    rows = json.loads((base / "workflow_job_main.json").read_text())
    commits = json.loads((base / "push_commits.json").read_text())
    return rows, commits


def _replay(rows: list[list[str]], trunk: list[CommitInfo], rule: GroupRule) -> list[Decision]:
    """Push the trunk, then feed the fixture's jobs in the order they completed."""
    tracker = RepoTracker(REPO, TrackerConfig(groups=(rule,)))
    decisions = tracker.apply(Push(REPO, "main", NULL, trunk[-1].sha, tuple(trunk)))
    for n, (workflow, head, job, conclusion, _status, _rule, _time) in sorted(
        enumerate(rows), key=lambda item: item[1][6]
    ):
        decisions += tracker.apply(
            JobResult(
                REPO,
                "main",
                head,
                workflow,
                job,
                1,
                1,
                conclusion,
                job_id=n,
                delivery_id=f"job-{n}",
            )
        )
    return decisions


def test_replays_the_pytorch_autorevert_fixture() -> None:
    rows, commits = _fixture()
    trunk = [
        CommitInfo(s, message=m, timestamp=t) for s, m, t in sorted(commits, key=lambda c: c[2])
    ]
    rule = GroupRule("rocm", workflows=("trunk",), jobs=("*rocm*",), threshold=1)
    decisions = _replay(rows, trunk, rule)
    # bbc0df1 broke shard 2 of 6; 4fd5fab, newer, fails shard 5: one alert, still open,
    # naming bbc0df1. Shard 2 passing on 4fd5fab before shard 5 failed did not count as a
    # pass: the key passes a commit only once all six shards have. Results of the other
    # workflows are for commits never pushed: they do not count.
    broke = "bbc0df1094b5a4dcd2cce83f8402127b07913231"
    good = "33ec6e3e9aa2b93f7d907236aa10ba2b36355018"
    newer = "4fd5fabee9b2641440a413adf54f728fe2816375"
    assert [(d.kind, d.at) for d in decisions] == [(OPEN, broke), (UPDATE, newer)]
    opened = decisions[0]
    assert opened.suspects == (broke,) and opened.last_green == good
    assert opened.jobs[0].key == JobKey(
        "trunk", "linux-jammy-rocm-py3.10 / test (default, linux.rocm.gpu.2)"
    )
    assert decisions[1].streak == 2 and decisions[1].changed == ("streak",)


@pytest.mark.parametrize(
    ("workflow", "opened_at", "suspects_known"),
    [
        ("trunk-pending", "1111111", True),
        ("trunk-baseline-fails", "5555555", False),
        ("trunk-one-failure", None, True),
    ],
)
def test_replays_the_fixture_scenarios(
    workflow: str, opened_at: str | None, suspects_known: bool
) -> None:
    rows, _ = _fixture()
    mine = [row for row in rows if row[0] == workflow]
    shas = sorted({row[1] for row in mine}, key=lambda s: min(r[6] for r in mine if r[1] == s))
    trunk = [CommitInfo(s, timestamp=min(r[6] for r in mine if r[1] == s)) for s in shas]
    # Only shard 2 of 6 reports here: watch it on its own.
    decisions = _replay(mine, trunk, GroupRule("rocm", threshold=2, split_shards=True))
    assert [d.at[:7] for d in decisions if d.kind is OPEN] == ([opened_at] if opened_at else [])
    if opened_at:
        assert decisions[0].suspects_known is suspects_known


def test_order_conflicting_parents_resolve_deterministically() -> None:
    a, b = BranchOrder(), BranchOrder()
    links = [(CommitInfo("p"), None), (CommitInfo("q"), None), (CommitInfo("x"), "q")]
    other = [(CommitInfo("x"), "p")]
    a.add_links(links)
    a.add_links(other)
    b.add_links(other)
    b.add_links(links)
    a.rebuild()
    b.rebuild()
    assert a.parent["x"] == b.parent["x"] == "p"
    assert a.order == b.order


def test_order_prune_forgets_and_ignores_pruned_commits() -> None:
    order = BranchOrder()
    order.add_push(push(0, 4))
    assert order.prune(10) == []
    assert order.prune(2) == [sha(0), sha(1), sha(2)]
    assert order.add_push(push(0, 1)) is None
    assert order.order == [sha(3), sha(4)] and order.is_pruned(sha(0))


def test_keyline_edges() -> None:
    line = KeyLine(threshold=2, recovery_passes=1)
    passed = Verdict(False, result(0, "a", "success"), 0, "")
    assert line.run_at(5) is None and line.latest_failed(5) is None
    assert line.set(0, passed) and not line.set(0, passed)
    assert not line.set(3, None)
    assert line.set(0, None) and line.idx == []


def test_unknown_branches_and_groups() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    assert r.tracker.trunk("dev") == [] and r.tracker.head("dev") is None
    assert not r.tracker.workflow_in_streak("dev", "trunk")
    r.tracker.set_config(TrackerConfig(groups=(GroupRule("other"),)))
    (closed,) = r.tracker.resolve("main", "ci")
    assert closed.reason is CloseReason.RESOLVED_BY_USER


def test_evaluate_twice_decides_once() -> None:
    tracker = RepoTracker(REPO, config(threshold=1))
    tracker.load([("main", commit(0), None)], [result(0, "a", "failure")])
    assert [d.kind for d in tracker.evaluate()] == [OPEN]
    assert tracker.evaluate() == []


def test_a_cancelled_run_says_nothing() -> None:
    r = run({"": "PCFF"}, threshold=3)
    assert r.decisions == []
    assert r.tracker.group_status("main", "ci").jobs[0].streak == 2


def test_restored_alerts_in_any_order_and_with_unknown_jobs() -> None:
    gone = JobKey("trunk", "removed job")
    job = FailingJob(gone, 3, sha(0), None, "", (sha(0),))
    alerts = [
        AlertState(f"{REPO}:main:ci:2", REPO, "main", "ci", 2, True, sha(0), jobs=(job,)),
        AlertState(
            f"{REPO}:main:ci:1", REPO, "main", "ci", 1, False, sha(0), sha(0), CloseReason.RECOVERED
        ),
    ]
    tracker = RepoTracker(REPO, config(threshold=3), alerts)
    tracker.load([("main", commit(0), None)], [])
    (closed,) = tracker.evaluate()
    assert closed.reason is CloseReason.FLAKY and closed.alert.endswith(":2")
    assert closed.flaky_reruns == ("trunk / removed job",)
    assert [a.seq for a in tracker.alerts()] == [1, 2]


def test_grid_marks_failures_and_gaps() -> None:
    r = run({"a": "PF", "b": "P."}, threshold=3)
    grid = r.tracker.grid("main", "ci")
    assert grid.keys == (key("a"), key("b"))
    assert [row.cells for row in grid.rows] == [
        (GridCell.FAIL, GridCell.NONE),
        (GridCell.PASS, GridCell.PASS),
    ]


def test_queries_place_loaded_facts_first() -> None:
    tracker = RepoTracker(REPO, config(threshold=1))
    tracker.load([("main", commit(0), None)], [result(0, "a", "failure")])
    assert tracker.group_status("main", "ci").broken


def test_content_of_keys_without_results_is_empty() -> None:
    tracker = RepoTracker(REPO, config())
    track = tracker._groups[("main", "ci")]
    content = track.content([key("nothing")], 0)
    assert content.jobs == () and content.suspects == () and content.streak == 0


def test_a_branch_dropped_from_the_configuration_is_no_longer_decided() -> None:
    r = run({"a": "PFFF"}, threshold=3)
    assert r.tracker.set_config(TrackerConfig(groups=(GroupRule("ci"),), branches=("dev",))) == []
    assert r.feed(result(3, "a", "success", attempt=2)) == []


# -- force pushes ------------------------------------------------------------------------------


def forced(before: int, after: str, *commits: CommitInfo) -> Push:
    return Push(REPO, "main", sha(before), after, tuple(commits), forced=True)


def test_a_forced_push_that_amends_the_head_replaces_it() -> None:
    order = BranchOrder()
    order.add_push(push(0, 4))
    amended = CommitInfo("x04", message="commit 4 (amended)")
    assert order.add_push(forced(4, "x04", amended)) == 4
    assert order.order == [sha(i) for i in range(4)] + ["x04"]
    assert order.is_pruned(sha(4))


def test_a_forced_push_that_rebases_recognises_the_rewritten_commits() -> None:
    order = BranchOrder()
    order.add_push(push(0, 5))
    rebased = [CommitInfo(f"r{i:02d}", message=f"commit {i}") for i in (3, 4, 5)]
    assert order.add_push(forced(5, "r05", *rebased)) == 3
    assert order.order == [sha(0), sha(1), sha(2), "r03", "r04", "r05"]


def test_a_forced_reset_takes_the_commits_off_for_good() -> None:
    order = BranchOrder()
    order.add_push(push(0, 4))
    assert order.add_push(forced(4, sha(2))) == 3
    assert order.order == [sha(0), sha(1), sha(2)]
    assert order.add_push(push(3, 4)) is None  # a late redelivery brings nothing back
    assert order.order == [sha(0), sha(1), sha(2)]
    assert order.add_push(forced(4, "unknown")) is None


def test_results_on_commits_a_forced_push_took_off_count_no_more() -> None:
    r = Run(RepoTracker(REPO, config(threshold=2)))
    r.feed(push(0, 2), result(0, "a", "success"), result(1, "a", "failure"))
    r.feed(forced(2, sha(1)))  # c02 is gone
    r.feed(result(2, "a", "failure"))
    assert r.decisions == []  # one failure in a row, not two


# -- pending results and infrastructure failures -----------------------------------------------


def queued(i: int, job: str, *, attempt: int = 1, minute: int = 0, runner: str = "") -> JobResult:
    """The announcement of a job (queued) on commit i: its result is coming."""
    return replace(
        result(i, job, None, attempt=attempt),
        status="queued",
        started_at=f"2025-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z",
        runner=runner,
        delivery_id=f"q-{i}-{job}-{attempt}",
    )


def done(i: int, job: str, conclusion: str, *, attempt: int = 1, minute: int = 30,
         runner: str = "", infra: bool = False) -> JobResult:  # fmt: skip
    return replace(
        result(i, job, conclusion, attempt=attempt),
        completed_at=f"2025-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z",
        runner=runner,
        infra=infra,
    )


def test_a_pending_commit_between_failures_stops_the_streak() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 4), done(0, "a", "success"))
    r.feed(*(queued(i, "a") for i in (1, 2, 3)))
    r.feed(done(1, "a", "failure"), done(3, "a", "failure"))
    assert r.decisions == []  # commit 2 still runs: not "3 in a row" yet
    assert r.tracker.group_status("main", "ci").jobs[0].streak == 1
    r.feed(done(2, "a", "success"))
    assert r.decisions == []  # it passed: a flake on 1 and a failure on 3, no streak
    r.feed(queued(4, "a"))
    r.feed(done(4, "a", "failure", minute=40))
    assert r.decisions == []


def test_pending_commits_newer_than_the_failures_block_nothing() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 5), done(0, "a", "success"), queued(4, "a"), queued(5, "a"))
    opened = r.feed(*(done(i, "a", "failure") for i in (1, 2, 3)))
    assert [d.kind for d in opened] == [DecisionKind.OPEN]
    assert opened[0].suspects == (sha(1),) and not opened[0].provisional


def test_failures_split_by_a_pending_commit_keep_every_possible_culprit_in_the_blamelist() -> None:
    """Failures split by a commit still running: the failure below it may be a flake (the
    culprit later) or the breakage's start. Until it reports, the blamelist runs from the last
    pass to the first failure of the streak that is real (threshold failures in a row), so the
    culprit is in it either way."""
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 6), done(0, "a", "success"), done(1, "a", "failure"), queued(2, "a"))
    opened = r.feed(*(done(i, "a", "failure") for i in (3, 4, 5)))
    assert [d.kind for d in opened] == [DecisionKind.OPEN]
    assert opened[0].jobs[0].streak == 3
    assert opened[0].suspects == (sha(1), sha(2), sha(3)) and opened[0].pending == (sha(2),)
    assert opened[0].provisional
    # Commit 2 fails: one streak from commit 1, where the culprit is.
    joined = r.feed(done(2, "a", "failure", minute=40))
    assert joined[-1].suspects == (sha(1),) and not joined[-1].provisional
    assert joined[-1].jobs[0].first_failing_sha == sha(1)
    states = [State.PASS, State.FAIL, State.PENDING, State.FAIL, State.FAIL, State.FAIL]
    judged = streak_and_blame(states, threshold=3)
    assert (judged.streak, judged.blamelist, judged.pending) == (3, (1, 2, 3), (2,))
    # A lower streak that is real on its own ends the blamelist there.
    assert streak_and_blame(states, threshold=1).blamelist == (1,)


def test_a_commit_still_running_inside_a_long_breakage_does_not_move_its_blamelist() -> None:
    """The newest streak starts above a commit still running, but the breakage's own first
    streak below it is real: the blamelist ends there, where the culprit is."""
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 9), done(0, "a", "success"), queued(4, "a"))
    opened = r.feed(*(done(i, "a", "failure") for i in (1, 2, 3, 5, 6, 7)))
    assert opened[0].kind is DecisionKind.OPEN
    assert opened[-1].jobs[0].streak == 3
    assert opened[-1].suspects == (sha(1),) and not opened[-1].provisional
    assert opened[-1].jobs[0].first_failing_sha == sha(1)


def test_a_flake_below_a_pending_commit_is_cleared_when_it_passes() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 6), done(0, "a", "success"), done(1, "a", "failure"), queued(2, "a"))
    r.feed(*(done(i, "a", "failure") for i in (3, 4, 5)))
    settled = r.feed(done(2, "a", "success", minute=40))
    assert settled[-1].suspects == (sha(3),) and not settled[-1].provisional


def test_suspects_are_provisional_while_their_commits_run() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 5), done(0, "a", "success"), queued(1, "a"), queued(2, "a"))
    opened = r.feed(*(done(i, "a", "failure", minute=20) for i in (3, 4, 5)))
    assert opened[0].kind is DecisionKind.OPEN
    assert opened[0].suspects == (sha(1), sha(2), sha(3))
    assert opened[0].pending == (sha(1), sha(2)) and opened[0].provisional
    narrowed = r.feed(done(1, "a", "success", minute=25), done(2, "a", "success", minute=26))
    assert narrowed[-1].suspects == (sha(3),)
    assert narrowed[-1].pending == () and not narrowed[-1].provisional


def test_provisional_suspects_are_labelled_after_the_wait() -> None:
    cfg = replace(config(threshold=3), suspects_wait=30 * 60.0)
    r = Run(RepoTracker(REPO, cfg))
    r.feed(push(0, 5), done(0, "a", "success", minute=5), queued(1, "a", minute=1))
    r.feed(*(done(i, "a", "failure", minute=10) for i in (2, 3, 4)))
    assert r.decisions[-1].provisional
    assert r.tracker.tick(datetime(2025, 1, 1, 0, 30, tzinfo=UTC).timestamp()) == []
    waited = r.tracker.tick(datetime(2025, 1, 1, 0, 41, tzinfo=UTC).timestamp())
    assert [d.changed for d in waited] == [("provisional",)]
    assert waited[0].pending == (sha(1),) and not waited[0].provisional


def test_a_result_pending_past_the_timeout_counts_as_none() -> None:
    cfg = replace(config(threshold=3), pending_timeout=60 * 60.0)
    r = Run(RepoTracker(REPO, cfg))
    r.feed(push(0, 4), done(0, "a", "success", minute=5), queued(2, "a", minute=0))
    r.feed(*(done(i, "a", "failure", minute=20) for i in (1, 3, 4)))
    assert r.decisions == []
    expired = r.tracker.tick(datetime(2025, 1, 1, 1, 1, tzinfo=UTC).timestamp())
    assert [d.kind for d in expired] == [DecisionKind.OPEN]  # decided without commit 2
    assert r.tracker.next_deadline() is None or r.tracker.next_deadline() > 0


def test_a_requested_rerun_makes_the_commit_pending_again() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 3), done(0, "a", "success"))
    r.feed(done(1, "a", "failure"), done(3, "a", "failure"))
    r.feed(done(2, "a", "failure"), queued(2, "a", attempt=2, minute=31))
    assert [d.kind for d in r.decisions] == [DecisionKind.OPEN]  # opened before the rerun
    r.feed(done(2, "a", "success", attempt=2, minute=50))
    assert [d.reason for d in r.decisions[1:]] == [CloseReason.FLAKY]


def test_a_completion_before_its_announcement_is_not_undone() -> None:
    r = Run(RepoTracker(REPO, config(threshold=1)))
    r.feed(push(0, 1), done(0, "a", "success"), done(1, "a", "failure"))
    assert [d.kind for d in r.decisions] == [DecisionKind.OPEN]
    r.feed(queued(1, "a"))  # a late delivery of the queued event
    assert [d.kind for d in r.decisions] == [DecisionKind.OPEN]
    assert r.tracker.group_status("main", "ci").jobs[0].streak == 1


def test_a_job_that_failed_before_its_first_step_is_no_code_failure() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 4), done(0, "a", "success"), done(1, "a", "failure"))
    r.feed(done(2, "a", "failure", infra=True), done(3, "a", "failure"))
    assert r.decisions == []
    status = r.tracker.group_status("main", "ci").jobs[0]
    assert (status.streak, status.infra) == (2, 1)  # skipped, and counted apart


RUNNER = "linux.g5.4xlarge"


def _outage_commit(i: int, failing: tuple[str, ...], minute: int = 30) -> list[JobResult]:
    return [
        done(i, job, "failure" if job in failing else "success", runner=RUNNER, minute=minute)
        for job in ("a", "b", "c", "d")
    ]


def test_most_jobs_of_a_runner_type_failing_on_one_commit_is_an_outage() -> None:
    r = Run(RepoTracker(REPO, config(threshold=2)))
    r.feed(push(0, 4), *_outage_commit(0, ()), *_outage_commit(1, ("a",)))
    opened = r.feed(*_outage_commit(2, ("a", "b", "c")))
    assert [d.kind for d in opened] == [DecisionKind.OPEN]  # a: 2 in a row, for now
    recovered = r.feed(*_outage_commit(3, ()))
    assert [d.reason for d in recovered] == [CloseReason.FLAKY]  # commit 2 was the runners
    assert r.tracker.group_status("main", "ci").jobs[0].infra == 1


def test_a_breakage_of_every_job_of_one_runner_type_is_still_a_breakage() -> None:
    r = Run(RepoTracker(REPO, config(threshold=3)))
    r.feed(push(0, 5), *_outage_commit(0, ()))
    for i in (1, 2, 3, 4):
        r.feed(*_outage_commit(i, ("a", "b", "c", "d")))
    assert r.decisions[0].kind is DecisionKind.OPEN
    assert DecisionKind.CLOSE not in {d.kind for d in r.decisions}
    latest = r.decisions[-1]
    assert {str(j.key) for j in latest.jobs} == {f"trunk / {j}" for j in "abcd"}
    assert latest.suspects == (sha(1),)
    assert all(job.infra == 0 for job in r.tracker.group_status("main", "ci").jobs)
