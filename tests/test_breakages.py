"""Two breakages in one alert, end to end over real HTTP (issue 14): one group, two jobs
broken by two different commits, overlapping in time. One issue shows both; each culprit's
PR is labelled by its own breakage, under its own `max_prs`, and keeps the label until its
own breakage recovers; a comment tells when a breakage joins and when one recovers while the
other is still red; the issue closes when the last one recovers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sim.demo import default_config_text
from bot.sim.history import INDUCTOR_JOBS, Scenario, truth
from bot.sim.simulated_github import SimulatedGitHub
from tests.test_culprit_end_to_end import settle
from tests.test_end_to_end import SECRET, SUSPECT_LABEL, Trunk, running_app

X, Y = INDUCTOR_JOBS[1], INDUCTOR_JOBS[2]  # torchbench and huggingface: two job keys
A, B = 3, 7  # the culprits: A breaks X (fixed by commit 11), B breaks Y (fixed by 15)
LATE = 6  # commit 6's runs report late: until then Y's blamelist is 6 and 7, too wide
CONFIG = (
    default_config_text().replace("max_prs: 5", "max_prs: 1")
    + "culprit:\n  bisect_tag: off\n"  # only the late results narrow breakage B
)


def two_breakages() -> Scenario:
    return Scenario(
        failures={("inductor", X): set(range(A, 11)), ("inductor", Y): set(range(B, 15))},
        commits=16,
    )


def with_ci(sim: SimulatedGitHub, trunk: Trunk) -> None:
    """A CI that runs the jobs again as the scenario says, and knows the trunk's inductor
    runs (a job is rerun by its id)."""
    sha = trunk.history.commit_sha
    index = {sha(i): i for i in range(trunk.scenario.commits)}
    workflows = {name: list(jobs) for name, jobs in trunk.scenario.workflows.items()}
    sim.set_ci(trunk.repo, workflows, truth(trunk.scenario, index))
    for i in range(trunk.scenario.commits):
        jobs = [
            d["payload"]["workflow_job"]
            for d in trunk.deliveries(i)
            if d["event"] == "workflow_job"
            and d["payload"]["workflow_job"]["workflow_name"] == "inductor"
        ]
        run_id = trunk.history.run_id(i, "inductor")
        sim.add_run(trunk.repo, run_id, jobs, head_sha=sha(i), workflow="inductor")


def pushed_only(trunk: Trunk, index: int) -> list[dict[str, Any]]:
    return [d for d in trunk.deliveries(index) if d["event"] == "push"]


def runs_only(trunk: Trunk, index: int) -> list[dict[str, Any]]:
    return [d for d in trunk.deliveries(index) if d["event"] != "push"]


async def test_two_breakages_in_one_group_get_one_issue_and_their_own_labels(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk = Trunk(sim, two_breakages())
    repo, sha = trunk.repo, trunk.history.commit_sha
    sim.set_file(repo, ".github/trunkwatch.yml", CONFIG)
    with_ci(sim, trunk)

    def labelled() -> set[int]:
        return {
            i
            for i in range(trunk.scenario.commits)
            if SUSPECT_LABEL in sim.labels_of(repo, trunk.pr(i))
        }

    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        # Breakage A: X fails from commit 3; the alert opens at 5, its culprit confirmed.
        await app.send(trunk.deliveries(*range(6)))
        await settle(sim, app)
        [issue] = trunk.alert_issues()
        assert "Breakage" not in issue.body
        assert f"**Culprit: [`{sha(A)[:7]}`]" in issue.body and "— confirmed**" in issue.body
        assert labelled() == {A}

        # Breakage B joins: Y fails from 7 (its blamelist, 6 and 7, apart from X's), 3 in a
        # row at 9. Two PRs are more than max_prs: B labels none, and A keeps its label.
        await app.send([*pushed_only(trunk, LATE), *trunk.deliveries(7, 8, 9)])
        await settle(sim, app)
        assert trunk.alert_issues() == [issue]
        body = issue.body
        assert f"Breakage 1: 1 job since [`{sha(A)[:7]}`]" in body
        assert f"Breakage 2: 1 job since [`{sha(B)[:7]}`]" in body
        assert "Breakage 2: the range is too wide to name suspects: 2 commits" in body
        [joined] = sim.comments(repo, issue.number)
        assert "Breakage 2 joined" in joined and sha(B)[:7] in joined
        assert labelled() == {A}

        # Commit 6's runs arrive: Y passed there, so B's culprit is 7, and it is labelled.
        await app.send(runs_only(trunk, LATE))
        await settle(sim, app)
        assert labelled() == {A, B}
        assert f"[`{sha(B)[:7]}`]" in issue.body and "too wide" not in issue.body
        narrowed = sim.comments(repo, issue.number)[1:]
        assert len(narrowed) == 1 and "Suspects are now" in narrowed[0]

        # A recovers (X passes at 11) while B is still red: said once, A's label goes.
        await app.send(trunk.deliveries(10, 11))
        await settle(sim, app)
        [recovered] = sim.comments(repo, issue.number)[2:]
        assert f"Breakage 1 (1 job since [`{sha(A)[:7]}`]" in recovered
        assert "recovered; breakage 2 is still failing." in recovered
        assert labelled() == {B}
        assert issue.state == "open" and "Breakage 2" not in issue.body

        # B recovers (Y passes at 15): the issue closes, the last label goes.
        await app.send(trunk.deliveries(*range(12, 16)))
        await settle(sim, app)
        assert (issue.state, issue.state_reason) == ("closed", "completed")
        assert labelled() == set()
        assert len(trunk.alert_issues()) == 1
