"""Slash commands, end to end: real issue_comment payloads through the router and the worker,
a real engine and SQLite store, and the simulated GitHub over HTTP."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from gidgethub import routing

from bot.actions import alert_issue
from bot.actions.alert_lifecycle import GitHubSink
from bot.commands import parser, permissions, quiet
from bot.commands.limits import MAX_COMMANDS, ReplyLimits
from bot.commands.parser import COMMANDS, CommandError, parse_comment
from bot.config import RepoConfig, load_default
from bot.engine import Engine, Unit
from bot.events import PayloadError
from bot.github import GitHubApp, GitHubClient
from bot.handlers import issue_comment
from bot.policies import policy_for
from bot.records import ACKED, PENDING, Escalation
from bot.runtime.worker import Worker
from bot.sim.simulated_github import SimulatedGitHub
from bot.sim.simulated_github.state import Comment
from bot.store import open_store
from bot.store.base import Delivery, DeliveryStatus, Store
from bot.store.record_view import Records
from bot.tracker.model import CommitInfo, DecisionKind, JobResult, Push
from tests.conftest import INSTALLATION_ID
from tests.fixtures import load_payload

REPO = "octo-org/trunk"
WEB = "https://github.com"
JOB = "test (inductor, 1, 2, linux.g5.4xlarge)"
WRITER, READER = "alice", "mallory"
SHAS = [f"{n:02d}" * 20 for n in range(12)]


@pytest.fixture(autouse=True)
def fresh_permissions() -> Iterator[None]:
    permissions.forget()
    yield
    permissions.forget()


@dataclass
class Env:
    sim: SimulatedGitHub
    gh: GitHubClient
    store: Store
    engine: Engine
    sink: GitHubSink
    worker: Worker
    configs: Configs
    deliveries: int = 0
    comments: int = 0

    # --- trunk facts, fed as the push and workflow handlers would ------------------------

    async def feed(self, *facts: Push | JobResult) -> list[Any]:
        self.deliveries += 1
        unit = Unit(f"facts-{self.deliveries}")
        for fact in facts:
            if isinstance(fact, Push):
                await self.engine.push(self.gh, fact, "main", unit)
            else:
                await self.engine.results(self.gh, REPO, "main", [fact], unit)
        if unit.decisions:
            await self.sink.act(unit.decisions, self.gh, unit.configs[REPO], unit)
        await self.store.save_changes(unit.changes)
        return unit.decisions

    async def push(self, first: int, last: int) -> None:
        """Commits `first`..`last` pushed to main (each with its PR)."""
        commits = []
        for n in range(first, last + 1):
            message = f"change {n} (#{100 + n})"
            self.sim.add_commit(REPO, SHAS[n], message, author="bob", pr=100 + n)
            commits.append(CommitInfo(SHAS[n], message, "bob"))
        before = SHAS[first - 1] if first else "0" * 40
        await self.feed(Push(REPO, "main", before, SHAS[last], tuple(commits)))

    async def break_trunk(self) -> int:
        """Commit 0 green, commits 1-3 failing: the inductor group's alert issue is filed."""
        await self.push(0, 3)
        decisions = []
        for n in range(4):
            decisions += await self.feed(self.result(n, "success" if n == 0 else "failure"))
        assert [d.kind for d in decisions] == [DecisionKind.OPEN]
        return self.sim.issues(REPO)[-1].number

    def result(
        self, n: int, conclusion: str, run_id: int | None = None, job: str = JOB, url: bool = True
    ) -> JobResult:
        run_id = run_id or 1000 + n
        job_id = 5000 + run_id
        self.sim.add_run(
            REPO,
            run_id,
            jobs=[{"name": job, "conclusion": conclusion, "id": job_id}],
            head_sha=SHAS[n],
            workflow="inductor",
        )
        return JobResult(
            repo=REPO,
            branch="main",
            head_sha=SHAS[n],
            workflow="inductor",
            job=job,
            run_id=run_id,
            run_attempt=1,
            conclusion=conclusion,
            job_id=job_id,
            url=f"{WEB}/{REPO}/actions/runs/{run_id}/job/{job_id}" if url else "",
        )

    # --- comments, delivered through the worker --------------------------------------------

    def payload(
        self,
        body: str,
        number: int,
        *,
        user: str = WRITER,
        action: str = "created",
        user_type: str = "User",
        via_app: bool = False,
    ) -> dict[str, Any]:
        data = copy.deepcopy(load_payload("issue_comment/octokit.created.json"))
        issue = self.sim.repo(REPO).issues[number]
        comment = Comment(number, body, user)
        issue.comments.append(comment)
        data["action"] = action
        data["comment"].update(
            id=comment.id,
            body=body,
            html_url=f"{WEB}/{REPO}/issues/{number}#issuecomment-{comment.id}",
        )
        data["comment"]["user"].update(login=user, type=user_type)
        data["sender"].update(login=user, type=user_type)
        if via_app:
            data["comment"]["performed_via_github_app"] = {"id": 1, "slug": "other-app"}
        data["issue"].update(
            number=number,
            body=issue.body,
            html_url=f"{WEB}/{REPO}/issues/{number}",
            user={"login": issue.user, "type": "Bot" if issue.user.endswith("[bot]") else "User"},
        )
        if issue.pull is not None:
            data["issue"]["pull_request"] = {"url": f"{WEB}/{REPO}/pull/{number}"}
        owner, _, name = REPO.partition("/")
        data["repository"].update(full_name=REPO, name=name, default_branch="main")
        data["repository"]["owner"]["login"] = owner
        data["installation"] = {"id": INSTALLATION_ID}
        return data

    async def deliver(self, payload: dict[str, Any]) -> None:
        self.deliveries += 1
        delivery_id = f"comment-{self.deliveries}"
        await self.store.add_delivery(
            Delivery(
                delivery_id=delivery_id,
                event="issue_comment",
                repo=REPO,
                installation_id=INSTALLATION_ID,
                body=json.dumps(payload).encode(),
                received_at=time.time(),
            )
        )
        assert await self.worker.run_once()
        done = await self.store.get_delivery(delivery_id)
        assert done is not None and done.status is DeliveryStatus.DONE, done

    async def comment(self, body: str, number: int, **options: Any) -> dict[str, Any]:
        payload = self.payload(body, number, **options)
        await self.deliver(payload)
        return payload

    # --- reading back ------------------------------------------------------------------------

    def replies(self, number: int) -> list[str]:
        comments = self.sim.repo(REPO).issues[number].comments
        return [c.body for c in comments if c.user == "trunkwatch[bot]"]

    def command_replies(self, number: int) -> list[str]:
        return [body for body in self.replies(number) if "trunkwatch:command_reply" in body]

    def reactions(self, payload: dict[str, Any]) -> list[str]:
        found = self.sim.repo(REPO).find_comment(payload["comment"]["id"])
        assert found is not None
        return [r.content for r in found.reactions]

    async def alert(self) -> Any:
        tracker = self.engine.loaded(REPO)
        assert tracker is not None
        return tracker.alerts()[-1]


class Configs:
    """The built-in configuration for every repository, or none (`config = None`)."""

    def __init__(self) -> None:
        self.config: RepoConfig | None = load_default()

    async def for_repo(self, gh: Any, repo: str, default_branch: str) -> RepoConfig | None:
        return self.config

    def invalidate(self, repo: str) -> None:
        """Nothing is cached."""


@pytest.fixture
async def env(
    sim: SimulatedGitHub, gh: GitHubClient, github_app: GitHubApp, tmp_path: Path
) -> AsyncIterator[Env]:
    sim.add_repo(REPO)
    sim.set_permission(REPO, WRITER, "write")
    sim.set_permission(REPO, READER, "read")
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    await store.open()
    configs = Configs()
    engine = Engine(store, configs)
    sink = GitHubSink(partial(Records, store), policy_for=policy_for)
    router = routing.Router(issue_comment.router)
    worker = Worker(store, engine, router, sink, configs, github_app, max_attempts=1)
    try:
        yield Env(sim, gh, store, engine, sink, worker, configs)
    finally:
        await store.close()


# --- the parser ------------------------------------------------------------------------------


def test_several_command_lines_each_parsed_and_others_ignored() -> None:
    body = (
        "Looking into it.\n"
        "/trunkwatch ack\n"
        "  /trunkwatch snooze 2h\n"
        "> /trunkwatch resolve\n"
        "```\n/trunkwatch rerun\n```\n"
        "    /trunkwatch recheck\n"
        "@trunkwatch suspect #12\n"
        "not /trunkwatch mute x 1d\n"
        "/trunkwatchx help\n"
    )
    parsed = parse_comment(body, "/trunkwatch", "trunkwatch")
    assert [p.name for p in parsed if not isinstance(p, CommandError)] == [
        "ack",
        "snooze",
        "suspect",
    ]
    snooze = parsed[1]
    assert not isinstance(snooze, CommandError)
    assert snooze.duration is not None and snooze.duration.total_seconds() == 7200
    suspect = parsed[2]
    assert not isinstance(suspect, CommandError) and suspect.pr == 12


def test_configured_prefix_and_until_green() -> None:
    (cmd,) = parse_comment("/tw snooze until-green", "/tw")
    assert not isinstance(cmd, CommandError) and cmd.until_green
    assert parse_comment("/trunkwatch ack", "/tw") == []
    (bare,) = parse_comment("/tw", "/tw")
    assert not isinstance(bare, CommandError) and bare.name == "help"


@pytest.mark.parametrize(
    ("line", "message", "usage"),
    [
        ("/trunkwatch snooze", "needs <duration|until-green>", "snooze <duration|until-green>"),
        ("/trunkwatch snooze soon", "is not a duration", "snooze <duration|until-green>"),
        ("/trunkwatch snooze 31d", "at most 30 days", "snooze <duration|until-green>"),
        ("/trunkwatch mute inductor", "needs <duration>", "mute <group> <duration>"),
        ("/trunkwatch suspect abc", "is not a pull request", "suspect <#N>"),
        ("/trunkwatch ack now please", "does not take", "/trunkwatch ack"),
        ("/trunkwatch snoze 2h", "Did you mean `snooze`", "/trunkwatch rerun"),
    ],
)
def test_bad_lines_raise_with_usage(line: str, message: str, usage: str) -> None:
    (error,) = parse_comment(line)
    assert isinstance(error, CommandError)
    assert message in error.message
    assert usage in error.usage
    assert error.line == line


def test_help_lists_every_command_of_the_table() -> None:
    text = parser.help_text("/trunkwatch")
    for spec in COMMANDS:
        assert f"`/trunkwatch {spec.name}" in text
        assert spec.summary in text
    assert text.count("\n| `") == len(COMMANDS)


def test_pull_request_url_accepted() -> None:
    (cmd,) = parse_comment(f"/trunkwatch unsuspect {WEB}/{REPO}/pull/77")
    assert not isinstance(cmd, CommandError) and cmd.pr == 77


# --- ignored comments ------------------------------------------------------------------------


async def test_edited_deleted_and_bot_comments_do_nothing(env: Env) -> None:
    number = env.sim.add_issue(REPO, "Something").number
    before = len(env.sim.requests)
    await env.comment("/trunkwatch help", number, action="edited")
    await env.comment("/trunkwatch help", number, action="deleted")
    await env.comment("/trunkwatch help", number, user="dependabot[bot]", user_type="Bot")
    await env.comment("/trunkwatch help", number, user="someone", via_app=True)
    await env.comment("thanks, no command here", number)
    assert env.sim.requests[before:] == []
    assert env.replies(number) == []


# --- anywhere: help, status, mute, unmute ------------------------------------------------------


async def test_help_from_anyone_anywhere(env: Env) -> None:
    number = env.sim.add_issue(REPO, "A question").number
    payload = await env.comment("/trunkwatch help", number, user=READER)
    (reply,) = env.replies(number)
    for spec in COMMANDS:
        assert f"/trunkwatch {spec.name}" in reply
    assert env.reactions(payload) == ["+1"]
    assert env.sim.requests_to("GET", "/repos/*/collaborators/*/permission") == []


async def test_status_names_broken_group_streak_suspects_and_issue(env: Env) -> None:
    alert_number = await env.break_trunk()
    number = env.sim.add_issue(REPO, "What is going on?").number
    payload = await env.comment("/trunkwatch status", number, user=READER)
    (reply,) = env.replies(number)
    assert "inductor" in reply and "broken" in reply
    assert "3 (threshold 3)" in reply
    assert f"#{alert_number}" in reply
    assert f"`{SHAS[1][:7]}`" in reply
    assert "Green: trunk on main, pull on main." in reply
    assert env.reactions(payload) == ["+1"]
    await env.comment("/trunkwatch status nosuch", number)
    assert "There is no group `nosuch`" in env.replies(number)[-1]


async def test_status_after_a_restart_reads_the_store(env: Env) -> None:
    alert_number = await env.break_trunk()
    env.engine.forget_all()  # what a new process (or another replica) has in memory
    number = env.sim.add_issue(REPO, "What is going on?").number
    await env.comment("/trunkwatch status", number, user=READER)
    (reply,) = env.replies(number)
    assert "inductor" in reply and "broken" in reply and f"#{alert_number}" in reply


async def test_mute_and_unmute_from_a_writer(env: Env) -> None:
    number = env.sim.add_issue(REPO, "Infra maintenance").number
    payload = await env.comment("/trunkwatch mute inductor 1d", number)
    assert env.reactions(payload) == ["+1"]
    assert "Muted by alice" in env.replies(number)[-1]
    now = time.time()
    reason = await quiet.suppressed(env.store, REPO, "release", "inductor", now)
    assert reason is not None and reason.startswith("muted until")
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", now + 86400 + 60) is None
    assert await quiet.suppressed(env.store, REPO, "main", "trunk", now) is None
    await env.comment("/trunkwatch unmute inductor", number)
    assert "Unmuted by alice" in env.replies(number)[-1]
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", time.time()) is None


async def test_mute_of_unknown_group_is_an_error_with_usage(env: Env) -> None:
    number = env.sim.add_issue(REPO, "x").number
    payload = await env.comment("/trunkwatch mute indcutor 1d", number)
    reply = env.replies(number)[-1]
    assert "There is no group `indcutor`" in reply
    assert "/trunkwatch mute <group> <duration>" in reply
    assert env.reactions(payload) == ["confused"]


async def test_read_only_user_is_refused_and_nothing_changes(env: Env) -> None:
    alert_number = await env.break_trunk()
    alert = await env.alert()
    before = len(env.sim.issues(REPO))
    for line in (
        "ack",
        "snooze 2h",
        "mute inductor 1d",
        "resolve",
        "suspect #101",
        "unsuspect #101",
        "recheck",
        "rerun",
    ):
        payload = await env.comment(f"/trunkwatch {line}", alert_number, user=READER)
        assert "needs write access" in env.replies(alert_number)[-1], line
        assert env.reactions(payload) == [], line
    assert (await env.alert()) == alert
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", time.time()) is None
    assert env.sim.reruns(REPO) == []
    assert len(env.sim.issues(REPO)) == before
    assert env.sim.issues(REPO)[-1].state == "open"
    record = await env.store.get_record(Escalation, alert.alert)
    assert record is not None and record.state == PENDING
    # One permission call for the whole thread: the answer is cached.
    assert len(env.sim.requests_to("GET", "/repos/*/collaborators/*/permission")) == 1


# --- on an alert issue --------------------------------------------------------------------------


async def test_alert_command_elsewhere_says_where_it_works(env: Env) -> None:
    await env.break_trunk()
    number = env.sim.add_issue(REPO, "Unrelated").number
    payload = await env.comment("/trunkwatch resolve", number)
    assert "works on an alert issue" in env.replies(number)[-1]
    assert env.reactions(payload) == ["confused"]
    assert (await env.alert()).open


async def test_ack_and_unack(env: Env) -> None:
    number = await env.break_trunk()
    alert = await env.alert()
    payload = await env.comment("/trunkwatch ack", number)
    assert env.reactions(payload) == ["+1"]
    assert "Acknowledged by alice" in env.replies(number)[-1]
    assert "escalation will not fire" in env.replies(number)[-1]
    record = await env.store.get_record(Escalation, alert.alert)
    assert record is not None
    assert record.state == ACKED and record.acked_by == WRITER
    status_issue = env.sim.add_issue(REPO, "status").number
    await env.comment("/trunkwatch status inductor", status_issue)
    assert "(ack: alice)" in env.replies(status_issue)[-1]
    await env.comment("/trunkwatch unack", number)
    assert "Acknowledgement withdrawn" in env.replies(number)[-1]
    record = await env.store.get_record(Escalation, alert.alert)
    assert record is not None and record.state == PENDING


async def test_snooze_suppresses_a_new_alert_for_the_group(env: Env) -> None:
    number = await env.break_trunk()
    payload = await env.comment("/trunkwatch snooze 2h", number)
    assert env.reactions(payload) == ["+1"]
    assert "no new alert issue for **inductor** on main until" in env.replies(number)[-1]
    now = time.time()
    reason = await quiet.suppressed(env.store, REPO, "main", "inductor", now)
    assert reason is not None and reason.startswith("snoozed until")
    assert await quiet.suppressed(env.store, REPO, "release", "inductor", now) is None
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", now + 7300) is None


async def test_snooze_until_green_ends_when_the_alert_recovers(env: Env) -> None:
    number = await env.break_trunk()
    await env.comment("/trunkwatch snooze until-green", number)
    assert "until the group is green again" in env.replies(number)[-1]
    reason = await quiet.suppressed(env.store, REPO, "main", "inductor", time.time())
    assert reason is not None and "green" in reason
    env.sim.add_commit(REPO, SHAS[4], "fix (#104)", author="bob", pr=104)
    await env.feed(Push(REPO, "main", SHAS[3], SHAS[4], (CommitInfo(SHAS[4], "fix (#104)"),)))
    decisions = await env.feed(env.result(4, "success"))
    assert [d.kind for d in decisions] == [DecisionKind.CLOSE]
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", time.time()) is None


async def test_resolve_closes_and_the_same_streak_never_refiles(env: Env) -> None:
    number = await env.break_trunk()
    payload = await env.comment("/trunkwatch resolve", number)
    assert env.reactions(payload) == ["+1"]
    assert "Resolved by a maintainer" in env.replies(number)[-1]
    assert not any("command_reply" in body for body in env.replies(number))
    issue = env.sim.repo(REPO).issues[number]
    assert issue.state == "closed"
    assert not (await env.alert()).open
    # More failures of the same streak: nothing is filed again.
    for n in (4, 5, 6):
        env.sim.add_commit(REPO, SHAS[n], f"change {n}", author="bob")
        await env.feed(Push(REPO, "main", SHAS[n - 1], SHAS[n], (CommitInfo(SHAS[n]),)))
        decisions = await env.feed(env.result(n, "failure"))
        assert not any(d.kind is DecisionKind.OPEN for d in decisions)
    assert [i.number for i in env.sim.issues(REPO) if i.state == "open"] == []
    await env.comment("/trunkwatch resolve", number)
    assert "closed" in env.replies(number)[-1]


async def test_suspect_and_unsuspect(env: Env) -> None:
    number = await env.break_trunk()
    env.sim.add_pull(REPO, 150, title="Another change", author="carol")
    payload = await env.comment("/trunkwatch suspect #150", number)
    assert env.reactions(payload) == ["+1"]
    assert "#150 is now a suspect" in env.replies(number)[-1]
    assert "ci: suspected breakage" in env.sim.labels_of(REPO, 150)
    assert any("suspect" in body for body in env.sim.comments(REPO, 150))
    await env.comment("/trunkwatch unsuspect #150", number)
    assert "Cleared #150" in env.replies(number)[-1]
    assert "ci: suspected breakage" not in env.sim.labels_of(REPO, 150)
    await env.comment("/trunkwatch suspect #9999", number)
    assert "not a pull request of this repository" in env.replies(number)[-1]


async def test_rerun_asks_github_for_the_newest_failing_runs(env: Env) -> None:
    number = await env.break_trunk()
    payload = await env.comment("/trunkwatch rerun", number)
    assert env.reactions(payload) == ["+1"]
    # The newest failure of the one failing job is on commit 3, run 1003.
    assert env.sim.reruns(REPO) == [1003]
    posts = env.sim.requests_to("POST", "/repos/*/actions/runs/*/rerun-failed-jobs")
    assert [r.path for r in posts] == [f"/repos/{REPO}/actions/runs/1003/rerun-failed-jobs"]
    assert "run 1003" in env.replies(number)[-1]


async def test_rerun_refused_by_github_is_reported(env: Env) -> None:
    number = await env.break_trunk()
    env.sim.fail_next(
        "POST",
        "/repos/*/actions/runs/*/rerun-failed-jobs",
        403,
        body={"message": "Unable to retry this workflow run: it was created over a month ago"},
    )
    await env.comment("/trunkwatch rerun", number)
    assert "GitHub refused to rerun" in env.replies(number)[-1]


async def test_recheck_rereads_jobs_and_closes_when_they_passed(env: Env) -> None:
    number = await env.break_trunk()
    # The failed job was rerun and passed, but that event never reached the App.
    env.sim.add_run(
        REPO, 1003, jobs=[{"name": JOB, "conclusion": "success", "id": 7003}], head_sha=SHAS[3]
    )
    payload = await env.comment("/trunkwatch recheck", number)
    assert env.reactions(payload) == ["+1"]
    jobs_read = env.sim.requests_to("GET", "/repos/*/actions/runs/1003/attempts/*/jobs")
    assert jobs_read, "the jobs of the failing run were read again"
    (reply,) = env.command_replies(number)
    assert "Read 1 run(s) again: 1 job(s), 0 failing. The group is green again" in reply
    assert not (await env.alert()).open
    assert env.sim.repo(REPO).issues[number].state == "closed"


async def test_recheck_when_still_failing_changes_nothing(env: Env) -> None:
    number = await env.break_trunk()
    await env.comment("/trunkwatch recheck", number)
    assert "1 failing" in env.replies(number)[-1]
    assert "The alert stands" in env.replies(number)[-1]
    assert (await env.alert()).open


async def test_several_commands_in_one_comment_get_one_reply(env: Env) -> None:
    number = await env.break_trunk()
    payload = await env.comment("/trunkwatch ack\n/trunkwatch snooze 1x\n", number)
    (reply,) = env.command_replies(number)
    assert reply.index("Acknowledged") < reply.index("not a duration")
    assert "snooze <duration|until-green>" in reply
    assert sorted(env.reactions(payload)) == ["+1", "confused"]


async def test_a_flood_of_commands_gets_one_reply(env: Env) -> None:
    """The abuse case: 30 lines from a read-only user, half of them the same, half bogus."""
    number = env.sim.add_issue(REPO, "Question").number
    lines = ["/trunkwatch help"] * 15 + [f"/trunkwatch bogus{i}" for i in range(15)]
    before = len(env.sim.requests)
    payload = await env.comment("\n".join(lines), number, user=READER)
    (reply,) = env.command_replies(number)
    assert len(env.replies(number)) == 1
    assert reply.count("Unknown command") == MAX_COMMANDS - 1  # help once, then 4 bogus
    assert f"11 more command lines were ignored: at most {MAX_COMMANDS}" in reply
    assert sorted(env.reactions(payload)) == ["+1", "confused"]
    calls = env.sim.requests[before:]
    assert len(calls) <= 6, calls  # comment list, reply, two reactions (no permission needed)


async def test_a_huge_comment_costs_a_handful_of_calls(env: Env) -> None:
    number = env.sim.add_issue(REPO, "Question").number
    body = "\n".join(f"/trunkwatch ack{i}" for i in range(6000))[:65536]
    before = len(env.sim.requests)
    await env.comment(body, number, user=READER)
    assert len(env.command_replies(number)) == 1
    assert len(env.sim.requests) - before <= 6


async def test_replies_are_rate_limited_per_user_and_per_repository(env: Env) -> None:
    clock = [0.0]
    limits = ReplyLimits(per_user=2, per_repo=3, window=60.0, clock=lambda: clock[0])
    env.worker.handler_options["command_limits"] = limits
    number = env.sim.add_issue(REPO, "Question").number
    for _ in range(4):
        await env.comment("/trunkwatch help", number, user=READER)
    assert len(env.command_replies(number)) == 2  # the reader's two
    await env.comment("/trunkwatch help", number, user=WRITER)
    await env.comment("/trunkwatch help", number, user=WRITER)
    assert len(env.command_replies(number)) == 3  # the repository's three
    clock[0] = 61.0
    await env.comment("/trunkwatch help", number, user=READER)
    assert len(env.command_replies(number)) == 4


async def test_over_the_limit_a_writer_still_changes_state(env: Env) -> None:
    limits = ReplyLimits(per_user=0, per_repo=0)
    env.worker.handler_options["command_limits"] = limits
    number = await env.break_trunk()
    before = len(env.command_replies(number))
    payload = await env.comment("/trunkwatch ack\n/trunkwatch help", number)
    assert env.reactions(payload) == ["+1"]
    assert len(env.command_replies(number)) == before  # acknowledged, but not answered
    record = await env.store.get_record(Escalation, (await env.alert()).alert)
    assert record is not None and record.state != PENDING


async def test_every_command_is_audited_with_its_author(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    number = env.sim.add_issue(REPO, "Question").number
    caplog.set_level(logging.INFO, logger="bot.commands.runner")
    await env.comment("/trunkwatch help\n/trunkwatch mute inductor 1d", number, user=READER)
    audits = [r for r in caplog.records if r.getMessage() == "command"]
    fields = [(vars(r)["user"], vars(r)["command"], vars(r)["outcome"]) for r in audits]
    assert fields == [
        (READER, "help", "accepted"),
        (READER, "mute", "refused"),
    ]


async def test_a_retried_delivery_posts_no_second_reply(env: Env) -> None:
    number = await env.break_trunk()
    payload = env.payload("/trunkwatch rerun", number)
    await env.deliver(payload)
    await env.deliver(payload)
    assert len(env.command_replies(number)) == 1
    assert env.sim.reruns(REPO) == [1003]


# --- the edges ---------------------------------------------------------------------------------


async def test_unwatched_repository(env: Env) -> None:
    env.configs.config = None
    number = env.sim.add_issue(REPO, "Hello").number
    await env.comment("/trunkwatch help", number)
    assert "/trunkwatch rerun" in env.replies(number)[-1]
    for line in ("status", "mute inductor 1d"):
        await env.comment(f"/trunkwatch {line}", number)
        assert "not watching this repository" in env.replies(number)[-1]
    await env.comment("/trunkwatch ack", number)
    assert "works on an alert issue" in env.replies(number)[-1]


async def test_alert_commands_on_a_pull_request_say_where_they_work(env: Env) -> None:
    await env.break_trunk()
    payload = await env.comment("/trunkwatch ack", 101)
    assert "works on an alert issue" in env.replies(101)[-1]
    assert env.reactions(payload) == ["confused"]


async def test_alert_found_by_its_marker_when_the_store_lost_the_issue(env: Env) -> None:
    number = await env.break_trunk()
    await env.store.put_state(alert_issue.BY_NUMBER, f"{REPO}#{number}", None)
    await env.comment("/trunkwatch snooze 1h", number)
    assert "Snoozed by alice" in env.replies(number)[-1]
    assert await quiet.suppressed(env.store, REPO, "main", "inductor", time.time())


async def test_a_planted_marker_on_a_human_issue_is_no_alert(env: Env) -> None:
    number = await env.break_trunk()
    body = env.sim.repo(REPO).issues[number].body
    fake = env.sim.add_issue(REPO, "fake", body=body, author="mallory").number
    await env.comment("/trunkwatch resolve", fake)
    assert "works on an alert issue" in env.replies(fake)[-1]
    assert (await env.alert()).open


async def test_a_marker_planted_by_another_app_is_no_alert(env: Env) -> None:
    number = await env.break_trunk()
    body = env.sim.repo(REPO).issues[number].body
    fake = env.sim.add_issue(REPO, "fake", body=body, author="evil-app[bot]").number
    await env.comment("/trunkwatch resolve", fake)
    assert "works on an alert issue" in env.replies(fake)[-1]
    assert (await env.alert()).open


async def test_nothing_to_withdraw_or_clear(env: Env) -> None:
    number = await env.break_trunk()
    await env.comment("/trunkwatch unack", number)
    assert "Nobody had acknowledged" in env.replies(number)[-1]
    await env.comment("/trunkwatch unsuspect #42", number)
    assert "#42 was not a suspect" in env.replies(number)[-1]
    await env.comment("/trunkwatch unmute", number)
    assert "**inductor** was not muted" in env.replies(number)[-1]
    other = env.sim.add_issue(REPO, "other").number
    await env.comment("/trunkwatch unmute", other)
    assert "Which group?" in env.replies(other)[-1]


async def test_unmute_defaults_to_the_alerts_group(env: Env) -> None:
    number = await env.break_trunk()
    await env.comment("/trunkwatch mute inductor 2h", number)
    await env.comment("/trunkwatch unmute", number)
    assert "Unmuted by alice: **inductor**" in env.replies(number)[-1]


async def test_commands_on_a_closed_alert(env: Env) -> None:
    number = await env.break_trunk()
    await env.comment("/trunkwatch resolve", number)
    for line in ("ack", "rerun", "recheck", "suspect #101"):
        payload = await env.comment(f"/trunkwatch {line}", number)
        assert "This alert is closed" in env.command_replies(number)[-1], line
        assert env.reactions(payload) == ["confused"]


async def test_a_stranger_without_access_is_refused(env: Env) -> None:
    number = await env.break_trunk()
    env.sim.fail_next(
        "GET", "/repos/*/collaborators/*/permission", 404, body={"message": "Not Found"}
    )
    await env.comment("/trunkwatch ack", number, user="stranger")
    assert "needs write access" in env.replies(number)[-1]


async def test_a_request_github_refuses_is_reported(env: Env) -> None:
    number = await env.break_trunk()
    env.sim.add_pull(REPO, 150, title="Another change", author="carol")
    env.sim.fail_next("GET", "/repos/*/pulls/150", 403, body={"message": "Forbidden"})
    payload = await env.comment("/trunkwatch suspect #150", number)
    assert "GitHub refused a request of `suspect` (403)" in env.replies(number)[-1]
    assert env.reactions(payload) == ["confused"]


async def test_recheck_of_a_deleted_run(env: Env) -> None:
    number = await env.break_trunk()
    env.sim.fail_next("GET", "/repos/*/actions/runs/1003", 404, body={"message": "Not Found"})
    await env.comment("/trunkwatch recheck", number)
    assert "0 job(s), 0 failing. The alert stands" in env.replies(number)[-1]


async def test_rerun_and_recheck_without_links_to_runs(env: Env) -> None:
    await env.push(0, 3)
    for n in range(4):
        await env.feed(env.result(n, "success" if n == 0 else "failure", url=False))
    number = env.sim.issues(REPO)[-1].number
    for line in ("rerun", "recheck"):
        await env.comment(f"/trunkwatch {line}", number)
        assert "names no workflow runs" in env.replies(number)[-1]


async def test_status_when_no_passing_commit_is_known_and_snoozed(env: Env) -> None:
    await env.push(0, 2)
    for n in range(3):
        await env.feed(env.result(n, "failure"))
    number = env.sim.issues(REPO)[-1].number
    await env.comment("/trunkwatch snooze 3h", number)
    await env.comment("/trunkwatch status inductor", number)
    reply = env.replies(number)[-1]
    assert "unknown (no passing commit)" in reply
    assert "snoozed until" in reply
    assert "Green:" not in reply


async def test_status_of_a_wide_breakage(env: Env) -> None:
    jobs = [f"test (suite{k}, 1, 1)" for k in range(4)]
    await env.push(0, 9)
    for k, job in enumerate(jobs):
        await env.feed(env.result(0, "success", run_id=2000 + k, job=job))
    for n in (7, 8, 9):
        for k, job in enumerate(jobs):
            await env.feed(env.result(n, "failure", run_id=2000 + 10 * n + k, job=job))
    number = env.sim.add_issue(REPO, "status").number
    await env.comment("/trunkwatch status", number)
    reply = env.replies(number)[-1]
    assert "+1 more" in reply
    assert "7 commits" in reply


async def test_status_when_all_is_green(env: Env) -> None:
    number = env.sim.add_issue(REPO, "status").number
    await env.comment("/trunkwatch status", number)
    assert env.replies(number)[-1].endswith(
        "Nothing is failing.\n\nGreen: inductor on main, trunk on main, pull on main."
    )


async def test_status_of_a_group_below_its_threshold(env: Env) -> None:
    await env.push(0, 1)
    await env.feed(env.result(0, "success"), env.result(1, "failure"))
    number = env.sim.add_issue(REPO, "status").number
    await env.comment("/trunkwatch status", number)
    reply = env.replies(number)[-1]
    assert "| inductor | main | 🟡 failing | 1 (threshold 3) |" in reply
    assert reply.count("\n| ") == 2  # the header and one row


async def test_permission_and_run_lookups_github_refuses(env: Env) -> None:
    number = await env.break_trunk()
    forbidden = {"message": "Resource not accessible by integration"}
    env.sim.fail_next("GET", "/repos/*/collaborators/*/permission", 403, body=forbidden)
    await env.comment("/trunkwatch ack", number)
    assert "GitHub refused a request of `ack` (403)" in env.replies(number)[-1]
    env.sim.fail_next("GET", "/repos/*/actions/runs/1003", 403, body=forbidden)
    await env.comment("/trunkwatch recheck", number)
    assert "GitHub refused a request of `recheck` (403)" in env.replies(number)[-1]


@pytest.mark.parametrize("drop", ["comment", "issue"])
def test_a_payload_without_comment_or_issue_is_malformed(drop: str) -> None:
    payload = load_payload("issue_comment/octokit.created.json")
    del payload[drop]
    with pytest.raises(PayloadError):
        issue_comment.parse_new_comment(payload)


def test_a_payload_without_ids_is_malformed() -> None:
    payload = load_payload("issue_comment/octokit.created.json")
    payload["comment"]["id"] = "x"
    with pytest.raises(PayloadError):
        issue_comment.parse_new_comment(payload)


def test_real_payloads_parse() -> None:
    torchci = issue_comment.parse_new_comment(
        load_payload("issue_comment/pytorch-torchci.created.json")
    )
    assert torchci.author == "kit1980" and not torchci.by_bot
    assert torchci.repo.count("/") == 1 and torchci.comment_id > 0
