"""Revert pull requests, end to end: `/trunkwatch revert` through the worker, and
`culprit.revert: auto` for a confirmed culprit, against the simulated GitHub over HTTP with a
real engine and SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.actions import revert as reverts
from bot.actions.alert_issue import load
from bot.actions.policy import AlertPolicy
from bot.config import load_text
from bot.policies import policy_for
from bot.records import CulpritRun, Revert
from bot.sim.simulated_github.state import Issue
from bot.store.record_view import Records
from bot.tracker.model import CommitInfo, CulpritStatus, Decision, DecisionKind, Push
from bot.web.metrics import Metrics
from bot.web.ops import add_ops_routes
from tests import test_commands
from tests.test_commands import JOB, READER, REPO, SHAS, Env

# The same App, store and trunk as the other commands' tests (pytest fixtures).
env = test_commands.env
fresh_permissions = test_commands.fresh_permissions

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
CULPRIT_PR = 101
OPENED = reverts.OPENED
REVERT_TITLE = 'Revert "change 1 (#101)"'
DAY = 24 * 3600


async def push(env: Env, first: int, last: int, files: dict[int, list[str]]) -> None:
    """Commits `first`..`last` pushed to main, each with its PR and the files it changes."""
    commits = []
    for n in range(first, last + 1):
        message = f"change {n} (#{100 + n})"
        changed = files.get(n, [f"src/file{n}.py"])
        env.sim.add_commit(REPO, SHAS[n], message, author="bob", pr=100 + n, files=changed)
        commits.append(CommitInfo(SHAS[n], message, "bob"))
    before = SHAS[first - 1] if first else "0" * 40
    await env.feed(Push(REPO, "main", before, SHAS[last], tuple(commits)))


async def confirm(env: Env, files: dict[int, list[str]] | None = None) -> tuple[int, Decision]:
    """Commit 0 green; commit 1 fails on two attempts, 2 and 3 fail too: its alert issue is
    filed and commit 1 is the confirmed culprit. Returns the issue and the latest decision."""
    await push(env, 0, 3, files or {})
    failed = env.result(1, "failure")
    again = replace(failed, run_attempt=2, job_id=failed.job_id + 1)
    decisions: list[Decision] = []
    for fact in (env.result(0, "success"), failed, again):
        decisions += await env.feed(fact)
    for n in (2, 3):
        decisions += await env.feed(env.result(n, "failure"))
    latest = [d for d in decisions if d.kind is not DecisionKind.CLOSE][-1]
    (breakage,) = latest.breakages
    assert breakage.status is CulpritStatus.CONFIRMED and breakage.culprit == SHAS[1]
    return env.sim.issues(REPO)[-1].number, latest


def iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def revert_prs(env: Env) -> list[Issue]:
    pulls = env.sim.issues(REPO, include_pulls=True)
    return [p for p in pulls if p.pull is not None and p.title.startswith("Revert ")]


def reverted_told(env: Env) -> list[str]:
    """The comments on the culprit's pull request that name its revert."""
    comments = env.sim.repo(REPO).issues[CULPRIT_PR].comments
    return [c.body for c in comments if "trunkwatch:revert" in c.body]


def graphql_calls(env: Env) -> int:
    return len(env.sim.requests_to("POST", "/graphql"))


def auto_policy(env: Env, **more: Any) -> AlertPolicy:
    return replace(policy_for(env.configs.config, "inductor"), revert="auto", **more)


async def run_auto(env: Env, decision: Decision, policy: AlertPolicy) -> list[Revert]:
    return await reverts.auto(decision, env.gh, policy, Records(env.store), time.time(), set())


# --- the command -----------------------------------------------------------------------------


async def test_revert_opens_one_pull_request_even_when_delivered_twice(env: Env) -> None:
    number, _ = await confirm(env)
    payload = env.payload("/trunkwatch revert", number)
    await env.deliver(payload)
    await env.deliver(payload)  # GitHub redelivers it: the command runs again

    (pr,) = revert_prs(env)
    assert pr.title == REVERT_TITLE and pr.user == "trunkwatch[bot]"
    assert pr.state == "open" and pr.pull is not None and not pr.pull.merged
    assert f"Reverts #{CULPRIT_PR}" in (pr.body or "")
    assert f"/issues/{number}" in (pr.body or "")
    assert reverts.REVERT_LABEL in env.sim.labels_of(REPO, pr.number)
    assert graphql_calls(env) == 1
    (reply,) = env.command_replies(number)
    assert f"Opened [#{pr.number}]" in reply and f"revert #{CULPRIT_PR}" in reply
    assert env.reactions(payload) == ["+1"]
    told = reverted_told(env)
    assert len(told) == 1 and f"#{pr.number}" in told[0] and f"/issues/{number}" in told[0]
    assert "@bob" in told[0]

    record = await env.store.get_record(Revert, REPO.lower(), CULPRIT_PR)
    assert record is not None and (record.state, record.number) == ("opened", pr.number)
    assert record.by == "alice" and record.sha == SHAS[1]

    # The alert issue shows it from the record once it is next brought up to date.
    await push(env, 4, 4, {})
    await env.feed(env.result(4, "failure"))
    alert_body = env.sim.repo(REPO).issues[number].body or ""
    assert f"**Revert PR:** [#{pr.number}]" in alert_body

    await env.comment("/trunkwatch revert", number)  # asked again, in a new comment
    assert f"#{CULPRIT_PR} is reverted already: [#{pr.number}]" in env.replies(number)[-1]
    assert len(revert_prs(env)) == 1 and graphql_calls(env) == 1


async def test_two_replicas_asking_at_once_open_one(env: Env) -> None:
    await confirm(env)
    issue = await load(Records(env.store), (await env.alert()).alert)
    assert issue is not None
    pull = await reverts.culprit_pull(env.gh, env.store, REPO, SHAS[1])
    assert pull is not None and pull["number"] == CULPRIT_PR
    policy = policy_for(env.configs.config, "inductor")

    async def ask(who: str) -> reverts.Opened | str:
        try:
            return await reverts.open_revert(
                env.gh, Records(env.store), issue, pull, SHAS[1], who, time.time(), policy, set()
            )
        except reverts.RevertRefused as exc:
            return str(exc)

    outcomes = await asyncio.gather(ask("alice"), ask("carol"), ask("dave"))
    assert len(revert_prs(env)) == 1 and graphql_calls(env) == 1
    opened = [o for o in outcomes if isinstance(o, reverts.Opened) and o.new]
    assert len(opened) == 1
    for other in outcomes:
        if other is not opened[0]:
            assert other == f"A revert of #{CULPRIT_PR} is being opened right now." or (
                isinstance(other, reverts.Opened) and not other.new
            )


async def test_a_claim_left_by_a_crash_is_settled_by_the_pull_request_on_github(
    env: Env,
) -> None:
    number, _ = await confirm(env)
    # A replica claimed it, GitHub opened the revert, and the replica died before saying so.
    alert = (await env.alert()).alert
    stale = Revert(REPO.lower(), CULPRIT_PR, alert, SHAS[1], by="alice", at=time.time() - 3600)
    await Records(env.store).put(stale)
    made = env.sim.add_pull(REPO, title=REVERT_TITLE, author="trunkwatch[bot]", merged=False)

    await env.comment("/trunkwatch revert", number)
    assert f"is reverted already: [#{made.number}]" in env.replies(number)[-1]
    assert graphql_calls(env) == 0 and len(revert_prs(env)) == 1
    record = await env.store.get_record(Revert, REPO.lower(), CULPRIT_PR)
    assert record is not None and (record.state, record.number) == ("opened", made.number)
    assert reverts.REVERT_LABEL in env.sim.labels_of(REPO, made.number)


async def test_a_fresh_claim_is_not_opened_twice(env: Env) -> None:
    number, _ = await confirm(env)
    alert = (await env.alert()).alert
    claim = Revert(REPO.lower(), CULPRIT_PR, alert, SHAS[1], by="carol", at=time.time())
    await Records(env.store).put(claim)
    payload = await env.comment("/trunkwatch revert", number)
    assert "being opened right now" in env.replies(number)[-1]
    assert env.reactions(payload) == ["confused"]
    assert graphql_calls(env) == 0 and revert_prs(env) == []


async def test_revert_refused_without_write_access(env: Env) -> None:
    number, _ = await confirm(env)
    await env.comment("/trunkwatch revert", number, user=READER)
    assert "needs write access" in env.replies(number)[-1]
    assert revert_prs(env) == [] and graphql_calls(env) == 0
    assert await env.store.find_records(Revert) == []


async def test_without_a_confirmed_culprit_it_says_the_shortest_range(env: Env) -> None:
    await push(env, 0, 5, {})
    await env.feed(env.result(0, "success"))  # 1 and 2 never ran: the range is 1..3
    for n in (3, 4, 5):
        await env.feed(env.result(n, "failure"))
    number = env.sim.issues(REPO)[-1].number
    payload = await env.comment("/trunkwatch revert", number)
    reply = env.replies(number)[-1]
    assert "No culprit of this alert is confirmed yet" in reply
    assert f"3 commits, `{SHAS[1][:7]}` to `{SHAS[3][:7]}`" in reply
    assert "/trunkwatch revert #N" in reply
    assert env.reactions(payload) == ["confused"]
    assert revert_prs(env) == []


async def test_revert_of_a_named_pull_request(env: Env) -> None:
    await push(env, 0, 3, {})
    for n, conclusion in enumerate(("success", "failure", "failure", "failure")):
        await env.feed(env.result(n, conclusion))
    number = env.sim.issues(REPO)[-1].number  # suspected, not confirmed: a person decides
    open_pr = env.sim.add_pull(REPO, title="Still open", merged=False).number
    await env.comment(f"/trunkwatch revert #{open_pr}", number)
    assert "is not merged" in env.replies(number)[-1]
    await env.comment("/trunkwatch revert #9999", number)
    assert "not a pull request of this repository" in env.replies(number)[-1]
    assert revert_prs(env) == []

    await env.comment("/trunkwatch revert #102", number)
    (pr,) = revert_prs(env)
    assert pr.title == 'Revert "change 2 (#102)"'
    assert f"Opened [#{pr.number}]" in env.replies(number)[-1]


async def test_github_refusing_the_revert_is_reported_and_may_be_asked_again(env: Env) -> None:
    number, _ = await confirm(env)
    env.sim.repo(REPO).issues[CULPRIT_PR].pull.merged = False  # type: ignore[union-attr]
    await env.comment("/trunkwatch revert", number)
    assert f"GitHub refused to revert #{CULPRIT_PR}" in env.replies(number)[-1]
    record = await env.store.get_record(Revert, REPO.lower(), CULPRIT_PR)
    assert record is not None and record.state.startswith("failed")
    env.sim.repo(REPO).issues[CULPRIT_PR].pull.merged = True  # type: ignore[union-attr]
    await env.comment("/trunkwatch revert", number)
    assert len(revert_prs(env)) == 1


# --- by itself: culprit.revert: auto -----------------------------------------------------------


async def test_auto_opens_one_for_a_confirmed_culprit(env: Env) -> None:
    number, decision = await confirm(env)
    (made,) = await run_auto(env, decision, auto_policy(env))
    (pr,) = revert_prs(env)
    assert (made.number, made.by, made.pr) == (pr.number, "", CULPRIT_PR)
    assert "Opened by trunkwatch by itself" in (pr.body or "")
    said = [c for c in env.replies(number) if "trunkwatch:revert" in c]
    assert len(said) == 1 and f"[#{pr.number}]" in said[0] and "not merged" in said[0]
    assert len(reverted_told(env)) == 1
    assert await run_auto(env, decision, auto_policy(env)) == []  # once
    assert len(revert_prs(env)) == 1 and graphql_calls(env) == 1


async def test_auto_through_the_sink_when_configured(env: Env) -> None:
    text = "groups:\n  inductor:\n    workflows: ['inductor*']\nculprit:\n  revert: auto\n"
    config = load_text(text, "trunkwatch.yml")
    env.configs.config = config
    number, _ = await confirm(env)
    (pr,) = revert_prs(env)
    assert pr.title == REVERT_TITLE
    assert reverts.REVERT_LABEL in env.sim.labels_of(REPO, pr.number)
    assert any(f"opened [#{pr.number}]" in c for c in env.replies(number))
    await env.feed(env.result(3, "failure", run_id=2003))  # more decisions: still the one
    assert len(revert_prs(env)) == 1 and graphql_calls(env) == 1


@pytest.mark.parametrize("why", ["labelled", "merged long ago", "reverted by hand", "cap"])
async def test_auto_opens_none_when_it_may_not(env: Env, why: str) -> None:
    _, decision = await confirm(env)
    pull = env.sim.repo(REPO).issues[CULPRIT_PR]
    if why == "labelled":
        pull.labels.append("trunkwatch: no revert")
    elif why == "merged long ago":
        assert pull.pull is not None
        pull.pull.merged_at = iso(time.time() - DAY - 60)
    elif why == "reverted by hand":
        env.sim.add_pull(REPO, title=REVERT_TITLE, author="carol", merged=False)
    else:
        for pr in (50, 51):  # two opened by itself today for other alerts: the daily cap
            opened = Revert(
                REPO.lower(), pr, "other", "f" * 40, pr + 1, "u", "", time.time(), OPENED
            )
            await Records(env.store).put(opened)
    before = len(revert_prs(env))
    assert await run_auto(env, decision, auto_policy(env)) == []
    assert len(revert_prs(env)) == before and graphql_calls(env) == 0


async def test_auto_cap_counts_only_its_own_reverts_of_the_last_day(env: Env) -> None:
    _, decision = await confirm(env)
    records = Records(env.store)
    await records.put(
        Revert(REPO.lower(), 50, "a", "f" * 40, 51, "u", "alice", time.time(), OPENED)
    )
    old = time.time() - DAY - 60
    await records.put(Revert(REPO.lower(), 52, "a", "f" * 40, 53, "u", "", old, "opened"))
    await records.put(Revert(REPO.lower(), 54, "a", "f" * 40, 55, "u", "", time.time(), "opened"))
    assert len(await run_auto(env, decision, auto_policy(env))) == 1  # 1 of 2 used today


async def test_auto_stops_when_a_later_commit_touches_the_same_file(env: Env) -> None:
    _, decision = await confirm(env, {1: ["torch/fx.py", "docs/fx.md"], 3: ["torch/fx.py"]})
    assert await run_auto(env, decision, auto_policy(env)) == []
    assert revert_prs(env) == []


async def test_auto_opens_when_later_commits_touch_other_files(env: Env) -> None:
    _, decision = await confirm(env, {1: ["torch/fx.py"], 2: ["torch/other.py"], 3: ["docs/x.md"]})
    assert len(await run_auto(env, decision, auto_policy(env))) == 1


async def test_auto_opens_none_when_github_cannot_describe_the_culprit(env: Env) -> None:
    _, decision = await confirm(env)
    env.sim.fail_next("GET", f"/repos/{REPO}/compare/*", 404, body={"message": "Not Found"})
    assert await run_auto(env, decision, auto_policy(env)) == []  # and the delivery goes on
    assert revert_prs(env) == []


async def test_auto_off_and_suggest_open_nothing(env: Env) -> None:
    _, decision = await confirm(env)
    for mode in ("off", "suggest"):
        policy = replace(policy_for(env.configs.config, "inductor"), revert=mode)
        assert await run_auto(env, decision, policy) == []
    assert revert_prs(env) == []


# --- metrics -----------------------------------------------------------------------------------


async def test_metrics_count_reverts_and_culprit_runs(
    env: Env, aiohttp_client: ClientMaker
) -> None:
    number, _ = await confirm(env)
    await env.comment("/trunkwatch revert", number)
    records = Records(env.store)
    await records.put(Revert(REPO.lower(), 50, "a", "f" * 40, 51, "u", "", time.time(), "opened"))
    for probe, kind, outcome in (("p1", "rerun", "requested"), ("p2", "bisect", "refused")):
        run = CulpritRun("a", probe, REPO, kind, "f" * 40, "inductor", job=JOB, outcome=outcome)
        await records.put(run)
    app = web.Application()
    add_ops_routes(app, store=env.store, metrics=Metrics())
    client = await aiohttp_client(app)
    text = await (await client.get("/metrics")).text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("trunkwatch_reverts_total", (("by", "person"),))] == 1
    assert samples[("trunkwatch_reverts_total", (("by", "trunkwatch"),))] == 1
    runs = "trunkwatch_culprit_runs_total"
    assert samples[(runs, (("kind", "rerun"), ("outcome", "requested")))] == 1
    assert samples[(runs, (("kind", "bisect"), ("outcome", "refused")))] == 1
