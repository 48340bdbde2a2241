"""Breakages and their culprits, in the tracker: pure, no fakes, facts built by hand.

A breakage wants runs that would tell its culprit (a rerun at the first failure, a
bisection run on a commit where the job never ran), and is confirmed when the job fails at
a single suspect on two attempts and passes at its parent.
"""

from __future__ import annotations

from dataclasses import replace

from bot.tracker import RepoTracker
from bot.tracker.model import (
    BISECT,
    RERUN,
    CloseReason,
    CulpritStatus,
    Decision,
    DecisionKind,
    GroupRule,
    JobKey,
    JobResult,
    Push,
    TrackerConfig,
)
from bot.tracker.reference import judge
from tests.test_tracker import REPO, Run, push, result, sha

TAG = "trunkwatch/bisect/{sha}"


def tracker(**settings: object) -> Run:
    config = TrackerConfig(groups=(GroupRule("ci", threshold=3),), **settings)  # type: ignore[arg-type]
    return Run(RepoTracker(REPO, config))


def tagged(fact: JobResult) -> JobResult:
    """The result as a run on the commit's bisect tag reports it."""
    return replace(fact, branch=TAG.replace("{sha}", fact.head_sha), run_id=fact.run_id + 50_000)


def latest(r: Run) -> Decision:
    return [d for d in r.decisions if d.kind is not DecisionKind.CLOSE][-1]


def test_a_stack_tested_only_at_its_top_is_bisected_then_the_culprit_confirmed() -> None:
    r = tracker()
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(1, 4))  # a stack of four commits: its workflows ran on the last one only
    r.feed(result(4, "a", "failure", job_id=104))
    r.feed(push(5, 6), result(5, "a", "failure", job_id=105), result(6, "a", "failure", job_id=106))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == tuple(sha(i) for i in (1, 2, 3, 4))
    assert breakage.status is CulpritStatus.CONFIRMING
    # The few commits where it never ran are all run at once (the middle first); the
    # rerun at the first failure waits for them.
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(i)) for i in (2, 3, 1)]

    r.feed(tagged(result(2, "a", "success", job_id=202)))  # passes at the middle
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3), sha(4))
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(3))]

    running = replace(tagged(result(3, "a", None, job_id=203)), status="queued")
    r.feed(running)  # the bisection run started: wait for it
    (breakage,) = latest(r).breakages
    assert breakage.wanted == () and breakage.status is CulpritStatus.CONFIRMING

    r.feed(tagged(result(3, "a", "failure", job_id=203)))  # fails: 3 is the first failure
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3),) and breakage.culprit == sha(3)
    assert breakage.status is CulpritStatus.CONFIRMING  # one failed attempt is not proof
    (rerun,) = breakage.wanted
    assert (rerun.kind, rerun.sha, rerun.job_id) == (RERUN, sha(3), 203)

    r.feed(tagged(result(3, "a", "failure", attempt=2, job_id=303)))
    decision = latest(r)
    (breakage,) = decision.breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == sha(3)
    assert breakage.wanted == ()
    assert decision.suspects == (sha(3),)
    assert [e.sha for e in breakage.evidence] == [sha(3), sha(2)]
    assert breakage.evidence[0].conclusions == ("failure", "failure")
    assert breakage.evidence[1].conclusions == ("success",)


def test_two_bisect_runs_at_once_leave_the_third_commit_until_the_one_above_it_fails() -> None:
    """`culprit.bisect_at_once: 2`: of the three untested commits of a stack, the two nearest
    the middle run first; the lowest only once the one above it failed (had it passed, the
    lowest would be no suspect any more): a run fewer when the culprit is one of the top two."""
    r = tracker(bisect_at_once=2)
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(1, 4), result(4, "a", "failure", job_id=104))
    r.feed(push(5, 6), result(5, "a", "failure", job_id=105), result(6, "a", "failure", job_id=106))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(2)), (BISECT, sha(3))]

    for i in (2, 3):  # both started: the third waits for them
        r.feed(replace(tagged(result(i, "a", None, job_id=200 + i)), status="queued"))
    (breakage,) = latest(r).breakages
    assert breakage.wanted == () and breakage.suspects == tuple(sha(i) for i in (1, 2, 3, 4))

    r.feed(tagged(result(2, "a", "failure", job_id=202)))  # the culprit is most likely 1 or 2
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(1))]
    r.feed(replace(tagged(result(1, "a", None, job_id=201)), status="queued"))
    r.feed(tagged(result(3, "a", "failure", job_id=203)))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(1), sha(2)) and breakage.wanted == ()

    r.feed(tagged(result(1, "a", "success", job_id=201)))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(2),)
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(RERUN, sha(2))]


def test_two_bisect_runs_at_once_wait_for_the_lower_one_when_the_upper_one_fails_first() -> None:
    """Commit 3's run fails while 2's still runs: the culprit is 1, 2 or 3, but 1 is worth a
    run only if 2 fails too. It waits for 2, which passes: 3 runs in all, not 4."""
    r = tracker(bisect_at_once=2)
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(1, 4), result(4, "a", "failure", job_id=104))
    r.feed(push(5, 6), result(5, "a", "failure", job_id=105), result(6, "a", "failure", job_id=106))
    for i in (2, 3):
        r.feed(replace(tagged(result(i, "a", None, job_id=200 + i)), status="queued"))

    r.feed(tagged(result(3, "a", "failure", job_id=203)))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(1), sha(2), sha(3)) and breakage.wanted == ()
    assert breakage.status is CulpritStatus.CONFIRMING

    r.feed(tagged(result(2, "a", "success", job_id=202)))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3),)
    assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(3), 203)]


def test_two_bisect_runs_at_once_that_pass_leave_the_first_failure_alone() -> None:
    r = tracker(bisect_at_once=2)
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(1, 4), result(4, "a", "failure", job_id=104))
    r.feed(push(5, 6), result(5, "a", "failure", job_id=105), result(6, "a", "failure", job_id=106))
    r.feed(*(tagged(result(i, "a", "success", job_id=200 + i)) for i in (2, 3)))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(4),)  # commit 1 was never run: below a pass, no suspect
    assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(4), 104)]


def test_a_range_with_a_push_not_delivered_yet_is_neither_bisected_nor_labelled() -> None:
    """Commits 1-2 were pushed, but their push has not arrived: 3's parent is known only by
    its sha. Runs on 3 would be spent beside the culprit, and labels put on the wrong PRs."""
    r = tracker()
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(3, 4), result(4, "a", "failure", job_id=104))
    r.feed(push(5, 6), result(5, "a", "failure", job_id=105), result(6, "a", "failure", job_id=106))
    decision = latest(r)
    (breakage,) = decision.breakages
    assert breakage.suspects == (sha(3), sha(4))
    assert breakage.wanted == () and breakage.status is CulpritStatus.CONFIRMING
    assert decision.provisional  # no pull request labelled yet

    r.feed(push(1, 2))  # the missing push arrives: the range is whole
    decision = latest(r)
    (breakage,) = decision.breakages
    assert breakage.suspects == tuple(sha(i) for i in (1, 2, 3, 4))
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(i)) for i in (2, 3, 1)]
    assert not decision.provisional


def test_many_untested_commits_are_halved_one_run_at_a_time() -> None:
    r = tracker()
    r.feed(push(0, 0), result(0, "a", "success"), push(1, 9), result(9, "a", "failure"))
    r.feed(push(10, 11), result(10, "a", "failure"), result(11, "a", "failure"))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(5))]


def test_no_bisection_past_a_failure_whose_rerun_is_running() -> None:
    """Commit 2's failure is being rerun (someone asked): it is pending, so the first
    failure seems to be 4, but 2 most likely fails again: nothing is bisected meanwhile."""
    r = tracker(bisect_tag=TAG)
    r.feed(push(0, 6), result(0, "a", "success"), result(2, "a", "failure", job_id=12))
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (4, 5, 6)))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(1))]
    r.feed(replace(result(2, "a", None, attempt=2, job_id=22), status="queued"))
    (breakage,) = latest(r).breakages
    assert breakage.first_failure == sha(4) and breakage.wanted == ()
    r.feed(result(2, "a", "failure", attempt=2, job_id=22))  # it failed again
    (breakage,) = latest(r).breakages
    assert breakage.first_failure == sha(2)
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(1))]


def test_confirm_first_wants_the_rerun_beside_the_bisection() -> None:
    """With `culprit.confirm_before_filing` the alert waits for the rerun: it goes at once."""
    r = tracker(confirm_first=True)
    r.feed(push(0, 0), result(0, "a", "success"), push(1, 9), result(9, "a", "failure"))
    r.feed(push(10, 11), result(10, "a", "failure"), result(11, "a", "failure"))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(5)), (RERUN, sha(9))]


def test_a_streak_of_flakes_is_withdrawn_when_the_confirmation_rerun_passes() -> None:
    r = tracker()
    r.feed(push(0, 3), result(0, "a", "success"))
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (1, 2, 3)))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(1), 11)]
    r.feed(result(1, "a", "success", attempt=2, job_id=21))
    assert r.decisions[-1].kind is DecisionKind.CLOSE
    assert r.decisions[-1].reason is CloseReason.FLAKY


def test_an_alert_that_recovers_before_its_bisection_still_wants_its_rerun() -> None:
    """Bisection goes before the confirmation rerun; if the streak recovers first, the
    rerun is still wanted at once (nothing is bisected any more, and the bisection run still
    running is not waited for), and when it passes the closed alert is withdrawn as chance
    failures."""
    r = tracker()
    r.feed(push(0, 0), result(0, "a", "success"), push(1, 4))  # commit 1 never ran
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (2, 3, 4)))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(1))]
    r.feed(replace(tagged(result(1, "a", None, job_id=201)), status="queued"))  # it runs
    r.feed(push(5, 5), result(5, "a", "success"))
    closed = r.decisions[-1]
    assert closed.kind is DecisionKind.CLOSE and closed.reason is CloseReason.RECOVERED
    (breakage,) = closed.breakages
    assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(2), 12)]
    r.feed(result(2, "a", "success", attempt=2, job_id=22))
    assert r.decisions[-1].kind is DecisionKind.CLOSE
    assert r.decisions[-1].reason is CloseReason.FLAKY


def test_a_result_known_only_for_the_run_is_rerun_by_run() -> None:
    r = tracker()
    r.feed(push(0, 3), result(0, "", "success", run=500))
    r.feed(*(result(i, "", "failure", run=500 + i) for i in (1, 2, 3)))
    (breakage,) = latest(r).breakages
    (probe,) = breakage.wanted
    assert (probe.kind, probe.job_id, probe.run_id) == (RERUN, 0, 501)


def test_nothing_is_wanted_when_confirmation_and_bisection_are_off() -> None:
    r = tracker(confirm=False, bisect_tag="")
    r.feed(push(0, 0), result(0, "a", "success"), push(1, 4), result(4, "a", "failure"))
    r.feed(push(5, 6), result(5, "a", "failure"), result(6, "a", "failure"))
    (breakage,) = latest(r).breakages
    assert breakage.wanted == () and breakage.status is CulpritStatus.SUSPECTED


def test_a_bisection_result_on_a_tag_of_another_commit_counts_for_nothing() -> None:
    r = tracker()
    r.feed(push(0, 4), result(0, "a", "success"))
    stray = replace(result(2, "a", "failure"), branch=TAG.replace("{sha}", sha(3)))
    assert r.feed(stray) == []
    assert r.tracker.group_status("main", "ci").jobs[0].streak == 0


def test_jobs_with_disjoint_blamelists_are_separate_breakages() -> None:
    r = tracker()
    r.feed(push(0, 9))
    rows = {"a": "PFFFFFFFFF", "b": "PPPPPPFFFF"}
    for i in range(10):
        for job, row in rows.items():
            r.feed(result(i, job, "success" if row[i] == "P" else "failure"))
    decision = latest(r)
    assert [b.jobs for b in decision.breakages] == [
        (JobKey("trunk", "a"),),
        (JobKey("trunk", "b"),),
    ]
    assert [b.suspects for b in decision.breakages] == [(sha(1),), (sha(6),)]
    assert decision.suspects == (sha(1), sha(6))


def test_the_culprit_settings_reach_the_tracker() -> None:
    from bot.config.files import load_text

    text = "groups: {ci: {workflows: [trunk]}}\nculprit: {confirm: off, bisect_tag: ''}\n"
    off = load_text(text, "test").tracker_config("main")
    assert (off.confirm, off.bisect_tag) == (False, "")
    default = load_text("groups: {ci: {workflows: [trunk]}}\n", "test").tracker_config("main")
    assert (default.confirm, default.bisect_tag) == (True, TAG)


def test_no_bisection_below_a_pass_whose_run_is_asked_to_run_again() -> None:
    """Commit 2 passed; then a new attempt of its run was asked for (GitHub's "re-run failed
    jobs" of its other jobs), which has not named its jobs yet: 2 is pending again, and the
    range reaches down to 1. But 2 most likely passes again: only 3 is worth a run."""
    r = tracker(bisect_tag=TAG)
    r.feed(push(0, 6), result(0, "a", "success"), result(2, "a", "success"))
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (4, 5, 6)))
    (breakage,) = latest(r).breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(3))]
    r.feed(replace(result(2, "", None, attempt=2), status="requested"))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == tuple(sha(i) for i in (1, 2, 3, 4))  # (pending, as the rule says)
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(BISECT, sha(3))]
    r.feed(replace(result(2, "b", None, attempt=2), status="queued"))  # it reruns another job
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3), sha(4))


def test_a_first_failure_where_the_breakages_shards_passed_has_the_commits_above_it_run() -> None:
    """Pushes of a stack, tested on their last commit: shard 1 of a suite fails by chance at 3
    (shard 2 passes there); from the culprit, 5, both shards fail at 6, 9 and 12. The key's
    streak starts at 3, but the shard that fails at 6 and 9 passed there: 3 looks like chance,
    and the suspects are the commits above it up to 6 (the blamelist up to 3 alone would hold
    no culprit, and shard 2 passed at 3); those between 3 and 6 are run, and not 1 and 2."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker(bisect_tag=TAG)
    r.feed(push(0, 0), result(0, one, "success", job_id=1), result(0, two, "success", job_id=2))
    for top in (3, 6, 9, 12):
        r.feed(push(top - 2, top))
        r.feed(result(top, one, "failure", job_id=10 * top + 1))
        r.feed(result(top, two, "failure" if top > 5 else "success", job_id=10 * top + 2))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == tuple(sha(i) for i in range(4, 7))
    assert sorted(p.sha for p in breakage.wanted if p.kind is BISECT) == [sha(i) for i in (4, 5)]

    r.feed(tagged(result(4, one, "success", job_id=401)), tagged(result(4, two, "success")))
    r.feed(tagged(result(5, one, "failure", job_id=501)), tagged(result(5, two, "failure")))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(5),) and breakage.culprit == sha(5)
    # 4 passed: 3 is below the range now, and 5, its first failure, is rerun.
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(RERUN, sha(5))]
    assert breakage.status is CulpritStatus.CONFIRMING


def test_a_chance_failure_of_one_shard_on_the_culprits_parent_leaves_the_culprit_alone() -> None:
    """Every commit runs both shards. Shard 1 fails by chance at 3; from the culprit, 4, both
    shards fail. The streak starts at 3, but shard 2, which fails at 4 and 5, passed there:
    the culprit alone is suspected (the reference says the same). 3 is rerun first (4, rerun,
    would be pending meanwhile and no longer show it); once 4 has failed on two attempts it
    is confirmed: shard 2 passed at its parent, and nothing more is rerun."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker()
    facts: list[Push | JobResult] = [push(0, 6)]
    for i in range(7):
        facts.append(result(i, one, "success" if i < 3 else "failure", job_id=10 * i + 1))
        facts.append(result(i, two, "success" if i < 4 else "failure", job_id=10 * i + 2))
    r.feed(*facts)
    decision = latest(r)
    assert decision.suspects == (sha(4),)
    (job,) = decision.jobs
    assert job.first_failing_sha == sha(3) and job.blamelist == (sha(4),)
    (breakage,) = decision.breakages
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(RERUN, sha(3))]
    assert breakage.status is CulpritStatus.CONFIRMING
    order = [sha(i) for i in range(7)]
    results = [f for f in facts if isinstance(f, JobResult)]
    judged = judge(order, results, GroupRule("ci", threshold=3))
    assert [order[i] for i in judged.suspects] == [sha(4)]

    r.feed(result(4, two, "failure", attempt=2, job_id=43))
    (breakage,) = latest(r).breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == sha(4)
    assert breakage.wanted == ()
    # The evidence names the shard that passed on the parent, not the key that failed there.
    parent = next(e for e in breakage.evidence if e.sha == sha(3))
    assert parent.key.job == two and parent.conclusions == ("success",)


def test_a_first_failure_the_breakage_did_not_reach_is_no_culprit_when_it_fails_again() -> None:
    """As above, but shard 1 fails again on its rerun at 3 (chance twice, or another fault of
    that shard): 3 failed on two attempts and its parent passed, yet shard 2, which fails from
    4 on, passed there. 3 is not confirmed as the culprit; the suspects stay 3 and 4."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker()
    r.feed(push(0, 6))
    for i in range(7):
        r.feed(result(i, one, "success" if i < 3 else "failure", job_id=10 * i + 1))
        r.feed(result(i, two, "success" if i < 4 else "failure", job_id=10 * i + 2))
    r.feed(result(3, one, "failure", attempt=2, job_id=32))
    decision = latest(r)
    (breakage,) = decision.breakages
    assert decision.suspects == (sha(3), sha(4))
    assert breakage.status is not CulpritStatus.CONFIRMED and breakage.culprit is None


def test_a_first_failure_of_one_shard_is_the_culprit_when_that_shard_alone_fails_above() -> None:
    """A breakage of shard 1 only, from 3: shard 2 passes everywhere, so nothing fails above 3
    that passed there, and 3 alone is suspected."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker()
    r.feed(push(0, 6))
    for i in range(7):
        r.feed(result(i, one, "success" if i < 3 else "failure", job_id=10 * i + 1))
        r.feed(result(i, two, "success", job_id=10 * i + 2))
    assert latest(r).suspects == (sha(3),)


def test_a_failure_of_most_shards_below_a_commit_still_running_ends_the_blamelist() -> None:
    """Both shards fail at 3, the culprit; 4 still runs; 5-7 fail. A lone failure below a
    running commit may be chance, but both shards of a suite failing at once are not: the
    suspects are 3 alone, as the reference says. Shard 1 failing alone there, where shard 2
    passed (which fails on 5 and 6), looks like chance: the breakage of shard 2 starts
    above it, and the suspects are provisional from 4 up to the streak (4-5) until 4
    reports, as they would be once 4 reports a failure (4 alone)."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"

    def history(both: bool) -> list[Push | JobResult]:
        facts: list[Push | JobResult] = [push(0, 7)]
        for i in (0, 1, 2, 3, 5, 6, 7):
            facts.append(result(i, one, "success" if i < 3 else "failure", job_id=10 * i + 1))
            second = "failure" if i > 3 or (both and i == 3) else "success"
            facts.append(result(i, two, second, job_id=10 * i + 2))
        facts.append(replace(result(4, one, None, job_id=41), status="queued"))
        return facts

    order = [sha(i) for i in range(8)]
    for both, suspects in ((True, (3,)), (False, (4, 5))):
        r = tracker()
        facts = history(both)
        r.feed(*facts)
        assert latest(r).suspects == tuple(sha(i) for i in suspects)
        results = [f for f in facts if isinstance(f, JobResult)]
        judged = judge(order, results, GroupRule("ci", threshold=3))
        assert judged.suspects == suspects


def test_the_suspects_above_a_chance_looking_failure_stay_while_a_bisect_run_goes() -> None:
    """Shard 1 failed once at 1 by chance, where shard 2 passed; 2 and 3 (a stack) never ran;
    shard 2 fails from 4 on. The suspects are 2-4, and the App tags 2 and 3. Their runs make
    2 and 3 pending, between the chance failure and the streak: the suspects stay 2-4 (they
    used to widen back to 1-4, the last pass, and more commits were tagged), in the engine
    as in the reference."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    facts: list[Push | JobResult] = [push(0, 7)]
    for i in (0, 1, 4, 5, 6, 7):
        facts.append(result(i, one, "failure" if i == 1 else "success", job_id=10 * i + 1))
        facts.append(result(i, two, "success" if i < 2 else "failure", job_id=10 * i + 2))
    order = [sha(i) for i in range(8)]
    r = tracker()
    r.feed(*facts)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(2), sha(3), sha(4))
    assert {p.sha for p in breakage.wanted if p.kind == BISECT} == {sha(2), sha(3)}
    running = [replace(result(i, one, None, job_id=10 * i + 1), status="queued") for i in (2, 3)]
    r.feed(*(tagged(f) for f in running))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(2), sha(3), sha(4))
    assert breakage.status is CulpritStatus.CONFIRMING and not breakage.wanted
    results = [f for f in facts if isinstance(f, JobResult)] + running
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (2, 3, 4)


def test_a_shard_that_passed_in_a_bisect_run_still_going_ends_the_suspects_below() -> None:
    """Both shards fail from 3 on (3 ends a stack of 1-3 that ran only at its top). The App
    tags 1 and 2. At 2 shard 1 has passed while shard 2 is still running: the breakage fails
    shard 1 from its culprit on, so the suspect is 3 alone and its confirmation rerun is
    asked now, not once the slowest shard at 2 reports (in the engine as in the reference)."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    facts: list[Push | JobResult] = [push(0, 0), push(1, 3), push(4, 4), push(5, 5)]
    for i in (0, 3, 4, 5):
        facts.append(result(i, one, "success" if i == 0 else "failure", job_id=10 * i + 1))
        facts.append(result(i, two, "success" if i == 0 else "failure", job_id=10 * i + 2))
    r = tracker(bisect_tag=TAG)
    r.feed(*facts)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(1), sha(2), sha(3))
    assert {p.sha for p in breakage.wanted if p.kind == BISECT} == {sha(1), sha(2)}
    at_two = [
        tagged(result(2, one, "success", job_id=21)),
        replace(tagged(result(2, two, None, job_id=22)), status="queued"),
    ]
    r.feed(*at_two)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3),)
    assert [(p.kind, p.sha) for p in breakage.wanted] == [(RERUN, sha(3))]
    order = [sha(i) for i in range(6)]
    results = [f for f in facts if isinstance(f, JobResult)] + at_two
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (3,)


def test_a_culprit_confirmed_on_one_shard_stays_confirmed_when_another_fails_later() -> None:
    """Shard 2 fails from 1 on, and failed again on its rerun at 1: 1 is confirmed. A later
    run at 1 (the App's tag, say) has shard 1 fail by chance as well, its newest failure:
    shard 2's two failed attempts still prove the culprit, and no rerun is asked again."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    facts: list[Push | JobResult] = [push(0, 0), push(1, 1), push(2, 2), push(3, 3)]
    for i in range(4):
        facts.append(result(i, one, "success", job_id=10 * i + 1))
        facts.append(result(i, two, "success" if i == 0 else "failure", job_id=10 * i + 2))
    facts.append(result(1, two, "failure", attempt=2, job_id=112))  # its rerun fails again
    r = tracker(bisect_tag=TAG)
    r.feed(*facts)
    (breakage,) = latest(r).breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == sha(1)
    later = [
        result(1, two, "failure", run=3001, job_id=212),
        result(1, one, "failure", run=3001, job_id=213),  # chance, and the newest
    ]
    r.feed(*later)
    (breakage,) = latest(r).breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == sha(1)
    assert breakage.wanted == ()
    assert breakage.evidence[0].conclusions == ("failure", "failure", "failure")
    order = [sha(i) for i in range(4)]
    results = [f for f in facts if isinstance(f, JobResult)] + later
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (1,)


def test_a_shard_that_failed_only_at_the_first_failure_passing_below_ends_nothing() -> None:
    """Shard 2 fails from 3 on; shard 1 failed at 3 too, by chance (it passes at 4 and 5).
    Shard 1 passing at 2 while shard 2 still runs there says nothing of the breakage: the
    suspects stay 1-3."""
    one, two, three = (f"test (default, {n}, 3, linux)" for n in (1, 2, 3))
    facts: list[Push | JobResult] = [push(0, 0), push(1, 3), push(4, 4), push(5, 5)]
    for i in (0, 3, 4, 5):
        facts.append(result(i, one, "failure" if i == 3 else "success", job_id=10 * i + 1))
        facts.append(result(i, two, "success" if i == 0 else "failure", job_id=10 * i + 2))
        facts.append(result(i, three, "success", job_id=10 * i + 3))
    r = tracker(bisect_tag=TAG)
    r.feed(*facts)
    at_two = [
        tagged(result(2, one, "success", job_id=21)),
        replace(tagged(result(2, two, None, job_id=22)), status="queued"),
        tagged(result(2, three, "success", job_id=23)),
    ]
    r.feed(*at_two)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(1), sha(2), sha(3))
    order = [sha(i) for i in range(6)]
    results = [f for f in facts if isinstance(f, JobResult)] + at_two
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (1, 2, 3)


def test_a_first_failure_of_the_same_shards_as_above_has_nothing_above_it_run() -> None:
    """The same stacks, where both shards fail at 3 as at 6: 3 is most likely the first
    failure of the breakage, and only the untested commits below it are run."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker(bisect_tag=TAG)
    r.feed(push(0, 0), result(0, one, "success", job_id=1), result(0, two, "success", job_id=2))
    for top in (3, 6, 9):
        r.feed(push(top - 2, top))
        r.feed(result(top, one, "failure", job_id=10 * top + 1))
        r.feed(result(top, two, "failure", job_id=10 * top + 2))
    (breakage,) = latest(r).breakages
    assert sorted(p.sha for p in breakage.wanted if p.kind is BISECT) == [sha(1), sha(2)]


def test_nothing_above_a_chance_looking_first_failure_runs_while_a_push_is_missing() -> None:
    """As above, but the push of commit 4 has not arrived: 5 is known, its parent only by its
    sha. The culprit may be 4: a run on 5 alone could spend the budget away from it."""
    one, two = "test (default, 1, 2, linux)", "test (default, 2, 2, linux)"
    r = tracker(bisect_tag=TAG)
    r.feed(push(0, 0), result(0, one, "success", job_id=1), result(0, two, "success", job_id=2))
    r.feed(push(1, 3), result(3, one, "failure", job_id=31), result(3, two, "success", job_id=32))
    for top in (6, 9, 12):
        r.feed(push(5 if top == 6 else top - 2, top))  # (commit 4's push is late)
        r.feed(result(top, one, "failure", job_id=10 * top + 1))
        r.feed(result(top, two, "failure", job_id=10 * top + 2))
    (breakage,) = latest(r).breakages
    assert breakage.wanted == ()  # (1 and 2 are below 3, where shard 2 passed: not suspects)
    assert breakage.status is CulpritStatus.CONFIRMING

    r.feed(push(4, 4))  # it arrives: 4 and 5 are run
    (breakage,) = latest(r).breakages
    assert breakage.suspects == tuple(sha(i) for i in range(4, 7))
    assert sorted(p.sha for p in breakage.wanted if p.kind is BISECT) == [sha(4), sha(5)]


def test_an_alert_that_recovers_while_its_culprits_rerun_runs_reruns_nothing_above_it() -> None:
    """The culprit's confirmation rerun is running when the alert recovers: its commit is
    pending, so the first failure seems to be the next one, but the rerun most likely fails
    again; nothing is rerun above it meanwhile (a run spent for nothing). What the rerun
    says then settles the closed alert: a culprit confirmed, or (it passed) the next
    failure's rerun wanted, so chance failures are still told apart."""
    for second, settled in (("failure", CulpritStatus.CONFIRMED), ("success", None)):
        r = tracker()
        r.feed(push(0, 4), result(0, "a", "success"))
        r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (1, 2, 3, 4)))
        (breakage,) = latest(r).breakages
        assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(1), 11)]
        r.feed(replace(result(1, "a", None, attempt=2, job_id=21), status="queued"))
        r.feed(push(5, 5), result(5, "a", "success"))
        closed = r.decisions[-1]
        assert closed.kind is DecisionKind.CLOSE and closed.reason is CloseReason.RECOVERED
        (breakage,) = closed.breakages
        assert breakage.wanted == ()
        r.feed(result(1, "a", second, attempt=2, job_id=21))
        (breakage,) = r.decisions[-1].breakages
        if settled is not None:
            assert breakage.status is settled and breakage.culprit == sha(1)
        else:
            assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(2), 12)]


def test_an_alert_whose_failures_passed_on_rerun_is_withdrawn_while_newer_commits_run() -> None:
    """Three chance failures in a row, each passing on its rerun: the alert is withdrawn as
    soon as the last rerun passes, though newer commits are still running (on a busy trunk
    some always are); while a rerun, or the next result above the failures, is still
    coming, it waits (the streak may come back)."""
    r = tracker()
    r.feed(push(0, 6), result(0, "a", "success"))
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (1, 2, 3)))
    assert r.decisions[-1].kind is not DecisionKind.CLOSE
    r.feed(replace(result(4, "a", None, job_id=14), status="queued"))  # the next commit
    r.feed(*(replace(result(i, "a", None, job_id=10 + i), status="queued") for i in (5, 6)))
    for i in (1, 2):
        r.feed(replace(result(i, "a", None, attempt=2, job_id=20 + i), status="queued"))
        r.feed(result(i, "a", "success", attempt=2, job_id=20 + i))
        assert r.decisions[-1].kind is not DecisionKind.CLOSE  # 3 and 4 may fail again
    r.feed(replace(result(3, "a", None, attempt=2, job_id=23), status="queued"))
    assert r.decisions[-1].kind is not DecisionKind.CLOSE
    r.feed(result(3, "a", "success", attempt=2, job_id=23))
    closed = r.decisions[-1]
    assert closed.kind is DecisionKind.CLOSE and closed.reason is CloseReason.FLAKY


def test_a_failure_that_failed_again_on_its_rerun_ends_the_blamelist_below_a_running_one() -> None:
    """Commit 1's job failed and failed again on its rerun: no chance failure. Commit 2 is
    still running (a bisect run of another alert, say) and splits it from the row of three
    above it (3-5); the blamelist ends at 1 all the same, in the engine as in the reference,
    and the culprit stays confirmed (the job passed at 0) instead of going back to a range
    of three and runs on the commits between."""
    r = tracker(bisect_tag=TAG)
    facts: list[Push | JobResult] = [
        push(0, 5),
        result(0, "a", "success", job_id=10),
        result(1, "a", "failure", job_id=11),
        result(1, "a", "failure", attempt=2, job_id=21),
        replace(result(2, "a", None, job_id=12), status="queued"),
        *(result(i, "a", "failure", job_id=10 + i) for i in (3, 4, 5)),
    ]
    r.feed(*facts)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(1),)
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.wanted == ()
    order = [sha(i) for i in range(6)]
    results = [f for f in facts if isinstance(f, JobResult)]
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (1,)
    # Failed once only, the same failure may be chance: the blamelist runs to the row above.
    once = [f for f in results if not (f.head_sha == sha(1) and f.run_attempt == 2)]
    assert judge(order, once, GroupRule("ci", threshold=3)).suspects == (1, 2, 3)


def test_a_failure_above_where_the_alert_opened_does_not_hold_its_withdrawal() -> None:
    """The alert opened on 1-3 and took in a failure at 6 (4 and 5 did not run), just below a
    commit still running (7); when 1-3 pass on their reruns it is withdrawn at once: the
    failure at 6 alone is another streak's start, if anything (a newer commit is always
    running next to some chance failure on a busy trunk). While a failure it opened on is
    left, joined to the commit still running, it waits (3, 6 and 7 may be a streak)."""
    r = tracker()
    r.feed(push(0, 7), result(0, "a", "success"))
    r.feed(*(result(i, "a", "failure", job_id=10 + i) for i in (1, 2, 3)))
    r.feed(result(6, "a", "failure", job_id=16))
    r.feed(replace(result(7, "a", None, job_id=17), status="queued"))
    assert latest(r).streak == 4
    r.feed(result(1, "a", "success", attempt=2, job_id=21))
    r.feed(result(2, "a", "success", attempt=2, job_id=22))
    assert r.decisions[-1].kind is not DecisionKind.CLOSE
    r.feed(result(3, "a", "success", attempt=2, job_id=23))
    closed = r.decisions[-1]
    assert closed.kind is DecisionKind.CLOSE and closed.reason is CloseReason.FLAKY


def test_a_second_bisect_run_on_the_culprit_leaves_its_first_failure_standing() -> None:
    """The bisect run on 2 failed and the one on 1 passed: 2 is the suspect. Its confirmation
    rerun was refused (that run still ran other jobs), so the App asked a second run through
    the tag. While that new run goes, the first run's failure still stands (the latest attempt
    of each run counts): the suspect stays 2 alone, in the engine as in the reference (it
    used to read 2 as pending, and the suspects widened back to 2-3 until the run reported)."""
    r = tracker()
    facts: list[Push | JobResult] = [push(0, 0), result(0, "a", "success", job_id=100)]
    facts += [push(1, 3), result(3, "a", "failure", job_id=103)]
    facts += [push(4, 5), result(4, "a", "failure", job_id=104), result(5, "a", "failure")]
    facts += [tagged(result(1, "a", "success", job_id=201))]
    facts += [tagged(result(2, "a", "failure", job_id=202))]
    r.feed(*facts)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(2),)
    assert [(p.kind, p.sha, p.job_id) for p in breakage.wanted] == [(RERUN, sha(2), 202)]

    again = replace(tagged(result(2, "a", None, job_id=302)), run_id=70_002, status="queued")
    r.feed(again)
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(2),) and breakage.culprit == sha(2)
    assert breakage.status is CulpritStatus.CONFIRMING
    assert breakage.wanted == ()  # the second attempt is on its way: nothing asked again
    order = [sha(i) for i in range(6)]
    results = [f for f in facts if isinstance(f, JobResult)] + [again]
    assert judge(order, results, GroupRule("ci", threshold=3)).suspects == (2,)

    r.feed(replace(again, status="completed", conclusion="failure"))
    (breakage,) = latest(r).breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == sha(2)
    assert breakage.evidence[0].conclusions == ("failure", "failure")


def test_a_second_bisect_run_that_passes_makes_the_first_failure_a_flake() -> None:
    r = tracker()
    r.feed(push(0, 0), result(0, "a", "success", job_id=100))
    r.feed(push(1, 3), result(3, "a", "failure", job_id=103))
    r.feed(push(4, 5), result(4, "a", "failure", job_id=104), result(5, "a", "failure"))
    r.feed(tagged(result(1, "a", "success", job_id=201)))
    r.feed(tagged(result(2, "a", "failure", job_id=202)))
    r.feed(replace(tagged(result(2, "a", "success", job_id=302)), run_id=70_002))
    (breakage,) = latest(r).breakages
    assert breakage.suspects == (sha(3),)  # 2 passed on its second run
