"""A push that has not arrived yet, end to end over real HTTP: the commits it carried are
missing from the blamelist, so the alert files but labels nobody and bisects nothing (a run
on the commits it knows would be spent beside the culprit) until the push arrives."""

from __future__ import annotations

from pathlib import Path

from bot.sim.demo import default_config_text
from bot.sim.history import INDUCTOR_JOBS, Scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.test_breakages import pushed_only, with_ci
from tests.test_culprit_end_to_end import settle
from tests.test_end_to_end import SECRET, SUSPECT_LABEL, Trunk, running_app

X = INDUCTOR_JOBS[1]
CULPRIT, MISSING = 4, 3  # commit 3's push is late: 4's parent is known only by its sha


async def test_a_late_push_holds_the_labels_and_the_bisection_until_it_arrives(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    trunk = Trunk(sim, Scenario(failures={("inductor", X): set(range(CULPRIT, 12))}, commits=8))
    repo, sha = trunk.repo, trunk.history.commit_sha
    # (the scenario's commits are weeks old: the labels wait for the push, not for the clock)
    config = default_config_text().replace("suspects:\n", "suspects:\n  wait: 52w\n")
    sim.set_file(repo, ".github/trunkwatch.yml", config)
    with_ci(sim, trunk)

    def labelled() -> set[int]:
        return {i for i in range(8) if SUSPECT_LABEL in sim.labels_of(repo, trunk.pr(i))}

    async with running_app(sim, app_key, tmp_path) as app:
        sim.hooks.configure(f"{app.url}/webhook", SECRET)
        early = [d for i in range(7) if i != MISSING for d in trunk.deliveries(i)]
        await app.send(early)
        await settle(sim, app)
        [issue] = trunk.alert_issues()
        assert "Commits before the first failure are not known yet" in issue.body
        assert labelled() == set()
        assert sim.requests_to("POST", f"/repos/{repo}/git/refs") == []  # no bisect tag

        await app.send(pushed_only(trunk, MISSING))  # commit 3 passed: only 4 is left
        await settle(sim, app)
        assert "not known yet" not in issue.body
        assert f"[`{sha(CULPRIT)[:7]}`]" in issue.body
        assert labelled() == {CULPRIT}
