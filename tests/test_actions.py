"""The GitHub actions: alert issues, owners and suspect PRs, over HTTP against the simulated
GitHub, with decisions built by hand as the tracker would return them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.actions import alert_issue, escalation, suspect_labels, suspects
from bot.actions.alert_lifecycle import GitHubSink
from bot.actions.markdown import ZWSP
from bot.actions.policy import AlertPolicy
from bot.config.model import GroupConfig, RepoConfig, SuspectsConfig
from bot.github import GitHubClient
from bot.policies import policy_for
from bot.records import AlertIssue, SuspectHold, SuspectPRs
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.base import Changes, Store
from bot.store.record_view import Records
from bot.tracker.model import (
    Breakage,
    CloseReason,
    CommitInfo,
    CulpritStatus,
    Decision,
    DecisionKind,
    FailingJob,
    JobKey,
)

REPO = "octo/trunk"
GROUP = "inductor"
SHAS = [f"{n:x}" * 40 for n in range(1, 10)]  # "111…", "222…", …
GREEN, CULPRIT, RED1, RED2, RED3, FIX = SHAS[0], SHAS[1], SHAS[2], SHAS[3], SHAS[4], SHAS[5]
JOB = JobKey("inductor", "test (inductor_torchbench)")
OTHER_JOB = JobKey("inductor", "test (inductor_huggingface)")
CONFIG = RepoConfig(
    groups=(
        GroupConfig(
            name=GROUP,
            owners=("@pytorch/inductor-oncall", "alice"),
            labels=("module: inductor",),
        ),
    ),
)


class Commits:
    """What the tracker knows of commits (the sink's `commits_for`)."""

    def __init__(self) -> None:
        self.known: dict[str, CommitInfo] = {}

    def add(self, sha: str, message: str, author: str = "bob") -> None:
        url = f"https://github.com/{REPO}/commit/{sha}"
        self.known[sha] = CommitInfo(sha, message, author, "2024-05-01T12:00:00Z", url)

    def __call__(self, repo: str) -> Any:
        return self.known.get


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'actions.db'}")
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def commits(sim: SimulatedGitHub) -> Commits:
    """A trunk: green, the culprit (PR #12 by bob), three red commits and the fix."""
    known = Commits()
    sim.add_repo(REPO)
    messages = {
        GREEN: "Green change (#11)",
        CULPRIT: "Break inductor (#12)",
        RED1: "Docs",
        RED2: "More docs",
        RED3: "Even more docs",
        FIX: "Revert the breakage (#13)",
    }
    for sha, message in messages.items():
        squash = re.search(r"\(#(\d+)\)", message)
        pr = int(squash.group(1)) if squash else None
        sim.add_commit(REPO, sha, message, author="bob", pr=pr)
        known.add(sha, message)
    return known


def github_sink(store: Store, commits: Commits | None = None, **options: Any) -> GitHubSink:
    """The sink as bot/service.py builds it: the store's records, the config's policies."""
    return GitHubSink(partial(Records, store), commits, policy_for=policy_for, **options)


@pytest.fixture
def sink(store: Store, commits: Commits) -> GitHubSink:
    return github_sink(store, commits)


def opened(alert: str = "a1", **changes: Any) -> Decision:
    decision = Decision(
        kind=DecisionKind.OPEN,
        alert=alert,
        repo=REPO,
        branch="main",
        group=GROUP,
        jobs=(
            FailingJob(
                JOB,
                3,
                CULPRIT,
                GREEN,
                f"https://github.com/{REPO}/actions/runs/5/job/55",
                (CULPRIT,),
            ),
        ),
        streak=3,
        suspects=(CULPRIT,),
        last_green=GREEN,
        at=RED2,
        delivery_id="d1",
    )
    return replace(decision, **changes)


def updated(alert: str = "a1", **changes: Any) -> Decision:
    return replace(opened(alert), kind=DecisionKind.UPDATE, **changes)


def closed(alert: str = "a1", **changes: Any) -> Decision:
    decision = Decision(
        kind=DecisionKind.CLOSE,
        alert=alert,
        repo=REPO,
        branch="main",
        group=GROUP,
        reason=CloseReason.RECOVERED,
        recovered_by=FIX,
        at=FIX,
    )
    return replace(decision, **changes)


def alert_issues(sim: SimulatedGitHub) -> list[Any]:
    return [i for i in sim.issues(REPO) if "trunkwatch" in i.labels]


def written_texts(sim: SimulatedGitHub) -> Iterator[str]:
    """Every title and body the App sent in a POST or PATCH."""
    for request in sim.requests:
        if request.method in ("POST", "PATCH") and isinstance(request.json_body, dict):
            for name in ("title", "body"):
                if isinstance(request.json_body.get(name), str):
                    yield request.json_body[name]


async def test_open_files_one_issue_with_owners_labels_and_suspects(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    await sink.act([opened()], gh, CONFIG, None)

    [issue] = alert_issues(sim)
    assert issue.title == "[P2] inductor: 3 commits in a row failing on main"
    assert set(issue.labels) == {"module: inductor", "ci: alert", "priority: P2", "trunkwatch"}
    created = {
        r.json_body["name"]: r.json_body for r in sim.requests_to("POST", f"/repos/{REPO}/labels")
    }
    assert created["trunkwatch"]["color"] and created["priority: P2"]["color"] == "fbca04"
    assert sim.repo(REPO).label("priority: P2").color == "fbca04"  # type: ignore[union-attr]
    body = issue.body
    assert body.startswith("<!-- trunkwatch:alert repo=octo%2Ftrunk branch=main group=inductor")
    assert "@pytorch/inductor-oncall, @alice" in body
    assert "**P2**" in body and "threshold 3" in body and "1 job failing" in body
    assert "test \\(inductor\\_torchbench\\)" in body
    assert f"[log](https://github.com/{REPO}/actions/runs/5/job/55)" in body
    assert f"[`{CULPRIT[:7]}`]" in body and "[#12](" in body and "bob" in body
    assert f"compare/{GREEN}...{RED2}" in body
    assert "/trunkwatch ack" in body and "/trunkwatch unsuspect #N" in body
    assert issue.assignees == ["alice"]
    assert sim.comments(REPO, issue.number) == []  # owners are pinged by the body alone

    assert "ci: suspected breakage" in sim.labels_of(REPO, 12)
    assert sim.repo(REPO).label("ci: suspected breakage").color == "e11d21"  # type: ignore[union-attr]
    [told] = sim.comments(REPO, 12)
    assert told.count("@bob") == 1 and issue.number and f"/issues/{issue.number})" in told
    assert sim.labels_of(REPO, 11) == [] and sim.labels_of(REPO, 13) == []


async def test_update_edits_in_place_and_comments_only_on_change(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    [issue] = alert_issues(sim)

    longer = updated(streak=4, at=RED3, changed=("streak",))
    longer = replace(longer, jobs=(replace(longer.jobs[0], streak=4),))
    await sink.act([longer], gh, CONFIG, None)
    await sink.act([longer], gh, CONFIG, None)
    assert issue.title == "[P2] inductor: 3 commits in a row failing on main"  # unchanged
    assert "now **4 commits in a row**" in issue.body
    assert f"compare/{GREEN}...{RED3}" in issue.body
    assert sim.comments(REPO, issue.number) == []
    assert len(sim.requests_to("PATCH", f"/repos/{REPO}/issues/*")) == 1  # unchanged: no call

    joined = FailingJob(OTHER_JOB, 3, RED1, CULPRIT, "https://x/job/77", (RED1,))
    wider = replace(longer, jobs=(*longer.jobs, joined), changed=("jobs",), at=RED3)
    await sink.act([wider], gh, CONFIG, None)
    await sink.act([wider], gh, CONFIG, None)
    [comment] = sim.comments(REPO, issue.number)
    assert "Now also failing" in comment and "inductor\\_huggingface" in comment
    assert "2 jobs failing" in issue.body
    assert len(alert_issues(sim)) == 1
    assert len(sim.comments(REPO, 12)) == 1


async def test_close_recovered_names_the_fix_and_releases_suspects(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    await sink.act([closed()], gh, CONFIG, None)
    await sink.act([closed()], gh, CONFIG, None)

    [issue] = alert_issues(sim)
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    [comment] = sim.comments(REPO, issue.number)
    assert f"`{FIX[:7]}`" in comment and "Recovered" in comment
    assert "Revert the breakage" in comment
    assert "not confirmed yet" not in comment  # (no run of it under way)
    assert "ci: suspected breakage" not in sim.labels_of(REPO, 12)
    record = await alert_issue.load(Records(store), "a1")
    assert record is not None and (record.state, record.closed_by) == ("closed", "bot")


async def test_close_flaky_is_not_planned(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    flaky = closed(reason=CloseReason.FLAKY, recovered_by=None, flaky_reruns=(str(JOB),))
    await sink.act([flaky], gh, CONFIG, None)

    [issue] = alert_issues(sim)
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    [comment] = sim.comments(REPO, issue.number)
    assert "flaky" in comment and "inductor\\_torchbench" in comment


async def test_a_recovered_alert_withdrawn_later_says_so_once(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    await sink.act([closed()], gh, CONFIG, None)
    flaky = closed(reason=CloseReason.FLAKY, recovered_by=None, flaky_reruns=(str(JOB),))
    await sink.act([flaky], gh, CONFIG, None)
    await sink.act([flaky], gh, CONFIG, None)  # a redelivery changes nothing

    [issue] = alert_issues(sim)
    # GitHub ignores a state_reason unless the state changes; no reopen-and-close for it.
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    recovered, withdrawn = sim.comments(REPO, issue.number)
    assert "Recovered" in recovered and "Withdrawn as flaky" in withdrawn


async def test_a_new_breakage_files_a_new_issue_linking_the_previous(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store, commits: Commits
) -> None:
    await sink.act([opened("a1"), closed("a1")], gh, CONFIG, None)
    await sink.act([opened("a2", at=FIX)], gh, CONFIG, None)
    first, second = alert_issues(sim)
    assert first.state == "closed" and second.state == "open"
    assert f"[#{first.number}](https://github.com/{REPO}/issues/{first.number})" in second.body

    # With the store lost, the previous issue is still found and linked.
    lost = open_store("sqlite:///:memory:")
    fresh = github_sink(lost, commits)
    await lost.open()
    try:
        await fresh.act([closed("a2")], gh, CONFIG, None)  # nothing known: nothing closed
        await sink.act([closed("a2")], gh, CONFIG, None)
        await fresh.act([opened("a3")], gh, CONFIG, None)
    finally:
        await lost.close()
    third = alert_issues(sim)[-1]
    assert f"[#{second.number}](" in third.body


async def test_acting_twice_or_with_a_lost_store_never_duplicates(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, commits: Commits, tmp_path: Path
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    await sink.act([opened()], gh, CONFIG, None)
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    await empty.open()
    try:
        await github_sink(empty, commits).act([opened(), updated()], gh, CONFIG, None)
    finally:
        await empty.close()

    [issue] = alert_issues(sim)
    assert sim.comments(REPO, issue.number) == []
    assert len(sim.comments(REPO, 12)) == 1
    assert sim.labels_of(REPO, 12).count("ci: suspected breakage") == 1
    assert issue.assignees == ["alice"]


class CrashingStore:
    """A store that fails once when the issue's number is about to be recorded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def save_changes(self, changes: Changes) -> None:
        if any(isinstance(r, AlertIssue) for r in changes.records) and not self.crashed:
            self.crashed = True
            raise RuntimeError("killed")
        await self.store.save_changes(changes)


async def test_a_crash_between_filing_and_recording_files_nothing_twice(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    crashing = github_sink(CrashingStore(store), commits)
    with pytest.raises(RuntimeError):
        await crashing.act([opened()], gh, CONFIG, None)
    assert len(alert_issues(sim)) == 1
    await crashing.act([opened()], gh, CONFIG, None)

    [issue] = alert_issues(sim)
    assert issue.assignees == ["alice"]
    assert len(sim.comments(REPO, 12)) == 1
    assert len(sim.requests_to("POST", f"/repos/{REPO}/issues")) == 1


async def test_issues_found_by_search_and_planted_markers_ignored(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, commits: Commits
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    issue.labels.remove("trunkwatch")  # someone took the bot label off
    planted = sim.add_issue(REPO, "fake", issue.body, author="mallory", labels=["trunkwatch"])
    by_app = sim.add_issue(REPO, "fake", issue.body, author="evil-app[bot]", labels=["trunkwatch"])

    lost = open_store("sqlite:///:memory:")
    fresh = github_sink(lost, commits)
    await lost.open()
    try:
        await fresh.act([updated(streak=5)], gh, CONFIG, None)
    finally:
        await lost.close()
    assert "now **5 commits in a row**" in issue.body  # the real one was found and edited
    assert planted.title == "fake" and "5 commits" not in planted.body
    assert "5 commits" not in by_app.body  # another App's marker is not ours either
    assert len(sim.requests_to("POST", f"/repos/{REPO}/issues")) == 1
    assert sim.requests_to("GET", "/search/issues")


async def test_text_from_commits_pings_and_links_nobody(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, commits: Commits
) -> None:
    hostile = "Hi @octocat, fixes #1 | see https://github.com/o/r/issues/1 <!-- --> (#12)"
    commits.add(CULPRIT, hostile + "\n\nBody @octocat #1", author="@octocat")
    commits.add(FIX, "Fix for @octocat #1")
    await sink.act([opened()], gh, CONFIG, None)
    joined = FailingJob(JobKey("wf @octocat", "job #1 | x"), 3, RED1, CULPRIT, "", (RED1,))
    await sink.act([updated(jobs=(*opened().jobs, joined), changed=("jobs",))], gh, CONFIG, None)
    await sink.act(
        [closed(reason=CloseReason.FLAKY, flaky_reruns=(str(joined.key),))], gh, CONFIG, None
    )
    await sink.act([opened("a2"), closed("a2")], gh, CONFIG, None)

    texts = list(written_texts(sim))
    assert any(f"@{ZWSP}octocat" in text for text in texts)
    for text in texts:
        assert "@octocat" not in text
        assert not re.search(r"#1(?!\d)", text), text
        assert "://github.com/o/r" not in text
        assert text.count("<!--") == text.count("-->") <= 1


async def test_too_many_suspects_labels_none(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, commits: Commits
) -> None:
    config = replace(CONFIG, suspects=SuspectsConfig(max_prs=1))
    wide = opened(suspects=(GREEN, CULPRIT, FIX), last_green=None)
    await sink.act([wide], gh, config, None)

    [issue] = alert_issues(sim)
    assert "too wide" in issue.body
    assert all("ci: suspected breakage" not in sim.labels_of(REPO, n) for n in (11, 12, 13))
    assert sim.comments(REPO, 11) == sim.comments(REPO, 12) == []
    assert "/trunkwatch unsuspect" not in issue.body


async def test_unknown_suspects_are_said_so_and_labelled_not(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    await sink.act([opened(suspects_known=False, last_green=None)], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    assert "No passing run" in issue.body and "none known" in issue.body
    assert sim.labels_of(REPO, 12) == []


async def test_prs_found_from_commit_messages(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store
) -> None:
    sim.add_repo(REPO)
    sim.add_pull(REPO, 40, author="carol", merged=True)
    sim.add_pull(REPO, 41, author="dave", merged=True)
    sim.add_commit(REPO, RED1, "Squashed change (#40)")
    sim.add_commit(
        REPO, RED2, f"ghstack\n\nPull Request resolved: https://github.com/{REPO}/pull/41"
    )
    sim.add_commit(REPO, RED3, "Elsewhere\n\nPull Request resolved: https://github.com/o/x/pull/40")
    none = github_sink(store).commits_for(REPO)  # the tracker knows nothing: GitHub is asked
    found = [await suspects.pr_for_commit(gh, store, REPO, sha, none) for sha in SHAS[2:5]]
    assert [(p.number, p.author) if p else None for p in found] == [
        (40, "carol"),
        (41, "dave"),
        None,
    ]
    calls = len(sim.requests)
    assert (await suspects.pr_for_commit(gh, store, REPO, RED1, none)) == found[0]
    assert len(sim.requests) == calls  # remembered


async def test_unsuspect_and_suspect(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store
) -> None:
    await sink.act([opened()], gh, CONFIG, None)
    policy = policy_for(CONFIG, GROUP)
    assert await suspect_labels.unsuspect(gh, Records(store), REPO, "a1", 12, policy)
    assert "ci: suspected breakage" not in sim.labels_of(REPO, 12)
    await sink.act([updated(streak=4)], gh, CONFIG, None)
    assert "ci: suspected breakage" not in sim.labels_of(REPO, 12)

    record = await alert_issue.load(Records(store), "a1")
    assert record is not None
    pr = await suspect_labels.suspect(gh, Records(store), record, 13, policy, set())
    assert pr is not None and pr.author == "bob"
    await sink.act([updated(streak=5)], gh, CONFIG, None)
    assert "ci: suspected breakage" in sim.labels_of(REPO, 13)
    assert len(sim.comments(REPO, 13)) == 1
    assert await suspect_labels.suspect(gh, Records(store), record, 999, policy, set()) is None


async def test_a_pr_suspected_by_two_alerts_keeps_its_label_until_both_close(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    config = replace(CONFIG, groups=(*CONFIG.groups, GroupConfig(name="cuda")))
    await sink.act([opened("a1"), opened("c1", group="cuda")], gh, config, None)
    assert len(alert_issues(sim)) == 2
    assert len(sim.comments(REPO, 12)) == 2  # one per alert
    await sink.act([closed("a1")], gh, config, None)
    assert "ci: suspected breakage" in sim.labels_of(REPO, 12)
    await sink.act([closed("c1", group="cuda")], gh, config, None)
    assert "ci: suspected breakage" not in sim.labels_of(REPO, 12)


async def test_escalation_fires_once_unless_acknowledged(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    clock = [1000.0]
    sink = github_sink(store, commits, clock=lambda: clock[0])
    group = replace(
        CONFIG.groups[0],
        escalate_after=timedelta(seconds=60),
        escalation_owners=("@pytorch/pt2-oncall", "erin"),
    )
    config = replace(CONFIG, groups=(group, replace(group, name="cuda")))
    await sink.act([opened("a1"), opened("c1", group="cuda")], gh, config, None)
    first, second = alert_issues(sim)

    async def client_for(installation: int) -> GitHubClient:
        return gh

    assert await escalation.ack(Records(store), REPO, second.number, "alice")
    assert await escalation.check_escalations(Records(store), client_for, 1030.0) == 0
    assert await escalation.check_escalations(Records(store), client_for, 1061.0) == 1
    assert await escalation.check_escalations(Records(store), client_for, 5000.0) == 0
    [pinged] = sim.comments(REPO, first.number)
    assert "@pytorch/pt2-oncall, @erin" in pinged and "/trunkwatch ack" in pinged
    assert sim.comments(REPO, second.number) == []

    assert await escalation.unack(Records(store), REPO, second.number, 6000.0)
    assert not await escalation.ack(Records(store), REPO, 999, "alice")
    await sink.act([closed("c1", group="cuda")], gh, config, None)
    assert await escalation.check_escalations(Records(store), client_for, 9000.0) == 0
    assert len(sim.comments(REPO, second.number)) == 1  # the closing comment only


async def test_a_human_closing_the_issue_is_detected(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    told: list[tuple[str, int]] = []

    async def closed_by_human(decision: Decision, number: int) -> None:
        told.append((decision.alert, number))

    sink = github_sink(store, commits, on_closed_by_human=closed_by_human)
    await sink.act([opened()], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    issue.state, issue.state_reason = "closed", "not_planned"

    await sink.act([updated(streak=4, changed=("suspects",), suspects=(RED1,))], gh, CONFIG, None)
    await sink.act([updated(streak=5)], gh, CONFIG, None)
    await sink.act([opened()], gh, CONFIG, None)
    assert told == [("a1", issue.number)]
    assert sim.comments(REPO, issue.number) == []
    assert issue.state_reason == "not_planned"
    assert len(alert_issues(sim)) == 1
    assert "ci: suspected breakage" not in sim.labels_of(REPO, 12)

    await sink.act([closed(reason=CloseReason.RESOLVED_BY_USER)], gh, CONFIG, None)
    [comment] = sim.comments(REPO, issue.number)
    assert "Resolved by a maintainer" in comment and issue.state_reason == "not_planned"


def test_policy_from_the_configuration() -> None:
    group = replace(CONFIG.groups[0], escalate_after=timedelta(hours=2), priority="P1")
    policy = policy_for(replace(CONFIG, groups=(group,)), GROUP, app_slug="tw")
    assert policy.issue_labels == ("module: inductor", "ci: alert", "priority: P1", "trunkwatch")
    assert policy.escalate_after == 7200.0 and policy.owner_users == ("alice",)
    assert policy.bot_login == "tw[bot]"
    assert policy_for(CONFIG, "gone") == AlertPolicy(group="gone", labels=("ci: alert",))
    assert policy_for(None, GROUP) == AlertPolicy(group=GROUP)


async def test_an_update_for_an_alert_never_filed_files_it_once(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    sim.fail_next("GET", "/search/issues", 422)  # search refused: the listing stands
    await sink.act([updated(streak=4, changed=("jobs",))], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    assert "now **4 commits in a row**" in issue.body
    assert sim.comments(REPO, issue.number) == []


async def test_a_deleted_issue_counts_as_closed_by_hand(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    told: list[int] = []

    async def closed_by_human(decision: Decision, number: int) -> None:
        told.append(number)

    sink = github_sink(store, commits, on_closed_by_human=closed_by_human)
    await sink.act([opened()], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    del sim.repo(REPO).issues[issue.number]
    await sink.act([updated(streak=4)], gh, CONFIG, None)
    assert told == [issue.number]


async def test_a_failing_escalation_is_tried_again(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    sink = github_sink(store, commits, clock=lambda: 0.0)
    group = replace(
        CONFIG.groups[0], escalate_after=timedelta(minutes=90), escalation_owners=("erin",)
    )
    await sink.act([opened()], gh, replace(CONFIG, groups=(group,)), None)
    [issue] = alert_issues(sim)

    async def client_for(installation: int) -> GitHubClient:
        return gh

    sim.fail_next("GET", f"/repos/{REPO}/issues/{issue.number}", 500, times=4)
    assert await escalation.check_escalations(Records(store), client_for, 6000.0) == 0
    assert await escalation.check_escalations(Records(store), client_for, 6000.0) == 1
    [comment] = sim.comments(REPO, issue.number)
    assert "within 1 h 30 min" in comment and "@erin" in comment


# --- breakages: each with its own suspects, cap, labels and recovery ------------------------

SECOND, WIDE1, WIDE2 = SHAS[6], SHAS[7], SHAS[8]  # breakage B's culprit (#14), a wide range
LABEL = "ci: suspected breakage"


@pytest.fixture
def second_culprit(sim: SimulatedGitHub, commits: Commits) -> None:
    """Three more merged PRs after the first breakage's: #14, #15 and #16."""
    for sha, number in ((SECOND, 14), (WIDE1, 15), (WIDE2, 16)):
        message = f"Change {number} (#{number})"
        sim.add_commit(REPO, sha, message, author="carol", pr=number)
        commits.add(sha, message, author="carol")


def breakage(first: str, *suspects: str, job: JobKey = JOB) -> Breakage:
    shas = suspects or (first,)
    culprit = shas[0] if len(shas) == 1 else None
    return Breakage(jobs=(job,), suspects=shas, first_failure=first, culprit=culprit)


def with_breakages(decision: Decision, *breakages: Breakage) -> Decision:
    """The decision as the tracker makes it: its jobs and suspects are its breakages'."""
    jobs = tuple(FailingJob(b.jobs[0], 3, b.first_failure, None, "", b.suspects) for b in breakages)
    suspects = tuple(sorted({s for b in breakages for s in b.suspects}, key=SHAS.index))
    return replace(decision, jobs=jobs, suspects=suspects, breakages=breakages)


A = breakage(CULPRIT)
B = breakage(SECOND, job=OTHER_JOB)


def both(b: Breakage = B, **changes: Any) -> Decision:
    return with_breakages(updated(changed=("jobs", "suspects"), **changes), A, b)


def only(b: Breakage) -> Decision:
    return with_breakages(updated(changed=("jobs", "suspects")), b)


def labelled(sim: SimulatedGitHub) -> set[int]:
    return {n for n in (11, 12, 13, 14, 15, 16) if LABEL in sim.labels_of(REPO, n)}


@pytest.mark.usefixtures("second_culprit")
async def test_max_prs_applies_per_breakage(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    config = replace(CONFIG, suspects=SuspectsConfig(max_prs=1))
    await sink.act([with_breakages(opened(), A)], gh, config, None)
    assert labelled(sim) == {12}

    wide = breakage(SECOND, SECOND, WIDE1, WIDE2, job=OTHER_JOB)  # 3 PRs: more than 1
    await sink.act([both(wide)], gh, config, None)
    [issue] = alert_issues(sim)
    assert "Breakage 1: 1 job since" in issue.body and "Breakage 2: 1 job since" in issue.body
    assert "- Breakage 2: the range is too wide to name suspects: 3 commits" in issue.body
    assert "at most 1 pull request is labelled per breakage" in issue.body
    assert labelled(sim) == {12}  # the first breakage's culprit keeps its label
    assert not sim.requests_to("DELETE", f"/repos/{REPO}/issues/12/labels/*")
    assert sim.comments(REPO, 14) == []

    await sink.act([both(breakage(SECOND, WIDE1, job=OTHER_JOB))], gh, config, None)
    assert labelled(sim) == {12, 15}  # narrowed to one PR: labelled, by its own breakage
    assert "too wide" not in issue.body


@pytest.mark.usefixtures("second_culprit")
async def test_a_breakage_joins_and_recovers_with_a_comment_each_and_its_own_labels(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store, commits: Commits
) -> None:
    await sink.act([with_breakages(opened(), A)], gh, CONFIG, None)
    await sink.act([both()], gh, CONFIG, None)
    await sink.act([both()], gh, CONFIG, None)  # a redelivery
    [issue] = alert_issues(sim)
    [joined] = sim.comments(REPO, issue.number)
    assert joined.count("<!-- trunkwatch:breakage") == 1
    assert "Breakage 2 joined: inductor / test \\(inductor\\_huggingface\\)" in joined
    assert f"failing since [`{SECOND[:7]}`]" in joined and "[#14](" in joined
    assert labelled(sim) == {12, 14}

    restarted = github_sink(store, commits)  # what was shown is in the store
    await restarted.act([both(streak=4)], gh, CONFIG, None)
    await restarted.act([only(B)], gh, CONFIG, None)
    await sink.act([only(B)], gh, CONFIG, None)
    [recovered] = sim.comments(REPO, issue.number)[1:]
    assert f"Breakage 1 (1 job since [`{CULPRIT[:7]}`]" in recovered
    assert "recovered; breakage 2 is still failing." in recovered
    assert labelled(sim) == {14}  # its culprit's label went; the other breakage's stays
    assert issue.state == "open" and "Breakage 2" not in issue.body

    await sink.act([closed()], gh, CONFIG, None)
    assert labelled(sim) == set() and issue.state == "closed"


@pytest.mark.usefixtures("second_culprit")
async def test_a_recovered_breakage_keeps_its_confirmed_culprit_in_the_issue(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink
) -> None:
    confirmed = replace(A, status=CulpritStatus.CONFIRMED)
    await sink.act([with_breakages(opened(), confirmed, B)], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    assert f"Breakage 1: 1 job since [`{CULPRIT[:7]}`]" in issue.body

    await sink.act([only(B)], gh, CONFIG, None)  # the body names breakage 2 only now
    [recovered] = sim.comments(REPO, issue.number)
    assert f"Culprit: [`{CULPRIT[:7]}`]" not in issue.body
    pr = "[#12](https://github.com/octo/trunk/pull/12)"
    assert f"; culprit [`{CULPRIT[:7]}`]" in recovered
    assert f"({pr}), confirmed) recovered; breakage 2 is still failing." in recovered


@pytest.mark.usefixtures("second_culprit")
async def test_a_breakage_whose_jobs_leave_without_passing_is_not_recovered(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, commits: Commits
) -> None:
    passed: list[bool] = []  # what the tracker says of B's job since its first failure
    sink = github_sink(store, commits, passed_since=lambda *where: passed[-1])
    await sink.act([with_breakages(opened(), A, B)], gh, CONFIG, None)
    [issue] = alert_issues(sim)
    assert labelled(sim) == {12, 14}

    passed.append(False)  # a rerun of its first failure is running: back once it ends
    await sink.act([only(A)], gh, CONFIG, None)
    await sink.act([both()], gh, CONFIG, None)
    assert sim.comments(REPO, issue.number) == []
    assert labelled(sim) == {12, 14}
    assert not sim.requests_to("DELETE", f"/repos/{REPO}/issues/14/labels/*")

    passed.append(True)
    await sink.act([only(A)], gh, CONFIG, None)
    [recovered] = sim.comments(REPO, issue.number)
    assert "Breakage 2 (1 job since" in recovered and "breakage 1 is still failing" in recovered
    assert labelled(sim) == {12}


@pytest.mark.usefixtures("second_culprit")
async def test_a_pr_keeps_its_label_until_the_last_alert_and_breakage_let_go(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store
) -> None:
    config = replace(CONFIG, groups=(*CONFIG.groups, GroupConfig(name="cuda")))
    await sink.act([with_breakages(opened(), A, B)], gh, config, None)
    await sink.act([with_breakages(opened("c1", group="cuda"), B)], gh, config, None)
    holds = await store.find_records(SuspectHold, repo=REPO, pr=14)
    assert {(h.alert, h.breakage) for h in holds} == {("a1", SECOND), ("c1", SECOND)}

    await sink.act([only(A)], gh, config, None)  # B recovered in a1; c1 still suspects #14
    assert labelled(sim) == {12, 14}
    await sink.act([closed("c1", group="cuda")], gh, config, None)
    assert labelled(sim) == {12}


async def test_a_hold_kept_before_breakages_passes_to_the_breakage_without_a_gap(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store
) -> None:
    await sink.act([opened()], gh, CONFIG, None)  # no breakages: held by the alert as a whole
    assert await store.find_records(SuspectHold, repo=REPO, pr=12) == [SuspectHold(REPO, 12, "a1")]

    await sink.act([with_breakages(updated(streak=4), A)], gh, CONFIG, None)
    assert await store.find_records(SuspectHold, repo=REPO, pr=12) == [
        SuspectHold(REPO, 12, "a1", CULPRIT)
    ]
    assert not sim.requests_to("DELETE", f"/repos/{REPO}/issues/12/labels/*")
    assert LABEL in sim.labels_of(REPO, 12)
    record = await store.get_record(SuspectPRs, "a1")
    assert record is not None and record.prs["12"]["labelled"]

    await sink.act([closed()], gh, CONFIG, None)
    assert LABEL not in sim.labels_of(REPO, 12)
    assert await store.find_records(SuspectHold, repo=REPO, pr=12) == []


@pytest.mark.usefixtures("second_culprit")
async def test_unsuspect_and_suspect_with_breakages(
    sim: SimulatedGitHub, gh: GitHubClient, sink: GitHubSink, store: Store
) -> None:
    await sink.act([with_breakages(opened(), A, B)], gh, CONFIG, None)
    policy = policy_for(CONFIG, GROUP)
    assert await suspect_labels.unsuspect(gh, Records(store), REPO, "a1", 14, policy)
    await sink.act([both(streak=4)], gh, CONFIG, None)
    assert labelled(sim) == {12}  # cleared: its breakage does not label it again

    record = await alert_issue.load(Records(store), "a1")
    assert record is not None
    assert await suspect_labels.suspect(gh, Records(store), record, 16, policy, set()) is not None
    assert labelled(sim) == {12, 16}
    await sink.act([only(B)], gh, CONFIG, None)  # A recovered: a person's suspect stays
    assert labelled(sim) == {16}
    await sink.act([closed()], gh, CONFIG, None)
    assert labelled(sim) == set()
