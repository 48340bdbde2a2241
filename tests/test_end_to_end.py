"""End to end, over real HTTP: signed deliveries of a generated trunk history are posted to the
App's `/webhook`, the simulated GitHub answers the App's API calls, and what the App did —
issues, comments, labels, assignees — is read back from the simulator (issue 3, "Done when").

The App runs in-process (`running_service`, exactly as `serve` wires it) except for the crash
tests, which run `trunkwatch serve` as a child process so that it can be SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.process.service import Service, running_service
from bot.process.settings import Settings
from bot.sim.demo import default_config_text, post
from bot.sim.devserver import free_port
from bot.sim.history import INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.sim.simulated_github.server import RecordedRequest
from bot.sim.simulated_github.state import Issue
from tests.conftest import APP_ID, INSTALLATION_ID, ServeApp, ServedApp, inbox_drained

SECRET = "end-to-end-secret"
SUSPECT_LABEL = "ci: suspected breakage"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
BROKEN, FIXED = 6, 10  # the default scenario: commit 6 breaks an inductor job, 10 reverts it
# A mention GitHub would notify: `@octocat` not preceded by a word character or by the
# zero-width space the App puts after an `@` it quotes.
UNESCAPED_OCTOCAT = re.compile(r"(?<![\w\u200b])@octocat\b")


# --- the trunk and the simulated GitHub ----------------------------------------------------


class Trunk:
    """A generated history, seeded into the simulated GitHub: its commits exist, each
    brought in by its own merged PR (authored by the commit's author), and the repository
    carries the built-in configuration."""

    def __init__(self, sim: SimulatedGitHub, scenario: Scenario) -> None:
        scenario.installation_id = INSTALLATION_ID
        self.sim = sim
        self.scenario = scenario
        self.history = Generator(scenario)
        self.repo = scenario.repo
        sim.add_repo(self.repo, default_branch=scenario.branch)
        sim.set_file(self.repo, ".github/trunkwatch.yml", default_config_text())
        for index in range(scenario.commits):
            sim.add_commit(
                self.repo,
                self.history.commit_sha(index),
                self.history.message(index),
                self.history.author(index),
                pr=self.history.pr_number(index),
            )

    def deliveries(self, *indexes: int) -> list[dict[str, Any]]:
        return [d for i in indexes for d in self.history.commit_deliveries(i)]

    def alert_issues(self) -> list[Issue]:
        return self.sim.issues(self.repo)

    def pr(self, index: int) -> int:
        return self.history.pr_number(index)

    def writes(self, path_pattern: str = "*") -> list[RecordedRequest]:
        """What the App changed on GitHub (token requests to `/app/…` left out)."""
        return [
            r
            for method in WRITES
            for r in self.sim.requests_to(method, path_pattern)
            if not r.path.startswith("/app/")
        ]

    def issue_path(self, number: int) -> str:
        return f"/repos/{self.repo}/issues/{number}"

    def prs_touched(self) -> set[int]:
        """Pull requests the App labelled or commented on."""
        touched = set()
        pulls = {i.number for i in self.sim.issues(self.repo, include_pulls=True) if i.pull}
        for request in self.writes(f"/repos/{self.repo}/issues/*"):
            number = int(request.path.split("/")[5])
            if number in pulls:
                touched.add(number)
        return touched


def redelivered(delivery: dict[str, Any], suffix: str) -> dict[str, Any]:
    return {**delivery, "delivery_id": f"{delivery['delivery_id']}-{suffix}"}


# --- the App in-process --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_app(sim: SimulatedGitHub, app_key: str, tmp_path: Path) -> AsyncIterator[App]:
    settings = Settings(
        app_id=str(APP_ID),
        private_key=app_key,
        webhook_secret=SECRET,
        api_url=sim.base_url,
        database_url=f"sqlite:///{tmp_path / 'trunkwatch.db'}",
        host="127.0.0.1",
        port=free_port(),
        log_level="error",
    )
    async with (
        running_service(settings, retry_base=0.01, poll_seconds=0.05) as service,
        aiohttp.ClientSession() as session,
    ):
        yield App(service, session, f"http://127.0.0.1:{settings.port}")


class App:
    def __init__(self, service: Service, session: aiohttp.ClientSession, url: str) -> None:
        self.service = service
        self.session = session
        self.url = url

    async def send(self, deliveries: list[dict[str, Any]]) -> None:
        """Post the deliveries in order (each answered 202, or 200 for a known id), then wait
        until the App has processed every one of them."""
        for delivery in deliveries:
            await post(self.session, self.url, SECRET, delivery)
        await self.drained()

    async def drained(self, within: float = 20.0) -> None:
        await inbox_drained(self.service.store, within=within, poll=0.01)
        dead = await self.service.store.dead_deliveries()
        assert not dead, [d.delivery_id for d in dead]


@pytest.fixture
async def default_trunk(sim: SimulatedGitHub) -> Trunk:
    return Trunk(sim, default_scenario())


# --- 1. the breakage, from first failure to recovery --------------------------------------


async def test_a_three_commit_inductor_breakage_is_filed_updated_and_closed(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk
) -> None:
    trunk = default_trunk
    culprit = trunk.pr(BROKEN)
    culprit_author = trunk.history.author(BROKEN)
    async with running_app(sim, app_key, tmp_path) as app:
        await app.send(trunk.deliveries(*range(BROKEN + 2)))  # commits 0 to 7: streak 2
        assert trunk.alert_issues() == []
        assert trunk.writes() == []

        await app.send(trunk.deliveries(BROKEN + 2))  # commit 8: streak 3
        [issue] = trunk.alert_issues()
        [created] = trunk.writes(f"/repos/{trunk.repo}/issues")
        assert created.method == "POST"
        assert created.json_body["title"] == "[P2] inductor: 3 commits in a row failing on main"
        assert issue.title == "[P2] inductor: 3 commits in a row failing on main"
        assert issue.state == "open"
        assert "@pytorch/inductor-oncall" in (issue.body or "")
        assert issue.assignees == ["alice"]
        assert "ci: alert" in issue.labels and "priority: P2" in issue.labels
        assert trunk.sim.labels_of(trunk.repo, culprit) == [SUSPECT_LABEL]
        [told] = trunk.sim.comments(trunk.repo, culprit)
        assert f"@{culprit_author}" in told
        assert trunk.history.commit_sha(BROKEN)[:7] in told
        assert f"/issues/{issue.number}" in told  # links the alert
        assert trunk.prs_touched() == {culprit}
        assert trunk.sim.comments(trunk.repo, issue.number) == []

        edits_before = len(trunk.writes(trunk.issue_path(issue.number)))
        await app.send(trunk.deliveries(BROKEN + 3))  # commit 9: streak 4
        edits = trunk.writes(trunk.issue_path(issue.number))[edits_before:]
        assert edits and all(e.method == "PATCH" for e in edits)
        assert any("body" in e.json_body for e in edits)
        [issue] = trunk.alert_issues()
        assert issue.title == "[P2] inductor: 3 commits in a row failing on main"  # unchanged
        assert "now **4 commits in a row**" in issue.body
        assert issue.state == "open"
        assert trunk.sim.comments(trunk.repo, issue.number) == []  # edited, not re-commented
        assert len(trunk.sim.comments(trunk.repo, culprit)) == 1

        await app.send(trunk.deliveries(FIXED))  # commit 10: the revert, green again
        [issue] = trunk.alert_issues()
        assert (issue.state, issue.state_reason) == ("closed", "completed")
        [closing] = trunk.sim.comments(trunk.repo, issue.number)
        assert trunk.history.commit_sha(FIXED)[:7] in closing
        assert SUSPECT_LABEL not in trunk.sim.labels_of(trunk.repo, culprit)
        assert len(trunk.sim.comments(trunk.repo, culprit)) == 1

        writes_before = len(trunk.writes())
        await app.send(trunk.deliveries(*range(FIXED + 1, trunk.scenario.commits)))
        assert trunk.writes()[writes_before:] == []  # green commits: nothing more to do
    assert len(trunk.alert_issues()) == 1
    # Owners are mentioned once, in the body the issue was filed with; no comment pings them.
    comments = [r.json_body["body"] for r in trunk.writes("*/comments")]
    assert comments and not any("@pytorch/inductor-oncall" in c or "@alice" in c for c in comments)


# --- 2. quiet where it should be -----------------------------------------------------------


def only_flakes() -> Scenario:
    """One inductor job and one trunk job fail on their first attempt on four commits in a
    row, and pass on the rerun each time."""
    return Scenario(
        flakes={
            ("inductor", INDUCTOR_JOBS[1]): {3, 4, 5, 6},
            ("trunk", TRUNK_JOBS[2]): {5, 6, 7, 8},
        },
        commits=10,
    )


def only_infra_blip() -> Scenario:
    """A runner outage: every job of every workflow fails once on commit 4, passes on rerun."""
    return Scenario(infra_blips={4}, commits=8)


@pytest.mark.parametrize("scenario", [only_flakes, only_infra_blip])
async def test_nothing_at_all_for_flaky_jobs_or_an_infra_blip(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, scenario: Any
) -> None:
    trunk = Trunk(sim, scenario())
    async with running_app(sim, app_key, tmp_path) as app:
        await app.send(trunk.deliveries(*range(trunk.scenario.commits)))
    assert trunk.alert_issues() == []
    assert trunk.writes() == []  # no issue, no label, no comment, no assignee


# --- 3. every delivery twice ---------------------------------------------------------------


def assert_one_of_each(trunk: Trunk) -> None:
    """One alert issue, closed on recovery; one comment on it (the closing one); the
    culprit's PR labelled once, told once, and unlabelled; no other PR touched."""
    culprit = trunk.pr(BROKEN)
    [issue] = trunk.alert_issues()
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert len(trunk.writes(f"/repos/{trunk.repo}/issues")) == 1
    [closing] = trunk.sim.comments(trunk.repo, issue.number)
    assert trunk.history.commit_sha(FIXED)[:7] in closing
    [told] = trunk.sim.comments(trunk.repo, culprit)
    assert f"@{trunk.history.author(BROKEN)}" in told
    labelled = trunk.writes(f"{trunk.issue_path(culprit)}/labels")
    assert [r.json_body for r in labelled] == [{"labels": [SUSPECT_LABEL]}]
    assert SUSPECT_LABEL not in trunk.sim.labels_of(trunk.repo, culprit)
    created = [
        r.json_body["name"] for r in trunk.writes(f"/repos/{trunk.repo}/labels") if r.json_body
    ]
    assert created.count(SUSPECT_LABEL) == 1
    assert trunk.prs_touched() == {culprit}


async def test_each_delivery_sent_twice_at_once(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk
) -> None:
    """Every delivery is followed by a copy under a new id, and by GitHub's "redeliver"
    (the same id)."""
    trunk = default_trunk
    async with running_app(sim, app_key, tmp_path) as app:
        for index in range(trunk.scenario.commits):
            twice = [
                copy
                for delivery in trunk.deliveries(index)
                for copy in (delivery, redelivered(delivery, "again"), delivery)
            ]
            await app.send(twice)
    assert_one_of_each(trunk)


async def test_the_whole_stream_sent_again_afterwards(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, default_trunk: Trunk
) -> None:
    """The stream is sent, then all of it again under new ids, then again with the same ids:
    the old results of a recovered breakage must not file, label or comment anything."""
    trunk = default_trunk
    everything = trunk.deliveries(*range(trunk.scenario.commits))
    async with running_app(sim, app_key, tmp_path) as app:
        await app.send(everything)
        assert_one_of_each(trunk)
        writes_before = len(trunk.writes())
        await app.send([redelivered(d, "again") for d in everything])
        await app.send(everything)
        assert trunk.writes()[writes_before:] == []
    assert_one_of_each(trunk)


# --- 4. SIGKILL between creating on GitHub and recording it ----------------------------------


def recorded(db: Path, table: str) -> list[dict[str, Any]]:
    """The rows of one of the App's typed record tables (`bot.records`)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]


async def kill_when_requested(serve: ServedApp, sim: SimulatedGitHub, path: str) -> None:
    """SIGKILL `serve` the moment its POST to `path` reaches the simulator. The request is
    stalled there (`stall_next`), so the App is dead before any answer could reach it; the
    simulator's handler then runs anyway, and the thing is created on GitHub."""
    await wait_for(lambda: sim.requests_to("POST", path), f"POST {path}", within=30.0)
    serve.kill()


async def wait_for(condition: Callable[[], object], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass(frozen=True)
class CrashPoint:
    """Where the App dies: right after GitHub received `POST path`, before the answer."""

    path: Callable[[Trunk], str]
    # The stalled request has been carried out on GitHub (after the App died).
    done_on_github: Callable[[Trunk], bool]
    # The killed App's store does not know about it.
    unrecorded: Callable[[Path, Trunk], bool]


def alert_issue_number(trunk: Trunk) -> int:
    """The number the alert issue gets: the simulator numbers it after the seeded PRs."""
    return trunk.pr(trunk.scenario.commits - 1) + 1


CRASH_POINTS = {
    "after-creating-the-issue": CrashPoint(
        path=lambda trunk: f"/repos/{trunk.repo}/issues",
        done_on_github=lambda trunk: len(trunk.alert_issues()) == 1,
        unrecorded=lambda db, trunk: recorded(db, "alert_issues") == [],
    ),
    "after-commenting-on-the-suspect": CrashPoint(
        path=lambda trunk: f"{trunk.issue_path(trunk.pr(BROKEN))}/comments",
        done_on_github=lambda trunk: len(trunk.sim.comments(trunk.repo, trunk.pr(BROKEN))) == 1,
        unrecorded=lambda db, trunk: (
            not any(
                entry.get("commented")
                for done in recorded(db, "suspect_prs")
                for entry in json.loads(done["prs"]).values()
            )
        ),
    ),
    "after-the-recovery-comment": CrashPoint(
        path=lambda trunk: f"{trunk.issue_path(alert_issue_number(trunk))}/comments",
        done_on_github=lambda trunk: (
            len(trunk.sim.comments(trunk.repo, alert_issue_number(trunk))) == 1
        ),
        unrecorded=lambda db, trunk: [r["state"] for r in recorded(db, "alert_issues")] == ["open"],
    ),
}


@pytest.mark.parametrize("crash_point", sorted(CRASH_POINTS))
async def test_sigkill_between_acting_on_github_and_recording_it(
    sim: SimulatedGitHub,
    serve_app: ServeApp,
    tmp_path: Path,
    default_trunk: Trunk,
    crash_point: str,
) -> None:
    trunk = default_trunk
    crash = CRASH_POINTS[crash_point]
    db = tmp_path / "trunkwatch.db"
    path = crash.path(trunk)
    sim.stall_next("POST", path, seconds=2.0)
    serve = serve_app(SECRET)
    await serve.start()
    killer = asyncio.create_task(kill_when_requested(serve, sim, path))
    try:
        unanswered: list[dict[str, Any]] = []
        sent: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            index = 0
            while not killer.done():
                assert index < trunk.scenario.commits, "the App never made the stalled request"
                for delivery in trunk.deliveries(index):
                    status = None
                    if not killer.done():
                        status = await serve.post(session, delivery)
                    if status is None:
                        unanswered.append(delivery)
                    else:
                        assert status == 202, (delivery["delivery_id"], status)
                        sent.add(delivery["delivery_id"])
                index += 1
                # One commit at a time: wait until the App is done with it, or killed at it.
                await serve.drained(sent, within=10.0, unless=killer.done)
            await killer
            assert serve.process is not None and serve.process.returncode == -9

            # The simulator carries out the stalled request after the App died...
            await wait_for(lambda: crash.done_on_github(trunk), "the stalled request")
            assert len(sim.requests_to("POST", path)) == 1
            # ...and the killed App had not recorded it.
            assert crash.unrecorded(db, trunk)

            # Restarted, the App finds what it did; GitHub redelivers what got no answer.
            await serve.start()
            batches = [unanswered] + [
                trunk.deliveries(i) for i in range(index, trunk.scenario.commits)
            ]
            for batch in batches:
                for delivery in batch:
                    status = await serve.post(session, delivery)
                    assert status in (200, 202), (delivery["delivery_id"], status)
                    sent.add(delivery["delivery_id"])
                statuses = await serve.drained(sent, within=20.0)
                assert set(statuses.values()) == {"done"}, statuses
    finally:
        killer.cancel()
    assert serve.stop() == 0
    [issue] = trunk.alert_issues()
    assert issue.assignees == ["alice"]
    assert "@pytorch/inductor-oncall" in (issue.body or "")
    assert_one_of_each_after_crash(trunk)


def assert_one_of_each_after_crash(trunk: Trunk) -> None:
    """As `assert_one_of_each`, except that labelling the PR may have been repeated by the
    restarted App (labels are a set on GitHub: a repeat adds nothing)."""
    culprit = trunk.pr(BROKEN)
    [issue] = trunk.alert_issues()
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert len(trunk.writes(f"/repos/{trunk.repo}/issues")) == 1
    [closing] = trunk.sim.comments(trunk.repo, issue.number)
    assert trunk.history.commit_sha(FIXED)[:7] in closing
    [told] = trunk.sim.comments(trunk.repo, culprit)
    assert f"@{trunk.history.author(BROKEN)}" in told
    assert f"/issues/{issue.number}" in told
    labelled = trunk.writes(f"{trunk.issue_path(culprit)}/labels")
    assert labelled and all(r.json_body == {"labels": [SUSPECT_LABEL]} for r in labelled)
    assert SUSPECT_LABEL not in trunk.sim.labels_of(trunk.repo, culprit)
    assert [lb.name for lb in trunk.sim.repo(trunk.repo).labels.values()].count(SUSPECT_LABEL) == 1
    assert trunk.prs_touched() == {culprit}


# --- 5. quoted text pings nobody -------------------------------------------------------------


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def octocat_in_subjects() -> Scenario:
    """The default scenario's breakage, with `@octocat` in the subject lines the App quotes:
    the culprit's (in the body's blamelist) and the fix's (in the closing comment). The
    default scenario has it only below the culprit's subject, which the App does not quote."""
    scenario = default_scenario()
    scenario.messages = {
        BROKEN: "[inductor] Reorder loop fusion heuristics for @octocat\n\ncc @octocat",
        FIXED: 'Revert "[inductor] Reorder loop fusion heuristics"; @octocat was right',
    }
    return scenario


@pytest.mark.parametrize("scenario", [default_scenario, octocat_in_subjects])
async def test_an_at_mention_in_a_commit_message_pings_nobody(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, scenario: Any
) -> None:
    trunk = Trunk(sim, scenario())
    # The App's one legitimate mention of a login is a suspect PR's author, from the PR API:
    # octocat must not be that author, or a real `@octocat` would be right.
    assert trunk.history.author(BROKEN) != "octocat"
    assert "@octocat" in trunk.history.message(BROKEN)
    async with running_app(sim, app_key, tmp_path) as app:
        await app.send(trunk.deliveries(*range(trunk.scenario.commits)))
    assert len(trunk.alert_issues()) == 1  # the App did file, label and comment
    pulls = trunk.sim.repo(trunk.repo).issues
    assert trunk.prs_touched() and all(pulls[n].user != "octocat" for n in trunk.prs_touched())
    written = [
        text
        for r in trunk.writes()
        if r.method in ("POST", "PATCH")
        for text in strings_in(r.json_body)
    ]
    assert written
    pinged = [text for text in written if UNESCAPED_OCTOCAT.search(text)]
    assert pinged == []
    if scenario is octocat_in_subjects:
        # Not vacuous: the subjects were quoted, escaped.
        [issue] = trunk.alert_issues()
        assert "@\u200boctocat" in (issue.body or "")
        assert "@\u200boctocat" in trunk.sim.comments(trunk.repo, issue.number)[0]
