"""Culprit confirmation's calls (bot/github/ci.py) against the simulated GitHub's CI.

Everything goes over HTTP on 127.0.0.1: the App's own client asks the simulated GitHub to
re-run jobs, push bisect tags and open revert pull requests; the simulated CI then runs the
jobs as the test's truth says and delivers the webhooks, signed, to a receiving server,
which checks them as the App's webhook does (signature, then the App's payload parsers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gidgethub
import pytest
from aiohttp import web
from gidgethub import sansio

from bot.actions.culprit import (
    MAX_REFUSALS,
    RETRY_REFUSED_SECONDS,
    GitHubProber,
    ProbeSettings,
    request_probes,
    retry_refused,
)
from bot.events import parse_workflow_job, parse_workflow_run
from bot.github import GitHubApp, GitHubClient, list_run_jobs
from bot.github.ci import (
    RevertFailed,
    create_tag,
    delete_tag,
    files_changed,
    pull_request,
    rerun_failed_jobs,
    rerun_job,
    revert_pull_request,
)
from bot.github.client import graphql_url
from bot.handlers import EVENTS
from bot.records import AlertIssue, CulpritRun
from bot.sim.devserver import free_port
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.record_view import Records
from bot.tracker.model import (
    RERUN,
    Breakage,
    CloseReason,
    Decision,
    DecisionKind,
    JobKey,
    Probe,
)
from bot.web.server import make_app
from tests.conftest import APP_ID, FAST_RETRIES, INSTALLATION_ID
from tests.fixtures import load_payload

REPO = "octo-org/widgets"
SECRET = "ci-secret"
SHAS = [f"{n:040x}" for n in range(1, 6)]
REAL_RUN = load_payload("workflow_run/pytorch-torchci.completed.failure.push-event.json")
REAL_JOB = load_payload("workflow_job/octokit.completed.failure.json")


class Receiver:
    """The App's webhook as far as deliveries go: it checks the signature and keeps
    `(event, payload)` in arrival order. While `gate` is clear it holds every delivery."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def handle(self, request: web.Request) -> web.Response:
        event = sansio.Event.from_http(request.headers, await request.read(), secret=SECRET)
        await self.gate.wait()
        self.got.append((event.event, event.data))
        return web.Response(status=202)

    def steps(self) -> list[tuple[str, str | None, int | None]]:
        """(event, action, run_attempt) of each delivery."""
        out = []
        for event, data in self.got:
            body = data.get("workflow_run") or data.get("workflow_job") or {}
            out.append((event, data.get("action"), body.get("run_attempt")))
        return out

    def of(self, event: str, action: str | None = None) -> list[dict[str, Any]]:
        return [d for e, d in self.got if e == event and action in (None, d.get("action"))]


@pytest.fixture
async def receiver(sim: SimulatedGitHub) -> AsyncIterator[Receiver]:
    received = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", received.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sim.hooks.configure(f"http://127.0.0.1:{port}/webhook", SECRET)
    yield received
    received.gate.set()
    await runner.cleanup()


def seed(sim: SimulatedGitHub) -> None:
    for n, sha in enumerate(SHAS, 1):
        sim.add_commit(REPO, sha, f"Change {n} (#{n})", pr=n, files=[f"src/mod{n}.py"])


def breaks_at(culprit: str, job: str = "test") -> Any:
    """A truth: `job` fails from `culprit` on; everything else passes."""

    def truth(sha: str, workflow: str, name: str, attempt: int) -> str:
        return "failure" if name == job and SHAS.index(sha) >= SHAS.index(culprit) else "success"

    return truth


async def job_id(gh: GitHubClient, run_id: int, name: str) -> int:
    jobs = await list_run_jobs(gh, REPO, run_id)
    return int(next(j["id"] for j in jobs if j["name"] == name))


async def test_a_rerun_job_runs_again_as_a_new_attempt(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    flaky_once = {(SHAS[2], "test", 1)}
    sim.set_ci(
        REPO,
        {"trunk": ["build", "test"]},
        lambda sha, wf, job, n: "failure" if (sha, job, n) in flaky_once else "success",
    )
    sim.add_run(
        REPO,
        500,
        [{"name": "build"}, {"name": "test", "conclusion": "failure"}],
        head_sha=SHAS[2],
        workflow="trunk",
    )
    failed_id = await job_id(gh, 500, "test")

    assert await rerun_job(gh, REPO, failed_id) is True
    await sim.ci_settle()

    assert receiver.steps() == [
        ("workflow_run", "requested", 2),
        ("workflow_job", "queued", 2),
        ("workflow_run", "in_progress", 2),
        ("workflow_job", "in_progress", 2),
        ("workflow_job", "completed", 2),
        ("workflow_run", "completed", 2),
    ]
    (done,) = receiver.of("workflow_run", "completed")
    run = parse_workflow_run(done)
    assert (run.run_id, run.head_sha, run.branch, run.conclusion) == (
        500,
        SHAS[2],
        "main",
        "success",
    )
    assert done["installation"]["id"] == INSTALLATION_ID
    (job_done,) = receiver.of("workflow_job", "completed")
    job = parse_workflow_job(job_done).result
    assert (job.job, job.conclusion, job.head_sha, job.workflow) == (
        "test",
        "success",
        SHAS[2],
        "trunk",
    )
    assert job.job_id != failed_id  # each attempt's job is a new job
    # The new attempt lists the re-run job; the first attempt is as it was.
    second = await list_run_jobs(gh, REPO, 500, 2)
    assert [(j["name"], j["conclusion"], j["run_attempt"]) for j in second] == [
        ("test", "success", 2)
    ]
    first = await list_run_jobs(gh, REPO, 500, 1)
    assert {j["name"]: j["conclusion"] for j in first} == {"build": "success", "test": "failure"}
    latest = await gh.getitem(f"/repos/{REPO}/actions/runs/500")
    assert (latest["run_attempt"], latest["status"], latest["conclusion"]) == (
        2,
        "completed",
        "success",
    )
    assert sim.job_reruns(REPO) == [failed_id]


async def test_deliveries_have_the_real_payload_fields(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.set_ci(REPO, {"trunk": ["test"]}, breaks_at(SHAS[1]))
    sim.add_run(REPO, 501, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[1])
    assert await rerun_job(gh, REPO, await job_id(gh, 501, "test"))
    await sim.ci_settle()
    (run,) = receiver.of("workflow_run", "completed")
    assert set(REAL_RUN) <= set(run) | {"organization"}
    assert set(REAL_RUN["workflow_run"]) <= set(run["workflow_run"])
    assert set(REAL_RUN["workflow"]) <= set(run["workflow"])
    (job,) = receiver.of("workflow_job", "completed")
    assert set(REAL_JOB["workflow_job"]) <= set(job["workflow_job"])
    assert {s["name"] for s in job["workflow_job"]["steps"]} >= {"Set up job", "Complete job"}
    assert run["workflow_run"]["conclusion"] == job["workflow_job"]["conclusion"] == "failure"
    assert run["workflow_run"]["previous_attempt_url"].endswith("/actions/runs/501/attempts/1")
    queued = receiver.of("workflow_run", "requested")[0]["workflow_run"]
    assert (queued["status"], queued["conclusion"]) == ("queued", None)


async def test_no_rerun_while_the_run_is_going(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.set_ci(REPO, {"trunk": ["build", "test"]}, breaks_at(SHAS[0]))
    sim.add_run(
        REPO, 502, [{"name": "build"}, {"name": "test", "conclusion": "failure"}], head_sha=SHAS[0]
    )
    failed_id = await job_id(gh, 502, "test")
    receiver.gate.clear()  # the App takes its time: attempt 2 stays in progress
    assert await rerun_job(gh, REPO, failed_id) is True
    assert await rerun_job(gh, REPO, failed_id) is False
    assert await rerun_failed_jobs(gh, REPO, 502) is False
    refused = [
        r for r in sim.requests if r.method == "POST" and r.path.endswith(("/rerun", "-jobs"))
    ]
    assert len(refused) == 3
    receiver.gate.set()
    await sim.ci_settle()
    assert [r for r in receiver.steps() if r[:2] == ("workflow_run", "completed")] == [
        ("workflow_run", "completed", 2)
    ]
    # Now it may go again.
    assert await rerun_failed_jobs(gh, REPO, 502) is True
    await sim.ci_settle()
    third = await list_run_jobs(gh, REPO, 502, 3)
    assert [(j["name"], j["conclusion"]) for j in third] == [("test", "failure")]


async def test_rerun_failed_jobs_reruns_only_the_failed_ones(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.set_ci(
        REPO,
        {"trunk": ["build", "lint", "test"]},
        lambda sha, wf, job, n: "failure" if job == "lint" else "success",
    )
    sim.add_run(
        REPO,
        503,
        [
            {"name": "build"},
            {"name": "lint", "conclusion": "failure"},
            {"name": "test", "conclusion": "failure"},
        ],
        head_sha=SHAS[3],
    )
    assert await rerun_failed_jobs(gh, REPO, 503) is True
    await sim.ci_settle()
    second = await list_run_jobs(gh, REPO, 503, 2)
    assert {j["name"]: j["conclusion"] for j in second} == {"lint": "failure", "test": "success"}
    (done,) = receiver.of("workflow_run", "completed")
    assert done["workflow_run"]["conclusion"] == "failure"  # lint still fails
    assert sim.reruns(REPO) == [503]


async def test_without_a_ci_a_rerun_is_only_recorded(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.add_run(REPO, 504, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[0])
    assert await rerun_failed_jobs(gh, REPO, 504) is True
    await sim.ci_settle()
    assert sim.reruns(REPO) == [504]
    assert receiver.got == []
    run = await gh.getitem(f"/repos/{REPO}/actions/runs/504")
    assert run["run_attempt"] == 1


async def test_an_unknown_job_is_404(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    seed(sim)
    with pytest.raises(gidgethub.BadRequest) as caught:
        await rerun_job(gh, REPO, 424242)
    assert caught.value.status_code == 404


async def test_a_bisect_tag_runs_every_workflow_on_its_commit(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.set_ci(REPO, {"trunk": ["build", "test"], "lint": ["ruff"]}, breaks_at(SHAS[2]))
    tag = f"trunkwatch/bisect/{SHAS[3]}"

    assert await create_tag(gh, REPO, tag, SHAS[3]) is True
    assert await create_tag(gh, REPO, tag, SHAS[3]) is True  # already there: fine
    await sim.ci_settle()

    assert sim.tags(REPO) == {tag: SHAS[3]}
    creates = sim.requests_to("POST", f"/repos/{REPO}/git/refs")
    assert [r.json_body for r in creates] == [{"ref": f"refs/tags/{tag}", "sha": SHAS[3]}] * 2
    # The tag's push comes first, then one run per workflow, once.
    assert receiver.got[0][0] == "push"
    push = receiver.got[0][1]
    assert (push["ref"], push["after"], push["created"]) == (f"refs/tags/{tag}", SHAS[3], True)
    completed = [parse_workflow_run(d) for d in receiver.of("workflow_run", "completed")]
    assert sorted((r.workflow, r.branch, r.head_sha, r.event, r.conclusion) for r in completed) == [
        ("lint", tag, SHAS[3], "push", "success"),
        ("trunk", tag, SHAS[3], "push", "failure"),
    ]
    jobs = [parse_workflow_job(d).result for d in receiver.of("workflow_job", "completed")]
    assert sorted((j.job, j.branch, j.run_attempt, j.conclusion) for j in jobs) == [
        ("build", tag, 1, "success"),
        ("ruff", tag, 1, "success"),
        ("test", tag, 1, "failure"),
    ]
    for workflow_run in receiver.of("workflow_run", "requested"):
        assert workflow_run["workflow_run"]["actor"]["login"] == "trunkwatch[bot]"
    # The runs are listed like any other, by the tag as their branch.
    listed = await gh.getitem(f"/repos/{REPO}/actions/runs?branch={tag}")
    assert {r["name"] for r in listed["workflow_runs"]} == {"trunk", "lint"}
    ref = await gh.getitem(f"/repos/{REPO}/git/ref/tags/{tag}")
    assert set(ref) == {"ref", "node_id", "url", "object"}
    assert (ref["ref"], ref["object"]["sha"], ref["object"]["type"]) == (
        f"refs/tags/{tag}",
        SHAS[3],
        "commit",
    )


async def test_a_tag_the_ci_does_not_run_on_starts_nothing(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    sim.set_ci(REPO, {"trunk": ["test"]}, breaks_at(SHAS[0]))
    assert await create_tag(gh, REPO, "v1.0", SHAS[0])
    await sim.ci_settle()
    assert [event for event, _ in receiver.got] == ["push"]
    assert sim.repo(REPO).runs == {}


async def test_deleting_a_tag_twice_is_fine(
    sim: SimulatedGitHub, gh: GitHubClient, receiver: Receiver
) -> None:
    seed(sim)
    tag = f"trunkwatch/bisect/{SHAS[1]}"
    await create_tag(gh, REPO, tag, SHAS[1])
    await delete_tag(gh, REPO, tag)
    await delete_tag(gh, REPO, tag)  # already gone: 422 "Reference does not exist"
    await sim.ci_settle()
    assert sim.tags(REPO) == {}
    deletes = sim.requests_to("DELETE", f"/repos/{REPO}/git/refs/tags/{tag}")
    assert len(deletes) == 2
    with pytest.raises(gidgethub.BadRequest) as caught:
        await gh.getitem(f"/repos/{REPO}/git/ref/tags/{tag}")
    assert caught.value.status_code == 404
    pushes = [d for e, d in receiver.got if e == "push"]
    assert [(p["created"], p["deleted"]) for p in pushes] == [(True, False), (False, True)]


async def test_a_tag_on_an_unknown_commit_is_refused(
    sim: SimulatedGitHub, gh: GitHubClient
) -> None:
    seed(sim)
    with pytest.raises(gidgethub.BadRequest) as caught:
        await create_tag(gh, REPO, "trunkwatch/bisect/x", "f" * 40)
    assert caught.value.status_code == 422
    assert sim.tags(REPO) == {}


async def test_revert_pull_request_opens_the_revert(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    seed(sim)
    original = await pull_request(gh, REPO, 3)
    assert original is not None and original["merged_at"]

    revert = await revert_pull_request(
        gh, original["node_id"], 'Revert "Change 3"', "It broke test.", draft=True
    )

    assert revert["number"] == 6  # after the five seeded PRs
    assert revert["url"].endswith(f"/{REPO}/pull/6")
    opened = await pull_request(gh, REPO, revert["number"])
    assert opened is not None
    assert (opened["state"], opened["merged_at"], opened["draft"]) == ("open", None, True)
    assert (opened["title"], opened["body"]) == ('Revert "Change 3"', "It broke test.")
    assert opened["head"]["ref"] == f"revert-3-{original['head']['ref']}"
    assert opened["base"]["ref"] == "main"
    assert opened["user"]["login"] == "trunkwatch[bot]"
    assert [p.number for p in sim.pulls(REPO)] == [1, 2, 3, 4, 5, 6]
    (sent,) = sim.requests_to("POST", "/graphql")
    assert sent.json_body["variables"]["pullRequestId"] == original["node_id"]
    assert "revertPullRequest" in sent.json_body["query"]


async def test_revert_of_an_unknown_node_fails_clearly(
    sim: SimulatedGitHub, gh: GitHubClient
) -> None:
    seed(sim)
    with pytest.raises(RevertFailed, match=r"NOT_FOUND.*PR_nope"):
        await revert_pull_request(gh, "PR_nope", "Revert", "body")
    sim.add_pull(REPO, 9, title="Still open", merged=False)
    still_open = await pull_request(gh, REPO, 9)
    assert still_open is not None
    with pytest.raises(RevertFailed, match="not merged"):
        await revert_pull_request(gh, still_open["node_id"], "Revert", "body")
    assert [p.number for p in sim.pulls(REPO)] == [1, 2, 3, 4, 5, 9]
    assert await pull_request(gh, REPO, 99) is None


async def test_graphql_goes_beside_the_rest_root_on_enterprise_server(app_key: str) -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/graphql"
    ghes = SimulatedGitHub(app_id=APP_ID, app_key=app_key, prefix="/api/v3")
    ghes.add_installation(INSTALLATION_ID)
    await ghes.start()
    try:
        async with GitHubApp(APP_ID, app_key, base_url=ghes.base_url, policy=FAST_RETRIES) as app:
            gh = await app.installation_client(INSTALLATION_ID)
            ghes.add_commit(REPO, SHAS[0], "Change (#1)", pr=1)
            original = await pull_request(gh, REPO, 1)
            assert original is not None
            revert = await revert_pull_request(gh, original["node_id"], "Revert", "body")
            assert revert["number"] == 2
        assert ghes.received[-1].path == "/graphql"
        assert ghes.requests_to("POST", "/graphql")
    finally:
        await ghes.stop()


async def test_files_changed_are_the_compare_files(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    seed(sim)
    sim.add_commit(REPO, "a" * 40, "Add a scratch file", files={"tmp/scratch.txt": "added"})
    sim.add_commit(REPO, "b" * 40, "Drop it again", files={"tmp/scratch.txt": "removed"})
    assert await files_changed(gh, REPO, SHAS[1], SHAS[3]) == {"src/mod3.py", "src/mod4.py"}
    assert await files_changed(gh, REPO, SHAS[4], "b" * 40) == set()
    assert await files_changed(gh, REPO, SHAS[0], SHAS[0]) == set()
    compare = await gh.getitem(f"/repos/{REPO}/compare/{SHAS[0]}...{SHAS[1]}")
    assert [(f["filename"], f["status"]) for f in compare["files"]] == [("src/mod2.py", "modified")]


async def test_the_apps_webhook_takes_every_delivery(
    sim: SimulatedGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    seed(sim)
    sim.set_ci(REPO, {"trunk": ["build", "test"]}, breaks_at(SHAS[2]))
    store = open_store(f"sqlite:///{tmp_path / 'ci.db'}")
    await store.open()
    runner = web.AppRunner(make_app(SECRET, store, EVENTS), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sim.hooks.configure(f"http://127.0.0.1:{port}/webhook", SECRET)
    try:
        await create_tag(gh, REPO, f"trunkwatch/bisect/{SHAS[2]}", SHAS[2])
        await sim.ci_settle()
        attempts = sim.hooks.attempts
        # The push; the run requested, 2 jobs queued, run in progress, each job in progress
        # and completed, the run completed.
        assert len(attempts) == 1 + 1 + 2 + 1 + 2 * 2 + 1
        assert all(a.ok for a in attempts), [(a.event, a.status_code) for a in attempts]
        assert await store.known_deliveries([a.guid for a in attempts]) == {
            a.guid for a in attempts
        }
    finally:
        await runner.cleanup()
        await store.close()


async def test_a_confirmation_rerun_refused_while_its_run_runs_is_asked_again_later(
    sim: SimulatedGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    """GitHub reruns only finished runs: a refusal is kept (it costs no budget) and the rerun
    is asked again `RETRY_REFUSED_SECONDS` later, at most `MAX_REFUSALS` times (with
    bisection off: no tag to run the workflow again through)."""
    seed(sim)
    sim.add_run(REPO, 503, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[1])
    sim.repo(REPO).runs[503].conclusions[1] = None  # another job of it still runs
    test_id = await job_id(gh, 503, "test")
    probe = Probe(RERUN, SHAS[1], "trunk", "test", test_id, 503)
    breakage = Breakage((JobKey("trunk", "test"),), (SHAS[1],), SHAS[1], wanted=(probe,))
    decision = Decision(
        DecisionKind.UPDATE, "a1", REPO, "main", "ci", (), 3, (SHAS[1],), breakages=(breakage,)
    )
    store = open_store(f"sqlite:///{tmp_path / 'probes.db'}")
    await store.open()
    try:
        records, prober = Records(store), GitHubProber(gh)
        settings = ProbeSettings(tag_pattern=None)
        (refused,) = await request_probes([decision], prober, records, settings, 1000.0)
        assert (refused.outcome, refused.refusals) == ("refused", 1)
        assert await request_probes([decision], prober, records, settings, 1300.0) == []
        sim.repo(REPO).runs[503].conclusions[1] = "failure"  # the run is over
        later = 1000.0 + RETRY_REFUSED_SECONDS
        (asked,) = await request_probes([decision], prober, records, settings, later)
        assert asked.outcome == "requested"
        reruns = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/rerun")]
        assert len(reruns) == 2
        stuck = replace(asked, outcome="refused", refusals=MAX_REFUSALS)
        await records.put(stuck)
        assert await request_probes([decision], prober, records, settings, later * 2) == []
    finally:
        await store.close()


async def test_a_refused_confirmation_rerun_of_an_open_alert_runs_through_the_bisect_tag(
    sim: SimulatedGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    """While the failing run still runs, GitHub refuses the rerun; an open alert does not
    wait hours for it: the workflow runs again on the commit through its bisect tag (one run
    of the budget). A tag already there (its runs started by someone else) is not taken as
    ours: the rerun stays refused and is asked again later. A recovered alert takes no tag."""
    seed(sim)
    sim.add_run(REPO, 505, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[1])
    sim.repo(REPO).runs[505].conclusions[1] = None  # another job of it still runs
    test_id = await job_id(gh, 505, "test")
    probe = Probe(RERUN, SHAS[1], "trunk", "test", test_id, 505)
    breakage = Breakage((JobKey("trunk", "test"),), (SHAS[1],), SHAS[1], wanted=(probe,))
    decision = Decision(
        DecisionKind.UPDATE, "a4", REPO, "main", "ci", (), 3, (SHAS[1],), breakages=(breakage,)
    )
    tag = f"trunkwatch/bisect/{SHAS[1]}"
    store = open_store(f"sqlite:///{tmp_path / 'retag.db'}")
    await store.open()
    try:
        records, settings, prober = Records(store), ProbeSettings(), GitHubProber(gh)
        (asked,) = await request_probes([decision], prober, records, settings, 1000.0)
        assert (asked.kind, asked.outcome, asked.tag) == (RERUN, "requested", tag)
        posts = [r.path for r in sim.requests if r.method == "POST"]
        assert posts[-2].endswith(f"/actions/jobs/{test_id}/rerun")
        assert posts[-1].endswith("/git/refs")
        assert sim.tags(REPO) == {tag: SHAS[1]}
        (row,) = await records.find(CulpritRun, alert="a4")
        assert (row.outcome, row.tag) == ("requested", tag)  # one run of the budget
        assert await request_probes([decision], prober, records, settings, 1100.0) == []

        other = replace(decision, alert="a5")  # the tag is there now: not ours to read
        (refused,) = await request_probes([other], prober, records, settings, 1000.0)
        assert (refused.outcome, refused.refusals, refused.tag) == ("refused", 1, tag)

        recovered = replace(decision, alert="a6", kind=DecisionKind.CLOSE)
        recovered = replace(recovered, reason=CloseReason.RECOVERED)
        before = len(sim.requests)
        (waits,) = await request_probes([recovered], prober, records, settings, 1000.0)
        assert (waits.outcome, waits.tag) == ("refused", "")
        assert not any(r.path.endswith("/git/refs") for r in sim.requests[before:])
    finally:
        await store.close()


async def test_an_alert_that_recovered_unconfirmed_gets_its_rerun(
    sim: SimulatedGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    """A recovered alert is over, but its confirmation rerun is asked, so that chance
    failures can still be withdrawn; a withdrawn one asks nothing."""
    seed(sim)
    sim.add_run(REPO, 504, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[1])
    test_id = await job_id(gh, 504, "test")
    rerun = Probe(RERUN, SHAS[1], "trunk", "test", test_id, 504)
    breakage = Breakage((JobKey("trunk", "test"),), (SHAS[1],), SHAS[1], wanted=(rerun,))
    recovered = Decision(
        DecisionKind.CLOSE,
        "a2",
        REPO,
        "main",
        "ci",
        (),
        3,
        (SHAS[1],),
        breakages=(breakage,),
        reason=CloseReason.RECOVERED,
    )
    store = open_store(f"sqlite:///{tmp_path / 'closed.db'}")
    await store.open()
    try:
        records, settings, prober = Records(store), ProbeSettings(), GitHubProber(gh)
        withdrawn = replace(recovered, alert="a3", reason=CloseReason.FLAKY)
        assert await request_probes([withdrawn], prober, records, settings, 1000.0) == []
        (asked,) = await request_probes([recovered], prober, records, settings, 1000.0)
        assert (asked.kind, asked.sha, asked.outcome) == (RERUN, SHAS[1], "requested")
        posts = [r.path for r in sim.requests if r.method == "POST" and "/repos/" in r.path]
        assert posts == [f"/repos/{REPO}/actions/jobs/{test_id}/rerun"]  # (no tag, no other)
    finally:
        await store.close()


async def test_a_closed_alerts_refused_rerun_is_asked_again_by_the_sweep(
    sim: SimulatedGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    """A closed alert makes no more decisions: its refused confirmation rerun is asked again
    by the periodic sweep, once the wait is over, so that it can still be withdrawn. An open
    alert's is left to its own decisions."""
    seed(sim)
    sim.add_run(REPO, 505, [{"name": "test", "conclusion": "failure"}], head_sha=SHAS[1])
    test_id = await job_id(gh, 505, "test")
    probe = Probe(RERUN, SHAS[1], "trunk", "test", test_id, 505)
    store = open_store(f"sqlite:///{tmp_path / 'sweep.db'}")
    await store.open()
    try:
        records = Records(store)
        for alert, state in (("closed-1", "closed"), ("open-1", "open")):
            await records.at_once().put(
                AlertIssue(alert, REPO, "main", "ci", 7, "https://example.test/7", state=state)
            )
            refused = CulpritRun(alert, probe.id, REPO, RERUN, SHAS[1], "trunk", "test")
            await records.at_once().put(
                replace(
                    refused, job_id=test_id, run_id=505, at=1000.0, outcome="refused", refusals=1
                )
            )

        async def prober_for(repo: str) -> GitHubProber:
            return GitHubProber(gh)

        early = 1000.0 + RETRY_REFUSED_SECONDS / 2
        assert await retry_refused(records, prober_for, early, "replica-1") == []
        later = 1000.0 + RETRY_REFUSED_SECONDS + 120
        (asked,) = await retry_refused(records, prober_for, later, "replica-1")
        assert (asked.alert, asked.outcome) == ("closed-1", "requested")
        reruns = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/rerun")]
        assert [r.path for r in reruns] == [f"/repos/{REPO}/actions/jobs/{test_id}/rerun"]
        assert await retry_refused(records, prober_for, later + 240, "replica-1") == []
    finally:
        await store.close()
