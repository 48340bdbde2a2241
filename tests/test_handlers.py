"""The webhook handlers through the worker, against the simulated GitHub over real HTTP.

What is asserted is what GitHub received: the API budget (DESIGN.md, "Talking to GitHub")
says which deliveries may cost a call, and the ignore rules say which deliveries change
nothing at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_default
from bot.engine import Engine, RepoConfigLike, Unit
from bot.events import ZERO_SHA
from bot.github import GitHubApp
from bot.handlers import router
from bot.runtime.replay import FixedConfig
from bot.runtime.worker import Worker
from bot.sim.history import Generator, Scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.base import Delivery, DeliveryStatus, Installation, Store
from bot.tracker.model import Decision, DecisionKind, JobKey
from tests.conftest import INSTALLATION_ID
from tests.fixtures import load_payload

REPO = "octo-org/trunk"
FAILING_JOB = "linux-jammy-cuda12.8 / test (inductor_torchbench, 1, 2, linux.g5.4xlarge)"
FAILING_KEY = JobKey(
    "inductor", "linux-jammy-cuda12.8 / test (inductor_torchbench, linux.g5.4xlarge)"
)
PASSING_JOB = "linux-jammy-cuda12.8 / build"
WORKFLOWS = {
    "inductor": (FAILING_JOB, PASSING_JOB),
    "trunk": ("linux-jammy-py3.10-gcc11 / build",),
    "lint": ("quick-checks",),  # no group of the default configuration watches it
}
CONFIG_FILE = ".github/trunkwatch.yml"
TOKEN_PATH = "/app/installations/*/access_tokens"


class RecordingSink:
    """Keeps the decisions instead of acting on GitHub."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    async def act(
        self, decisions: Sequence[Decision], gh: Any, config: RepoConfigLike, unit: Unit
    ) -> None:
        self.decisions.extend(decisions)


class RecordingConfig(FixedConfig):
    """The default configuration for every repository; remembers what was invalidated."""

    def __init__(self) -> None:
        super().__init__(load_default())
        self.invalidated: list[str] = []

    def invalidate(self, repo: str) -> None:
        self.invalidated.append(repo)
        super().invalidate(repo)


@dataclass
class App:
    sim: SimulatedGitHub
    store: Store
    engine: Engine
    sink: RecordingSink
    configs: RecordingConfig
    worker: Worker
    trunk: Generator
    delivered: int = field(default=0)

    async def deliver(
        self, event: str, payload: dict[str, Any], expect: DeliveryStatus = DeliveryStatus.DONE
    ) -> Delivery:
        """Store the delivery as the server would, and let the worker process it."""
        self.delivered += 1
        delivery_id = f"{event}-{self.delivered}"
        repository = payload.get("repository") or {}
        installation = payload.get("installation") or {}
        await self.store.add_delivery(
            Delivery(
                delivery_id=delivery_id,
                event=event,
                repo=str(repository.get("full_name") or ""),
                installation_id=installation.get("id"),
                body=json.dumps(payload).encode(),
                received_at=time.time(),
            )
        )
        assert await self.worker.drain() == 1
        done = await self.store.get_delivery(delivery_id)
        assert done is not None
        assert done.status is expect, done.last_error
        return done

    def seed_run(self, index: int, workflow: str, failing: Sequence[str] = ()) -> int:
        """The run of `workflow` on commit `index` as GitHub lists its jobs; returns its id."""
        run_id = self.trunk.run_id(index, workflow)
        jobs = [
            {"name": job, "conclusion": "failure" if job in failing else "success"}
            for job in WORKFLOWS[workflow]
        ]
        self.sim.add_run(
            REPO,
            run_id,
            jobs,
            head_sha=self.trunk.commit_sha(index),
            workflow=workflow,
            attempt=1,
        )
        return run_id

    def jobs_listed(self, run_id: int | str = "*") -> int:
        return len(self.sim.requests_to("GET", f"/repos/*/actions/runs/{run_id}/attempts/*/jobs"))

    def api_calls(self) -> list[str]:
        """Every request but the App's own token requests."""
        return [
            f"{r.method} {r.path}"
            for r in self.sim.requests
            if r not in self.sim.requests_to("POST", TOKEN_PATH)
        ]


@pytest.fixture
async def app(sim: SimulatedGitHub, github_app: GitHubApp, tmp_path: Path) -> AsyncIterator[App]:
    trunk = Generator(
        Scenario(repo=REPO, commits=6, workflows=dict(WORKFLOWS), installation_id=INSTALLATION_ID)
    )
    sim.add_repo(REPO)
    for index in range(trunk.scenario.commits):
        sim.add_commit(REPO, trunk.commit_sha(index), trunk.message(index))
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    await store.open()
    configs = RecordingConfig()
    engine = Engine(store, configs)
    sink = RecordingSink()
    worker = Worker(store, engine, router, sink, configs, github=github_app, max_attempts=1)
    try:
        yield App(sim, store, engine, sink, configs, worker, trunk)
    finally:
        await store.close()


def failed_run(app: App, index: int, workflow: str = "inductor") -> dict[str, Any]:
    return app.trunk.run_payload(index, workflow, 1, "failure")


def passed_run(app: App, index: int, workflow: str = "inductor") -> dict[str, Any]:
    return app.trunk.run_payload(index, workflow, 1, "success")


# --- workflow_run: the API budget ----------------------------------------------------------------


async def test_failed_watched_run_lists_its_jobs_once_and_three_in_a_row_open_an_alert(
    app: App,
) -> None:
    for index in range(3):
        await app.deliver("push", app.trunk.push(index))
        run_id = app.seed_run(index, "inductor", failing=[FAILING_JOB])
        await app.deliver("workflow_run", failed_run(app, index))
        assert (
            len(app.sim.requests_to("GET", f"/repos/{REPO}/actions/runs/{run_id}/attempts/1/jobs"))
            == 1
        )
    assert app.jobs_listed() == 3
    assert not app.sim.requests_to("GET", f"/repos/{REPO}/compare/*")

    results = await app.store.load_results(REPO)
    failed_jobs = {(r.head_sha, r.job) for r in results if r.conclusion == "failure"}
    for index in range(3):
        assert (app.trunk.commit_sha(index), FAILING_JOB) in failed_jobs
    opened = [d for d in app.sink.decisions if d.kind is DecisionKind.OPEN]
    assert len(opened) == 1
    alert = opened[0]
    assert (alert.repo, alert.branch, alert.group) == (REPO, "main", "inductor")
    assert [job.key for job in alert.jobs] == [FAILING_KEY]
    assert alert.streak == 3
    assert alert.at == app.trunk.commit_sha(2)


async def test_two_failures_open_nothing(app: App) -> None:
    for index in range(2):
        await app.deliver("push", app.trunk.push(index))
        app.seed_run(index, "inductor", failing=[FAILING_JOB])
        await app.deliver("workflow_run", failed_run(app, index))
    assert app.sink.decisions == []
    assert app.jobs_listed() == 2


async def test_successful_run_with_nothing_in_a_streak_costs_no_call(app: App) -> None:
    await app.deliver("push", app.trunk.push(0))
    app.seed_run(0, "inductor")
    await app.deliver("workflow_run", passed_run(app, 0))

    assert [r for r in app.sim.requests if "/actions/" in r.path] == []
    assert app.api_calls() == []
    results = await app.store.load_results(REPO)
    assert [(r.workflow, r.job, r.conclusion) for r in results] == [("inductor", "", "success")]


async def test_successful_run_while_another_workflow_is_in_a_streak_costs_no_call(
    app: App,
) -> None:
    await app.deliver("push", app.trunk.push(0))
    app.seed_run(0, "trunk", failing=WORKFLOWS["trunk"])
    await app.deliver("workflow_run", failed_run(app, 0, "trunk"))
    await app.deliver("push", app.trunk.push(1))
    app.seed_run(1, "inductor")
    await app.deliver("workflow_run", passed_run(app, 1))

    assert app.jobs_listed(app.trunk.run_id(1, "inductor")) == 0


async def test_successful_run_while_its_workflow_is_in_a_streak_lists_its_jobs_once(
    app: App,
) -> None:
    await app.deliver("push", app.trunk.push(0))
    app.seed_run(0, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 0))
    await app.deliver("push", app.trunk.push(1))
    green = app.seed_run(1, "inductor")
    await app.deliver("workflow_run", passed_run(app, 1))

    assert app.jobs_listed(green) == 1
    assert app.jobs_listed() == 2
    results = await app.store.load_results(REPO)
    on_green = {(r.job, r.conclusion) for r in results if r.head_sha == app.trunk.commit_sha(1)}
    assert (FAILING_JOB, "success") in on_green

    # The streak has ended: the next green run costs nothing again.
    await app.deliver("push", app.trunk.push(2))
    after = app.seed_run(2, "inductor")
    await app.deliver("workflow_run", passed_run(app, 2))
    assert app.jobs_listed(after) == 0


async def test_rerun_that_passes_lists_the_new_attempt_once_and_ends_the_streak(app: App) -> None:
    await app.deliver("push", app.trunk.push(0))
    run_id = app.seed_run(0, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 0))
    app.sim.add_run(REPO, run_id, [{"name": job} for job in WORKFLOWS["inductor"]], attempt=2)
    await app.deliver("workflow_run", app.trunk.run_payload(0, "inductor", 2, "success"))

    attempt = f"/repos/{REPO}/actions/runs/{run_id}/attempts/{{}}/jobs"
    assert len(app.sim.requests_to("GET", attempt.format(1))) == 1
    assert len(app.sim.requests_to("GET", attempt.format(2))) == 1
    tracker = app.engine.loaded(REPO)
    assert tracker is not None
    assert not tracker.workflow_in_streak("main", "inductor")


@pytest.mark.parametrize("conclusion", ["timed_out", "failure"])
async def test_failing_conclusions_list_jobs(app: App, conclusion: str) -> None:
    await app.deliver("push", app.trunk.push(0))
    run_id = app.seed_run(0, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", app.trunk.run_payload(0, "inductor", 1, conclusion))
    assert app.jobs_listed(run_id) == 1


@pytest.mark.parametrize(
    "conclusion", ["cancelled", "skipped", "neutral", "stale", "action_required"]
)
async def test_runs_that_say_nothing_cost_no_call_even_during_a_streak(
    app: App, conclusion: str
) -> None:
    await app.deliver("push", app.trunk.push(0))
    app.seed_run(0, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 0))
    await app.deliver("push", app.trunk.push(1))
    run_id = app.seed_run(1, "inductor")
    await app.deliver("workflow_run", app.trunk.run_payload(1, "inductor", 1, conclusion))
    assert app.jobs_listed(run_id) == 0


async def test_repository_sending_workflow_job_events_never_lists_jobs(app: App) -> None:
    await app.deliver("push", app.trunk.push(0))
    app.seed_run(0, "inductor", failing=[FAILING_JOB])
    for job in WORKFLOWS["inductor"]:
        conclusion = "failure" if job == FAILING_JOB else "success"
        await app.deliver("workflow_job", app.trunk.job_payload(0, "inductor", job, 1, conclusion))
    await app.deliver("workflow_run", failed_run(app, 0))

    assert app.jobs_listed() == 0
    assert app.api_calls() == []
    results = await app.store.load_results(REPO)
    assert (app.trunk.commit_sha(0), FAILING_JOB, "failure") in {
        (r.head_sha, r.job, r.conclusion) for r in results
    }


async def test_workflow_job_events_are_remembered_across_a_restart(app: App) -> None:
    """The store, not the process, knows that the repository sends workflow_job events."""
    await app.deliver("push", app.trunk.push(0))
    await app.deliver(
        "workflow_job", app.trunk.job_payload(0, "inductor", FAILING_JOB, 1, "failure")
    )
    restarted = Engine(app.store, app.configs)
    app.worker.engine = restarted
    app.seed_run(0, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 0))

    assert app.jobs_listed() == 0


# --- workflow_run: what is ignored, and what counts like a push ----------------------------------


def _unwatched_branch(app: App) -> dict[str, Any]:
    payload = failed_run(app, 0)
    payload["workflow_run"]["head_branch"] = "feature/faster-fusion"
    return payload


def _pull_request_run(app: App) -> dict[str, Any]:
    """The real pkg-pr-new delivery, moved to a watched workflow on the watched branch."""
    payload = load_payload("workflow_run/pkg-pr-new.completed.failure.pull_request-event.json")
    payload["workflow_run"]["name"] = "inductor"
    payload["workflow_run"]["head_branch"] = payload["repository"]["default_branch"]
    payload["installation"]["id"] = INSTALLATION_ID
    return payload


def _pull_request_run_from_the_repository_itself(app: App) -> dict[str, Any]:
    payload = _pull_request_run(app)
    payload["workflow_run"]["head_repository"] = dict(payload["repository"])
    return payload


def _requested_run(app: App) -> dict[str, Any]:
    payload = load_payload("workflow_run/octokit.requested.json")
    payload["workflow_run"]["name"] = "inductor"
    payload["installation"] = {"id": INSTALLATION_ID}
    return payload


def _requested_run_on_trunk(app: App) -> dict[str, Any]:
    payload = failed_run(app, 0)
    payload["action"] = "requested"
    payload["workflow_run"].update(status="queued", conclusion=None)
    return payload


def _unwatched_workflow(app: App) -> dict[str, Any]:
    return failed_run(app, 0, "lint")


@pytest.mark.parametrize("make_payload", [_requested_run, _requested_run_on_trunk])
async def test_a_requested_run_is_kept_as_pending_at_no_cost(app: App, make_payload: Any) -> None:
    payload = make_payload(app)
    await app.deliver("workflow_run", payload)

    assert app.api_calls() == []
    stored = await app.store.load_results(payload["repository"]["full_name"])
    assert [(r.workflow, r.job, r.status, r.conclusion) for r in stored] == [
        ("inductor", "", "queued", None)
    ]
    run = payload["workflow_run"]
    assert stored[0].started_at == (run.get("run_started_at") or run.get("created_at") or "")


@pytest.mark.parametrize(
    "make_payload",
    [
        _unwatched_branch,
        _pull_request_run,
        _pull_request_run_from_the_repository_itself,
        _unwatched_workflow,
    ],
)
async def test_ignored_runs_cost_no_call_and_store_nothing(app: App, make_payload: Any) -> None:
    app.seed_run(0, "inductor", failing=[FAILING_JOB])
    app.seed_run(0, "lint", failing=WORKFLOWS["lint"])
    payload = make_payload(app)
    await app.deliver("workflow_run", payload)

    assert app.api_calls() == []
    repo = payload["repository"]["full_name"]
    assert await app.store.load_results(repo) == []
    assert await app.store.load_commits(repo) == []
    assert app.sink.decisions == []


@pytest.mark.parametrize("trigger", ["schedule", "workflow_dispatch"])
async def test_scheduled_and_dispatched_runs_on_trunk_count_like_push_runs(
    app: App, trigger: str
) -> None:
    for index in range(3):
        await app.deliver("push", app.trunk.push(index))
        run_id = app.seed_run(index, "inductor", failing=[FAILING_JOB])
        payload = failed_run(app, index)
        payload["workflow_run"]["event"] = trigger
        await app.deliver("workflow_run", payload)
        assert app.jobs_listed(run_id) == 1

    results = await app.store.load_results(REPO)
    assert {(r.head_sha, r.job) for r in results if r.conclusion == "failure"} >= {
        (app.trunk.commit_sha(i), FAILING_JOB) for i in range(3)
    }
    assert [d.kind for d in app.sink.decisions] == [DecisionKind.OPEN]


# --- workflow_run: backfilling missed pushes -----------------------------------------------------


async def test_run_for_a_commit_never_pushed_backfills_with_one_compare(app: App) -> None:
    await app.deliver("push", app.trunk.push(0))
    head, missed = app.trunk.commit_sha(0), [app.trunk.commit_sha(i) for i in (1, 2, 3)]
    app.seed_run(3, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 3))

    compares = app.sim.requests_to("GET", f"/repos/{REPO}/compare/*")
    assert [r.path for r in compares] == [f"/repos/{REPO}/compare/{head}...{missed[-1]}"]
    tracker = app.engine.loaded(REPO)
    assert tracker is not None
    for sha in missed:
        commit = tracker.commit(sha)
        assert commit is not None
        assert commit.message == app.trunk.message(missed.index(sha) + 1)
    assert [c.sha for c in tracker.trunk("main")] == [head, *missed]
    stored = {c.commit.sha: c.parent for c in await app.store.load_commits(REPO, "main")}
    assert stored == {head: ZERO_SHA, missed[0]: head, missed[1]: missed[0], missed[2]: missed[1]}
    assert app.jobs_listed() == 1

    # The commits are known now: the next run on one of them needs no compare.
    app.seed_run(2, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 2))
    assert len(app.sim.requests_to("GET", f"/repos/{REPO}/compare/*")) == 1


async def test_run_for_an_unknown_commit_with_no_known_head_makes_no_compare(app: App) -> None:
    app.seed_run(3, "inductor", failing=[FAILING_JOB])
    await app.deliver("workflow_run", failed_run(app, 3))

    assert app.sim.requests_to("GET", f"/repos/{REPO}/compare/*") == []
    # The result is kept, to be placed once its commit is known.
    assert any(r.job == FAILING_JOB for r in await app.store.load_results(REPO))


# --- push --------------------------------------------------------------------------------------


async def test_push_to_trunk_places_its_commits(app: App) -> None:
    await app.deliver("push", app.trunk.push(0))
    await app.deliver("push", app.trunk.push(1))

    tracker = app.engine.loaded(REPO)
    assert tracker is not None
    assert tracker.head("main") == app.trunk.commit_sha(1)
    assert app.api_calls() == []


def _tag_pushed(app: App) -> dict[str, Any]:
    payload = app.trunk.push(0)
    payload.update(ref="refs/tags/v2.6.0", base_ref="refs/heads/main")
    return payload


def _tag_deleted(app: App) -> dict[str, Any]:
    """The real octokit delivery of a deleted tag, in our repository."""
    payload = load_payload("push/octokit.with-installation.json")
    payload["repository"] = app.trunk.push(0)["repository"]
    payload["installation"] = {"id": INSTALLATION_ID}
    return payload


def _branch_deleted(app: App) -> dict[str, Any]:
    payload = app.trunk.push(0)
    payload.update(
        before=app.trunk.commit_sha(0),
        after=ZERO_SHA,
        created=False,
        deleted=True,
        commits=[],
        head_commit=None,
    )
    return payload


@pytest.mark.parametrize("make_payload", [_tag_pushed, _tag_deleted, _branch_deleted])
async def test_tags_and_branch_deletions_change_nothing(app: App, make_payload: Any) -> None:
    payload = make_payload(app)
    payload["commits"] = [dict(c, modified=[CONFIG_FILE]) for c in payload["commits"]]
    await app.deliver("push", payload)

    assert await app.store.load_commits(REPO) == []
    assert app.engine.loaded(REPO) is None
    assert app.configs.invalidated == []
    assert app.api_calls() == []


@pytest.mark.parametrize("change", ["added", "modified", "removed"])
async def test_push_to_the_default_branch_touching_the_config_drops_it(
    app: App, change: str
) -> None:
    payload = app.trunk.push(0)
    payload["commits"][0][change] = [*payload["commits"][0][change], CONFIG_FILE]
    await app.deliver("push", payload)

    assert app.configs.invalidated == [REPO]
    assert [c.commit.sha for c in await app.store.load_commits(REPO)] == [app.trunk.commit_sha(0)]


async def test_push_touching_the_config_in_a_later_commit_drops_it(app: App) -> None:
    payload = app.trunk.push(1)
    first = dict(app.trunk.push(0)["commits"][0])
    second = dict(payload["commits"][0], modified=[CONFIG_FILE])
    payload.update(before=ZERO_SHA, commits=[first, second])
    await app.deliver("push", payload)

    assert app.configs.invalidated == [REPO]


async def test_push_not_touching_the_config_keeps_it(app: App) -> None:
    payload = app.trunk.push(0)
    payload["commits"][0]["modified"] = ["docs/trunkwatch.yml", ".github/workflows/ci.yml"]
    await app.deliver("push", payload)

    assert app.configs.invalidated == []


async def test_push_to_another_branch_touching_the_config_keeps_it(app: App) -> None:
    """The configuration is read from the default branch only."""
    payload = app.trunk.push(0)
    payload["ref"] = "refs/heads/release/2.6"
    payload["commits"][0]["modified"] = [CONFIG_FILE]
    await app.deliver("push", payload)

    assert app.configs.invalidated == []
    assert await app.store.load_commits(REPO) == []


# --- installation and installation_repositories -------------------------------------------------


def _installation_payload(name: str, installation_id: int | None = None) -> dict[str, Any]:
    payload = load_payload(name)
    if installation_id is not None:
        payload["installation"]["id"] = installation_id
    return payload


async def installations(app: App) -> dict[int, Installation]:
    return {i.installation_id: i for i in await app.store.installations()}


async def test_installation_lifecycle_is_reflected_in_the_store(app: App) -> None:
    """created → repositories added → removed → suspend → unsuspend → deleted, with the real
    octokit deliveries (all about installation 957387, as GitHub would send them)."""
    ours = 957387
    app.sim.add_installation(ours, "Codertocat")

    await app.deliver("installation", _installation_payload("installation/octokit.created.json"))
    assert await installations(app) == {
        ours: Installation(ours, "Codertocat", ("Codertocat/Hello-World",), suspended=False)
    }

    await app.deliver(
        "installation_repositories",
        _installation_payload("installation_repositories/octokit.added.json"),
    )
    assert (await installations(app))[ours].repos == ("Codertocat/Hello-World", "Codertocat/Space")

    removed = _installation_payload("installation_repositories/octokit.removed.json", ours)
    removed["installation"]["account"] = {"login": "Codertocat"}
    removed["repositories_removed"][0]["full_name"] = "Codertocat/Hello-World"
    await app.deliver("installation_repositories", removed)
    assert (await installations(app))[ours] == Installation(
        ours, "Codertocat", ("Codertocat/Space",), suspended=False
    )

    await app.deliver(
        "installation", _installation_payload("installation/octokit.suspend.json", ours)
    )
    assert (await installations(app))[ours] == Installation(
        ours, "Codertocat", ("Codertocat/Space",), suspended=True
    )
    assert await app.store.installation_for_repo("Codertocat/Space") is None

    await app.deliver(
        "installation", _installation_payload("installation/octokit.unsuspend.json", ours)
    )
    assert (await installations(app))[ours].suspended is False
    assert await app.store.installation_for_repo("Codertocat/Space") == ours

    await app.deliver(
        "installation", _installation_payload("installation/octokit.deleted.json", ours)
    )
    assert await installations(app) == {}
    assert app.api_calls() == []


async def test_installation_repositories_for_an_unknown_installation_is_recorded(
    app: App,
) -> None:
    app.sim.add_installation(957387, "Codertocat")
    await app.deliver(
        "installation_repositories",
        _installation_payload("installation_repositories/octokit.added.json"),
    )
    assert await installations(app) == {
        957387: Installation(957387, "Codertocat", ("Codertocat/Space",), suspended=False)
    }


async def test_new_permissions_accepted_keeps_the_installation_active(app: App) -> None:
    app.sim.add_installation(957387, "Codertocat")
    await app.deliver("installation", _installation_payload("installation/octokit.created.json"))
    await app.deliver(
        "installation", _installation_payload("installation/octokit.new_permissions_accepted.json")
    )
    assert await installations(app) == {
        957387: Installation(957387, "Codertocat", ("Codertocat/Hello-World",), suspended=False)
    }


async def test_installation_deleted_is_processed_although_github_has_no_token_for_it(
    app: App,
) -> None:
    await app.store.save_installation(Installation(2, "octocat", ("octocat/Hello-World",)))
    # The real delivery; installation 2 no longer exists on GitHub (the simulator knows only
    # INSTALLATION_ID), and this process holds no token for it.
    await app.deliver("installation", load_payload("installation/octokit.deleted.json"))
    assert await installations(app) == {}


async def test_installation_suspend_is_processed_although_github_refuses_a_token(
    app: App,
) -> None:
    ours = 16598467
    app.sim.add_installation(ours, "Codertocat")
    await app.store.save_installation(Installation(ours, "Codertocat", ("Codertocat/Space",)))
    app.sim.fail_next(
        "POST",
        f"/app/installations/{ours}/access_tokens",
        403,
        body={
            "message": "This installation has been suspended",
            "documentation_url": "https://docs.github.com/rest/reference/apps"
            "#create-an-installation-access-token-for-an-app",
        },
    )
    await app.deliver("installation", load_payload("installation/octokit.suspend.json"))
    assert (await installations(app))[ours].suspended is True
