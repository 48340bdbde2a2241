"""Who broke it, end to end over real HTTP: the App asks the simulated GitHub for bisect tags
and reruns, the simulated CI runs them by the scenario's truth and delivers their webhooks
to the App, and the alert issue ends naming the confirmed culprit, whose PR alone keeps the
suspect label (issue 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sim.demo import default_config_text
from bot.sim.history import INDUCTOR_JOBS, Scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.test_end_to_end import SECRET, SUSPECT_LABEL, App, Trunk, running_app

JOB = INDUCTOR_JOBS[1]
CULPRIT = 3  # commits 2, 3 and 4 never ran their workflows (superseded): 3 broke the job
UNTESTED = (2, 3, 4)


def scenario() -> Scenario:
    return Scenario(failures={("inductor", JOB): set(range(CULPRIT, 12))}, commits=12)


def with_ci(sim: SimulatedGitHub, trunk: Trunk) -> None:
    index = {trunk.history.commit_sha(i): i for i in range(trunk.scenario.commits)}

    def truth(sha: str, workflow: str, job: str, attempt: int) -> str:
        i = index[sha]
        if workflow == "inductor" and job == JOB and i in trunk.scenario.failures[(workflow, job)]:
            return "failure"
        return "success"

    workflows = {name: list(jobs) for name, jobs in trunk.scenario.workflows.items()}
    sim.set_ci(trunk.repo, workflows, truth)


async def settle(sim: SimulatedGitHub, app: App) -> None:
    """Until the App asks for no more runs: each run's results may make it ask for another."""
    for _ in range(20):
        before = len(sim.requests_to("POST", "*"))
        await sim.ci_settle()
        await sim.hooks.settle()
        await app.drained()
        if len(sim.requests_to("POST", "*")) == before:
            return
    raise AssertionError("the App kept asking for runs")


async def test_bisection_and_a_rerun_confirm_a_culprit_that_never_ran(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk = Trunk(sim, scenario())
    with_ci(sim, trunk)
    repo, sha = trunk.repo, trunk.history.commit_sha
    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        deliveries = [
            d
            for i in range(8)
            for d in trunk.history.commit_deliveries(i)
            if i not in UNTESTED or d["event"] == "push"
        ]
        await app.send(deliveries)
        await settle(sim, app)

        tags = [r.json_body["ref"] for r in sim.requests_to("POST", f"/repos/{repo}/git/refs")]
        # The three commits that never ran are run at once, the middle one first.
        assert tags == [f"refs/tags/trunkwatch/bisect/{sha(i)}" for i in (CULPRIT, 4, 2)]
        assert sim.tags(repo) == {}  # each deleted once its run completed
        reruns = sim.requests_to("POST", f"/repos/{repo}/actions/jobs/*/rerun")
        assert len(reruns) == 1  # at the culprit, whose bisection run failed once

        [issue] = trunk.alert_issues()
        body = issue.body or ""
        assert f"**Culprit: [`{sha(CULPRIT)[:7]}`]" in body
        assert "— confirmed**" in body
        assert "failure, failure" in body  # the evidence: two attempts at the culprit
        assert "4 runs asked for" in body
        culprit_pr = trunk.pr(CULPRIT)
        assert sim.labels_of(repo, culprit_pr) == [SUSPECT_LABEL]
        for other in (5, 4):  # labelled while suspected, cleared as the range narrowed
            assert SUSPECT_LABEL not in sim.labels_of(repo, trunk.pr(other))


async def test_a_streak_of_flakes_is_withdrawn_by_the_confirmation_rerun(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk, deliveries = flaky_trunk(sim, set(), wait=False)  # first attempts only: not broken
    repo = trunk.repo
    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        await app.send(deliveries)
        await settle(sim, app)
        [issue] = trunk.alert_issues()
        assert (issue.state, issue.state_reason) == ("closed", "not_planned")
        assert len(sim.requests_to("POST", f"/repos/{repo}/actions/jobs/*/rerun")) >= 1


def flaky_trunk(
    sim: SimulatedGitHub, failures: set[int], wait: bool = True
) -> tuple[Trunk, list[dict[str, Any]]]:
    """Commits 3, 4 and 5 fail a job on their first attempt; `failures`: where its reruns
    fail too (the truth). `wait`: the config waits for the confirmation before filing."""
    trunk = Trunk(sim, Scenario(failures={("inductor", JOB): {3, 4, 5}}, commits=8))
    deliveries = [d for i in range(6) for d in trunk.history.commit_deliveries(i)]
    with_runs(sim, trunk, range(6))
    trunk.scenario.failures[("inductor", JOB)] = failures
    with_ci(sim, trunk)
    if wait:
        config = default_config_text() + "culprit:\n  confirm_before_filing: true\n"
        sim.set_file(trunk.repo, ".github/trunkwatch.yml", config)
    return trunk, deliveries


async def test_confirm_before_filing_files_nothing_for_a_streak_of_flakes(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk, deliveries = flaky_trunk(sim, set())
    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        await app.send(deliveries)
        await settle(sim, app)
        reruns = sim.requests_to("POST", f"/repos/{trunk.repo}/actions/jobs/*/rerun")
        assert len(reruns) == 1  # the first failure, rerun before anything was filed
        assert trunk.alert_issues() == []  # it passed: nothing was ever broken
        assert sim.requests_to("POST", f"/repos/{trunk.repo}/issues/*/labels") == []


async def test_confirm_before_filing_files_once_the_rerun_fails_again(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk, deliveries = flaky_trunk(sim, {3, 4, 5})
    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        await app.send(deliveries)
        await settle(sim, app)
        [issue] = trunk.alert_issues()
        assert issue.state == "open"
        posts = [r.path for r in sim.requests_to("POST", "*")]
        reruns = [i for i, path in enumerate(posts) if path.endswith("/rerun")]
        filed = posts.index(f"/repos/{trunk.repo}/issues")
        assert len(reruns) == 1 and reruns[0] < filed  # filed once the rerun failed again


async def test_a_culprit_settled_after_the_recovery_is_told_on_the_closed_issue(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    """Commit 2 fails by chance right below the real breakage (3 to 5, fixed by 6), and 1
    never ran. The alert blames 2, bisects 1 first, and recovers before anything reports:
    it asks the rerun of 2 at the close. That rerun passes, so the culprit is 3, rerun in
    turn: the closed issue says so, then that 3 is confirmed, with no label put back."""
    trunk = Trunk(sim, Scenario(failures={("inductor", JOB): {2, 3, 4, 5}}, commits=8))
    trunk.scenario.superseded = {1}
    deliveries = [
        d
        for i in range(7)
        for d in trunk.history.commit_deliveries(i)
        if i != 1 or d["event"] == "push"
    ]
    with_runs(sim, trunk, range(7))
    trunk.scenario.failures[("inductor", JOB)] = {3, 4, 5}  # 2 passes when rerun
    with_ci(sim, trunk)
    repo, sha = trunk.repo, trunk.history.commit_sha
    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        await app.send(deliveries)
        await settle(sim, app)
        [issue] = trunk.alert_issues()
        reruns = sim.requests_to("POST", f"/repos/{repo}/actions/jobs/*/rerun")
        assert len(reruns) == 2  # at 2, asked at the close, then at 3
        assert (issue.state, issue.state_reason) == ("closed", "completed")
        assert f"**Culprit: [`{sha(3)[:7]}`]" in issue.body and "— confirmed**" in issue.body
        comments = sim.comments(repo, issue.number)
        (recovered,) = [c for c in comments if "✅ Recovered" in c]
        assert "not confirmed yet" in recovered  # (what the comments below then say)
        settled = [c for c in comments if "🔎" in c]
        assert len(settled) == 2
        assert "moved the suspects: now" in settled[0] and sha(3)[:7] in settled[0]
        assert "Confirmed after the recovery" in settled[1] and sha(3)[:7] in settled[1]
        assert all(SUSPECT_LABEL not in sim.labels_of(repo, trunk.pr(i)) for i in range(7))


def with_runs(sim: SimulatedGitHub, trunk: Trunk, commits: range) -> None:
    """The inductor runs of `commits`, as GitHub keeps them (a job is rerun by its id)."""
    for i in commits:
        jobs = [
            d["payload"]["workflow_job"]
            for d in trunk.history.commit_deliveries(i)
            if d["event"] == "workflow_job"
            and d["payload"]["workflow_job"]["workflow_name"] == "inductor"
        ]
        if jobs:
            sim.add_run(
                trunk.repo,
                trunk.history.run_id(i, "inductor"),
                jobs,
                head_sha=trunk.history.commit_sha(i),
                workflow="inductor",
            )
