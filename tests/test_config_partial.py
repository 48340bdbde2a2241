"""A configuration the App only partly understands (issue 14): end to end, over real HTTP.

A `.github/trunkwatch.yml` with a key from a newer release and one group with a wrong value
still alerts for its good groups; the repository is told, in the config-error issue, what
was ignored and why. The App runs in-process as `serve` wires it, against the simulated
GitHub, fed signed deliveries of a generated trunk history.
"""

from __future__ import annotations

from pathlib import Path

from bot.actions import config_report
from bot.sim.demo import default_config_text
from bot.sim.history import TRUNK_JOBS, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.test_end_to_end import BROKEN, Trunk, running_app

CONFIG_PATH = ".github/trunkwatch.yml"


def partly_wrong_config() -> str:
    """The built-in configuration, with the `trunk` group's priority wrong and a section
    this release does not know."""
    text = default_config_text()
    trunk_priority = '    priority: P1\n    owners: ["@pytorch/pytorch-dev-infra"]\n  pull:'
    assert trunk_priority in text
    text = text.replace(trunk_priority, trunk_priority.replace("P1", "P7"))
    return text + "notifications:\n  slack: '#ci-alerts'\n"


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


async def test_good_groups_still_alert_and_the_issue_names_what_was_ignored(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path
) -> None:
    scenario = default_scenario()
    # The `trunk` workflow breaks as well, at the same commit: its group is the voided one.
    scenario.failures[("trunk", TRUNK_JOBS[3])] = set(range(BROKEN, BROKEN + 4))
    trunk = Trunk(sim, scenario)
    text = partly_wrong_config()
    sim.set_file(trunk.repo, CONFIG_PATH, text)

    async with running_app(sim, app_key, tmp_path) as app:
        await app.send(trunk.deliveries(*range(BROKEN + 3)))  # streak 3 in both workflows

    alerts = [i for i in sim.issues(trunk.repo) if "ci: alert" in i.labels]
    assert [issue.title for issue in alerts] == [
        "[P2] inductor: 3 commits in a row failing on main"
    ]
    assert alerts[0].state == "open" and alerts[0].assignees == ["alice"]

    [report] = [i for i in sim.issues(trunk.repo) if config_report.LABEL in i.labels]
    assert report.title == config_report.TITLE and report.state == "open"
    body = report.body or ""
    priority_line = line_of(text, "priority: P7")
    assert (
        f"**{CONFIG_PATH}:{priority_line}** groups.trunk.priority: expected one of P0, P1, P2,"
        " P3, P4, got 'P7' — the group 'trunk' is ignored"
    ) in body
    assert f"**{CONFIG_PATH}:{line_of(text, 'notifications:')}** notifications: unknown key" in body
    assert "trunkwatch watches `inductor`, `pull`" in body
    # Told once: the many deliveries since the first read filed no second report.
    assert len(sim.requests_to("POST", f"/repos/{trunk.repo}/issues")) == 2  # report, alert
