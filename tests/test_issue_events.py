"""`issues` events keep the alert in step at once: an alert issue closed, deleted or
transferred by a person resolves the alert (no refile for the streak, suspect labels
removed), reopened is recorded, and the App's own closing changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.records import AlertIssue
from bot.sim.history import default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.tracker.model import CloseReason
from tests.conftest import INSTALLATION_ID
from tests.test_end_to_end import BROKEN, SUSPECT_LABEL, App, Trunk, running_app


@pytest.fixture
def default_trunk(sim: SimulatedGitHub) -> Trunk:
    return Trunk(sim, default_scenario())


def issue_event(
    trunk: Trunk, action: str, number: int, sender: str = "alice", n: int = 0
) -> dict[str, Any]:
    bot = sender.endswith("[bot]")
    return {
        "event": "issues",
        "delivery_id": f"issues-{action}-{number}-{sender}-{n}",
        "payload": {
            "action": action,
            "issue": {
                "number": number,
                "state": "open" if action == "reopened" else "closed",
                "html_url": f"https://github.com/{trunk.repo}/issues/{number}",
                "user": {"login": "trunkwatch[bot]", "type": "Bot"},
            },
            "repository": {"id": 1, "full_name": trunk.repo, "default_branch": "main"},
            "sender": {"login": sender, "type": "Bot" if bot else "User"},
            "installation": {"id": INSTALLATION_ID},
        },
    }


async def broken(app: App, trunk: Trunk) -> int:
    await app.send(trunk.deliveries(*range(BROKEN + 3)))  # streak 3: filed
    [issue] = trunk.alert_issues()
    assert trunk.sim.labels_of(trunk.repo, trunk.pr(BROKEN)) == [SUSPECT_LABEL]
    return issue.number


async def alert_of(app: App, trunk: Trunk) -> Any:
    [alert] = await app.service.store.load_alerts(trunk.repo)
    return alert


@pytest.mark.parametrize("action", ["closed", "deleted", "transferred"])
async def test_an_alert_issue_a_person_takes_away_resolves_the_alert_at_once(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk, action: str
) -> None:
    trunk = default_trunk
    async with running_app(sim, app_key, tmp_path) as app:
        number = await broken(app, trunk)
        trunk.sim.repo(trunk.repo).issues[number].state = "closed"  # what the person did
        await app.send([issue_event(trunk, action, number)])
        alert = await alert_of(app, trunk)
        assert not alert.open and alert.reason is CloseReason.RESOLVED_BY_USER
        assert trunk.sim.labels_of(trunk.repo, trunk.pr(BROKEN)) == []
        record = await app.service.store.get_record(AlertIssue, alert.alert)
        assert record is not None and (record.state, record.closed_by) == ("closed", "human")
        edits = len(trunk.writes(trunk.issue_path(number)))
        await app.send(trunk.deliveries(BROKEN + 4))  # the streak goes on: not refiled
        assert len(trunk.alert_issues()) == 1
        assert len(trunk.writes(trunk.issue_path(number))) == edits


async def test_the_apps_own_closing_and_other_issues_change_nothing(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk
) -> None:
    trunk = default_trunk
    async with running_app(sim, app_key, tmp_path) as app:
        number = await broken(app, trunk)
        other = trunk.sim.add_issue(trunk.repo, "unrelated").number
        await app.send(
            [
                issue_event(trunk, "closed", number, sender="trunkwatch[bot]"),
                issue_event(trunk, "closed", other),
            ]
        )
        assert (await alert_of(app, trunk)).open
        assert trunk.sim.labels_of(trunk.repo, trunk.pr(BROKEN)) == [SUSPECT_LABEL]


async def test_a_reopened_alert_issue_is_recorded_open_again(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk
) -> None:
    trunk = default_trunk
    async with running_app(sim, app_key, tmp_path) as app:
        number = await broken(app, trunk)
        await app.send([issue_event(trunk, "closed", number)])
        alert = await alert_of(app, trunk)
        await app.send([issue_event(trunk, "reopened", number)])
        record = await app.service.store.get_record(AlertIssue, alert.alert)
        assert record is not None and (record.state, record.closed_by) == ("open", "")
        assert not (await alert_of(app, trunk)).open  # a resolved alert stays resolved
