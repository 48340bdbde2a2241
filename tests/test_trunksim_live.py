"""The generated trunk is live: runs asked for while it is fed (reruns, bisect tags) join
its deliveries in arrival order and follow its truth; the planned history stays as it was.
Culprit confirmation is scored per breakage from the App's decisions and requests.
"""

from __future__ import annotations

from typing import Any

from bot.sim.quality import (
    Alert,
    TrunkProber,
    alerts_of,
    breakage_reports,
    breakage_table,
    culprit_row,
    culprit_score,
    final_conclusions,
)
from bot.sim.trunksim import WORKFLOWS, Knobs, Trunk, normalized
from bot.tracker.model import (
    BISECT,
    RERUN,
    Breakage,
    CloseReason,
    CulpritStatus,
    Decision,
    DecisionKind,
    FailingJob,
    JobKey,
    Probe,
)

# One workflow of three suites: small and quick, every result decided by the truth alone.
SMALL = {
    "commits": 40,
    "breakages": 1,
    "outages": 0,
    "flake_rate": 0.0,
    "rerun_rate": 0.0,
    "supersede_rate": 0.0,
    "workflows": {"pull": WORKFLOWS["pull"]},
}
TAG = "trunkwatch/bisect/{}"


def test_reruns_and_tag_runs_join_the_feed_in_order_and_follow_the_truth() -> None:
    trunk = Trunk(Knobs(seed=5, **SMALL))
    b = trunk.breakages[0]
    assert b.kind == "suite"
    planned = [(e.at, e.kind, e.data) for e in trunk.events]
    culprit, parent = trunk.shas[b.culprit], trunk.shas[b.culprit - 1]
    failed: dict[str, Any] = {}
    asked_at = 0.0
    minutes: list[float] = []
    seen: list[tuple[str, str, dict[str, Any]]] = []  # (event, action, run or job) asked for
    for minute, delivery in trunk.deliveries():
        minutes.append(minute)
        payload = delivery["payload"]
        run = payload.get("workflow_run")
        if not failed and run and run["head_sha"] == culprit and run["conclusion"] == "failure":
            listed = trunk.run_jobs(run["id"], 1, minute)
            failed = next(j for j in listed if j["conclusion"] == "failure")
            assert trunk.rerun_job(failed["id"], minute)
            assert not trunk.rerun_job(failed["id"], minute)  # its new attempt is running
            assert trunk.tag_run(parent, TAG.format(parent), minute)
            assert trunk.tag_run(culprit, TAG.format(culprit), minute)
            asked_at = minute
            continue
        thing = payload.get("workflow_job") or run or {}
        if failed and (thing.get("run_attempt") == 2 or thing.get("head_branch") != "main"):
            assert minute >= asked_at
            seen.append((delivery["event"], payload["action"], thing))

    assert minutes == sorted(minutes)
    assert failed, "the breakage never failed at its culprit"
    # The rerun: a second attempt of that one job, announced, failing again.
    runs = [(a, t) for e, a, t in seen if e == "workflow_run" and t["run_attempt"] == 2]
    assert [a for a, _ in runs] == ["requested", "in_progress", "completed"]
    assert runs[-1][1]["conclusion"] == "failure" and runs[-1][1]["id"] == failed["run_id"]
    jobs = [(a, t) for e, a, t in seen if e == "workflow_job" and t["run_attempt"] == 2]
    assert {t["name"] for _, t in jobs} == {failed["name"]}
    assert jobs[0][0] == "queued" and jobs[-1][1]["conclusion"] == "failure"
    assert jobs[-1][1]["id"] != failed["id"]
    # The tag runs: new runs of the workflow, on the tag, passing at the parent and failing
    # exactly the breakage's jobs at the culprit.
    planned_runs = {d["run_id"] for _, kind, d in planned if kind == "run"}
    for sha in (parent, culprit):
        mine = [(e, t) for e, _, t in seen if t["head_sha"] == sha and t["head_branch"] != "main"]
        assert {t["head_branch"] for _, t in mine} == {TAG.format(sha)}
        done = [t for e, t in mine if e == "workflow_job" and t["status"] == "completed"]
        assert len(done) == len([j for s in WORKFLOWS["pull"] for j in s.jobs()])
        failing = {t["name"] for t in done if t["conclusion"] == "failure"}
        assert failing == (set(b.jobs) if sha == culprit else set())
        run_ids = {t["id"] for e, t in mine if e == "workflow_run"}
        assert len(run_ids) == 1 and not run_ids & planned_runs
        (run_id,) = run_ids
        listed = trunk.run_jobs(run_id, 1, minutes[-1])
        assert {j["name"] for j in listed} == {t["name"] for t in done}
        assert all(j["head_branch"] == TAG.format(sha) for j in listed)
    # The planned history, and the truth scored on it, are as they were.
    again = Trunk(Knobs(seed=5, **SMALL))
    assert [(e.at, e.kind, e.data) for e in trunk.events] == planned
    assert final_conclusions(trunk) == final_conclusions(again)
    assert [r.kind for r in trunk.requests] == ["rerun_job", "rerun_job", "tag", "tag"]
    assert [r.ok for r in trunk.requests] == [True, False, True, True]


def test_a_run_asked_for_draws_the_same_whatever_was_asked_before_it() -> None:
    """Two versions of the App fed one trunk differ by what they ask, not by chance: a tag
    run's chance failures and durations, and a rerun's, are the same whether or not other
    runs were asked for before them (each draws from a stream of its own)."""
    noisy = SMALL | {"flake_rate": 0.3}  # (most jobs of a run fail by chance somewhere)

    def asked(first: bool) -> list[tuple[Any, ...]]:
        trunk = Trunk(Knobs(seed=5, **noisy))
        if first:  # another App asks for more runs first
            for i in (3, 7, 11):
                assert trunk.tag_run(trunk.shas[i], TAG.format(trunk.shas[i]), 100.0)
        sha = trunk.shas[20]
        assert trunk.tag_run(sha, TAG.format(sha), 200.0)
        (run_id,) = trunk.requests[-1].run_ids
        job = next(j for j, (r, _) in trunk._job_ids.items() if r == run_id)
        assert trunk.rerun_job(job, 400.0)
        return [
            (e.at, e.kind, e.data["status"], e.data.get("conclusion"), e.data.get("name"))
            for e in trunk.injected
            if e.data["index"] == 20
        ]

    alone = asked(first=False)
    assert any(conclusion == "failure" for *_, conclusion, _ in alone)  # chance failures
    assert asked(first=True) == alone


def test_a_rerun_someone_requested_already_stands_for_the_apps() -> None:
    trunk = Trunk(Knobs(seed=5, **(SMALL | {"rerun_rate": 1.0})))
    run_id = 0
    for minute, delivery in trunk.deliveries():
        run = delivery["payload"].get("workflow_run")
        if run and run["status"] == "completed" and run["conclusion"] == "failure":
            run_id = run["id"]
            assert trunk.rerun_failed(run_id, minute)  # its rerun is due: no third attempt
            break
    assert trunk.requests[-1].covered
    assert len(trunk.runs[run_id].attempts) == 2
    assert not trunk.rerun_job(12345, 0.0)  # no such job
    assert not trunk.rerun_failed(12345, 0.0)  # no such run
    assert not trunk.tag_run("0" * 40, "t", 0.0)  # no such commit


def test_a_rerun_of_failed_test_jobs_queues_them_at_once() -> None:
    """GitHub's "re-run failed jobs" queues the failed jobs when the new attempt starts:
    their build passed before and is not run again, so nothing waits for it."""
    trunk = Trunk(Knobs(seed=5, **(SMALL | {"rerun_rate": 1.0, "flake_rate": 0.05})))
    started: dict[tuple[int, int], float] = {}
    queued: dict[tuple[int, int], list[tuple[float, str]]] = {}
    for event in trunk.events:
        d = event.data
        if d.get("attempt") != 2:
            continue
        if event.kind == "run" and d["status"] == "requested":
            started[d["run_id"], 2] = d["start"]
        elif event.kind == "job" and d["status"] == "queued":
            queued.setdefault((d["run_id"], 2), []).append((d["start"], d["name"]))
    tests_only = [k for k, jobs in queued.items() if all("build" not in n for _, n in jobs)]
    assert tests_only, "no rerun of failed test jobs on this trunk"
    for run in tests_only:
        assert all(at == started[run] for at, _ in queued[run])


async def test_the_prober_refuses_a_tag_twice_and_logs_every_request() -> None:
    trunk = Trunk(Knobs(seed=5, **SMALL))
    minute = 0.0
    prober = TrunkProber(trunk, lambda: minute)
    sha = trunk.shas[10]
    minute = 500.0
    assert await prober.create_tag(trunk.repo, TAG.format(sha), sha)
    assert not await prober.create_tag(trunk.repo, TAG.format(sha), sha)
    assert not await prober.create_tag("other/repo", "t", sha)
    await prober.delete_tag(trunk.repo, TAG.format(sha))
    assert await prober.create_tag(trunk.repo, TAG.format(sha), sha)
    assert not await prober.rerun_job(trunk.repo, 1)
    assert not await prober.rerun_failed_jobs(trunk.repo, 1)
    assert not await prober.rerun_job("other/repo", 1)
    assert not await prober.rerun_failed_jobs("other/repo", 1)
    assert [(r.kind, r.ok) for r in prober.log] == [
        ("tag", True),
        ("tag", False),
        ("tag", False),
        ("delete_tag", True),
        ("tag", True),
        ("rerun_job", False),
        ("rerun_failed", False),
        ("rerun_job", False),
        ("rerun_failed", False),
    ]
    assert all(r.minute == 500.0 for r in prober.log)
    assert prober.log[3].sha == sha


async def test_a_tag_is_gone_once_its_first_run_completed_as_the_app_deletes_it() -> None:
    """The App deletes a bisect tag when the first run on it completes; a trunk fed without
    a GitHub client does not see that call, so the prober takes the tag as gone from that
    moment: a second tag on the commit is refused while the first one's runs go, and
    starts new runs after."""
    trunk = Trunk(Knobs(seed=5, **SMALL))
    minute = 500.0
    prober = TrunkProber(trunk, lambda: minute)
    sha, tag = trunk.shas[10], TAG.format(trunk.shas[10])
    assert await prober.create_tag(trunk.repo, tag, sha)
    (request,) = [r for r in prober.log if r.kind == "tag"]
    first_done = min(trunk.runs[run_id].attempts[0].done for run_id in request.run_ids)
    minute = first_done - 0.5
    assert not await prober.create_tag(trunk.repo, tag, sha)
    minute = first_done + 0.5
    assert await prober.create_tag(trunk.repo, tag, sha)
    again = [r for r in prober.log if r.kind == "tag" and r.ok][-1]
    assert again.run_ids and not set(again.run_ids) & set(request.run_ids)


def test_runs_only_on_the_last_commit_of_each_push() -> None:
    trunk = Trunk(Knobs(seed=7, last_commit_only=True, stack=(2, 4), **SMALL))
    heads = {push[-1] for push in trunk.pushes}
    ran = {e.data["index"] for e in trunk.events if e.kind == "run"}
    assert ran == heads
    assert all(len(push) >= 2 for push in trunk.pushes[:-1])
    assert len(heads) < trunk.knobs.commits / 2


def decision(
    trunk: Trunk,
    kind: DecisionKind,
    alert: str,
    suspects: range | tuple[int, ...],
    first: int,
    **more: Any,
) -> Decision:
    b = trunk.breakages[0]
    shas = tuple(trunk.shas[i] for i in suspects)
    job = FailingJob(
        JobKey(b.workflow, normalized(sorted(b.jobs)[0])),
        3,
        trunk.shas[first],
        trunk.shas[suspects[0] - 1],
        "",
        shas,
    )
    return Decision(kind, alert, trunk.repo, "main", b.workflow, (job,), 3, shas, **more)


async def test_per_breakage_report_on_hand_built_decisions() -> None:
    trunk = Trunk(Knobs(seed=5, **SMALL))
    b = trunk.breakages[0]
    c, sha = b.culprit, trunk.shas[b.culprit]
    now = 0.0
    prober = TrunkProber(trunk, lambda: now)
    wanted = (Probe(BISECT, trunk.shas[c - 1], b.workflow), Probe(RERUN, sha, b.workflow))
    keys = (JobKey(b.workflow, normalized(sorted(b.jobs)[0])),)
    confirming = Breakage(keys, tuple(trunk.shas[c - 2 : c + 2]), trunk.shas[c + 1], wanted=wanted)
    confirmed = Breakage(keys, (sha,), sha, status=CulpritStatus.CONFIRMED, culprit=sha)
    first = c + 1
    suspects = range(c - 2, c + 2)
    opened = decision(
        trunk, DecisionKind.OPEN, "A", suspects, first, provisional=True, breakages=(confirming,)
    )
    labelled = decision(trunk, DecisionKind.UPDATE, "A", suspects, first)
    done = decision(trunk, DecisionKind.UPDATE, "A", (c,), first, breakages=(confirmed,))
    # Chance failures long before the breakage, withdrawn, "confirmed" wrongly.
    wrong = Breakage((), (trunk.shas[4],), trunk.shas[4], status=CulpritStatus.CONFIRMED,
                     culprit=trunk.shas[4])  # fmt: skip
    chance = decision(trunk, DecisionKind.OPEN, "B", (3, 4), 4, breakages=(wrong,))
    withdrawn = decision(trunk, DecisionKind.CLOSE, "B", (3, 4), 4, reason=CloseReason.FLAKY)
    taken = [(50.0, 5, chance), (60.0, 6, withdrawn), (1100.0, c + 3, opened)]
    taken += [(1130.0, c + 4, labelled), (1190.0, c + 6, done)]
    now = 1110.0  # while A is open: the probes it wanted, and one more rerun of its job
    assert await prober.create_tag(trunk.repo, TAG.format(trunk.shas[c - 1]), trunk.shas[c - 1])
    job_id = next(iter(trunk.runs[5_000_000 + (c + 1) * 10].attempts[0].jobs.values()))[0]
    assert await prober.rerun_job(trunk.repo, job_id)
    assert await prober.create_tag(trunk.repo, "elsewhere", trunk.shas[2])  # not A's commit
    now = 1200.0  # after it confirmed: a revert of the culprit
    assert await prober.revert(trunk.repo, sha)

    alerts = alerts_of(trunk, taken, max_prs=5)
    (report,) = breakage_reports(trunk, alerts, taken, max_runs=6)
    assert report.alert == "A"
    assert report.first_labelled == tuple(range(c - 2, c + 2))
    assert report.final_labelled == (c,)
    assert report.exact and report.why == ""
    assert (report.reruns, report.tags, report.reverts) == (1, 1, 1)
    assert report.minutes_to_confirm == 90.0
    score = culprit_score(trunk, alerts, [report])
    assert (score.exact_final, score.breakages, score.confirmed) == (1, 1, 1)
    assert score.runs == [2]
    assert score.wrong_confirmed == 1  # B's
    # An alert on chance failures before the culprit, which A's job joined (its recovery, in
    # trunk order before the culprit, not known yet) and which confirmed A's culprit: a
    # real culprit, of a job it showed failing; one that showed only failures before the
    # culprit and confirmed it would be wrong.
    key = f"{b.workflow} / {normalized(sorted(b.jobs)[0])}"
    joined = Alert(b.workflow, 1100.0, c + 3, {c - 3}, {key}, recovered_at=c - 2)
    joined.seen, joined.confirmed = {(key, c - 3): c - 2, (key, c): c + 3}, {c: 1150.0}
    assert culprit_score(trunk, [joined], []).wrong_confirmed == 0
    joined.seen = {(key, c - 3): c - 2}
    assert culprit_score(trunk, [joined], []).wrong_confirmed == 1
    assert (score.withdrawn_flaky, score.left_standing) == (1, 0)
    assert (score.reverts, score.wrong_reverts) == (1, 0)
    assert f"| {c} | {b.fix} |" in breakage_table([report])

    # The same alert without its last decision: labelled, unconfirmed; and a budget spent.
    alerts = alerts_of(trunk, taken[:4], max_prs=5)
    (report,) = breakage_reports(trunk, alerts, taken[:4], max_runs=6)
    assert report.why == "unconfirmed" and report.minutes_to_confirm is None
    (report,) = breakage_reports(trunk, alerts, taken[:4], max_runs=2)
    assert report.why == "budget spent"
    # Recovered while its culprit was a suspect, the culprit confirmed on the closed issue.
    over = decision(trunk, DecisionKind.CLOSE, "A", suspects, first, reason=CloseReason.RECOVERED)
    late_confirmed = decision(trunk, DecisionKind.CLOSE, "A", (c,), first,
                              reason=CloseReason.RECOVERED, breakages=(confirmed,))  # fmt: skip
    settled = [*taken[:4], (1150.0, c + 5, over), (1400.0, c + 9, late_confirmed)]
    alerts = alerts_of(trunk, settled, max_prs=5)
    (report,) = breakage_reports(trunk, alerts, settled, max_runs=6)
    assert report.why == "confirmed after the recovery" and report.minutes_to_confirm == 300.0
    assert report.final_labelled == tuple(suspects) and report.named_exact
    assert not culprit_score(trunk, alerts, [report]).confirmed_open
    # Never labelled (provisional until it ended), or labelled without the culprit.
    alerts = alerts_of(trunk, taken[:3], max_prs=5)
    (report,) = breakage_reports(trunk, alerts, taken[:3], max_runs=6)
    assert report.why == "range too wide" and report.final_labelled is None
    late = decision(trunk, DecisionKind.UPDATE, "A", (c + 1,), first)
    alerts = alerts_of(trunk, [*taken[:3], (1130.0, c + 4, late)], max_prs=5)
    (report,) = breakage_reports(trunk, alerts, [*taken[:3], (1130.0, c + 4, late)], max_runs=6)
    assert report.why == "wrong suspects" and report.final_labelled == (c + 1,)
    # No decisions at all (the tracker confirming nothing yet): no alert, no confirmation.
    (report,) = breakage_reports(trunk, [], [], max_runs=6)
    assert report.why == "no alert" and report.alert == ""
    row = culprit_row("x", culprit_score(trunk, [], [report]))
    assert "| 0/1 | 1 | 0 | 0 | 0 | 0 | 0 | 0/1 | — | no confirmation |" in row
