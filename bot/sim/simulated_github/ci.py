"""A simulated GitHub Actions whose jobs pass or fail as a test's truth says.

`sim.set_ci(repo, {"trunk": ["build", "test"]}, truth)` gives a repository a CI that
culprit confirmation can use for real: re-running a job (`POST …/actions/jobs/{id}/rerun`)
or a run's failed jobs (`POST …/runs/{id}/rerun-failed-jobs`) makes a new attempt of that
run, and creating a tag that matches `tag_pattern` (`POST …/git/refs`) starts a run of every
configured workflow on the tagged commit, with the tag's name as `head_branch` and event
`push`, as GitHub does for a tag push. A job's conclusion is `truth(sha, workflow, job,
attempt)`.

As on GitHub, the API answers first and the run follows. Each attempt sends the App, in
order: `workflow_run` requested (status queued), `workflow_job` queued for each job,
`workflow_run` in_progress, then for each job `workflow_job` in_progress and completed, and
last `workflow_run` completed. They go through the App's webhook (`HookDeliveries`), signed
and on record, so a delivery the App missed is there for its recovery. The runs and their
jobs are listed by the usual Actions routes while they go. `await sim.ci_settle()` waits
until every run started so far has finished and been delivered.

A new attempt lists only the jobs it re-ran (GitHub's list-jobs for an attempt has done so
since 2025); the run's conclusion counts every job's latest result, so a run whose re-run job
passed still fails while another job's failure stands. Dependent jobs are not re-run.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.sim.simulated_github import commit_shapes, shapes
from bot.sim.simulated_github.state import Repo, Run, next_id, now_iso

if TYPE_CHECKING:
    from bot.sim.simulated_github.server import SimulatedGitHub

log = logging.getLogger(__name__)

# (sha, workflow, job, attempt) → the job's conclusion ("success", "failure", …)
Truth = Callable[[str, str, str, int], str]
DEFAULT_TAG_PATTERN = "trunkwatch/bisect/*"
# The conclusions that "re-run failed jobs" re-runs, and that fail a run.
FAILED = frozenset({"failure", "timed_out", "cancelled", "startup_failure"})
RUNNER = {
    "runner_id": 1,
    "runner_name": "GitHub Actions 1",
    "runner_group_id": 2,
    "runner_group_name": "GitHub Actions",
}


@dataclass
class CiConfig:
    """One repository's CI: its workflows (name → job names) and how their jobs end."""

    workflows: dict[str, list[str]]
    truth: Truth
    tag_pattern: str = DEFAULT_TAG_PATTERN  # fnmatch over the tag name (no refs/tags/)
    step_delay: float = 0.0  # seconds between the steps of a run


def latest_conclusions(run: Run, upto: int | None = None) -> dict[str, str | None]:
    """Each job's latest conclusion over the attempts (up to `upto`), by job name."""
    latest: dict[str, str | None] = {}
    for attempt in sorted(run.attempts):
        if upto is not None and attempt > upto:
            break
        for spec in run.attempts[attempt]:
            latest[spec["name"]] = spec.get("conclusion", commit_shapes.JOB_DEFAULTS["conclusion"])
    return latest


def in_progress(run: Run) -> bool:
    return bool(run.attempts) and run.conclusions.get(run.latest_attempt) is None


class SimulatedCI:
    def __init__(self, sim: SimulatedGitHub) -> None:
        self.sim = sim
        self.configs: dict[str, CiConfig] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []
        self._started_by_app: set[int] = set()  # runs whose actor is the App (its tag)
        self._attempt_started: dict[tuple[int, int], str] = {}  # (run, attempt) → when

    def configure(self, repo: str, config: CiConfig) -> None:
        self.configs[repo] = config

    # --- starting runs and attempts -----------------------------------------------------

    def on_tag(self, repo: Repo, tag: str, sha: str) -> list[Run]:
        """Runs of every workflow on a tag just created, when the CI runs on that tag."""
        config = self.configs.get(repo.full_name)
        if config is None or not fnmatch.fnmatchcase(tag, config.tag_pattern):
            return []
        runs = [self.new_run(repo, workflow, sha, tag) for workflow in config.workflows]
        self._started_by_app.update(run.id for run in runs)
        return runs

    def new_run(self, repo: Repo, workflow: str, sha: str, head_branch: str) -> Run:
        """A run queued with attempt 1 of the workflow's jobs; `play` sends it."""
        config = self.configs[repo.full_name]
        run = Run(
            id=next_id(),
            workflow=workflow,
            head_sha=sha,
            head_branch=head_branch,
            event="push",
            run_number=len(repo.runs) + 1,
        )
        repo.runs[run.id] = run
        self._queue_attempt(run, config.workflows[workflow])
        return run

    def rerun(self, repo: Repo, run: Run, job_names: Iterable[str]) -> int | None:
        """A new attempt of `run` re-running those jobs, sent in the background; None
        when the repository has no CI (the request is only recorded then)."""
        if repo.full_name not in self.configs:
            return None
        attempt = self._queue_attempt(run, list(dict.fromkeys(job_names)))
        self.spawn(self.play(repo, run, attempt))
        return attempt

    def rerun_failed(self, repo: Repo, run: Run) -> int | None:
        failed = [name for name, c in latest_conclusions(run).items() if c in FAILED]
        return self.rerun(repo, run, failed) if failed else None

    def _queue_attempt(self, run: Run, job_names: list[str]) -> int:
        attempt = max(run.attempts) + 1 if run.attempts else 1
        created = now_iso()
        run.attempts[attempt] = [
            {
                "id": next_id(),
                "name": name,
                "status": "queued",
                "conclusion": None,
                "created_at": created,
                "started_at": created,
                "steps": [],
            }
            for name in job_names
        ]
        run.conclusions[attempt] = None
        self._attempt_started[(run.id, attempt)] = created
        return attempt

    # --- running in the background ------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:  # kept for ci_settle: a broken truth must fail the test
            log.exception("simulated CI failed")
            self._errors.append(exc)

    async def settle(self) -> None:
        """Wait until every run started so far has finished and been delivered; re-raise
        the first error a run met (e.g. a truth that raised)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def play(self, repo: Repo, run: Run, attempt: int) -> None:
        """One attempt from queued to completed, each step delivered to the App in order."""
        config = self.configs[repo.full_name]
        jobs = run.attempts[attempt]
        await self._send_run(repo, run, attempt, "requested")
        for spec in jobs:
            await self._send_job(repo, run, attempt, spec, "queued")
        await asyncio.sleep(config.step_delay)
        await self._send_run(repo, run, attempt, "in_progress")
        for spec in jobs:
            spec.update(status="in_progress", started_at=now_iso(), **RUNNER)
            spec["steps"] = _steps(spec["name"], None)
            await self._send_job(repo, run, attempt, spec, "in_progress")
            await asyncio.sleep(config.step_delay)
            conclusion = config.truth(run.head_sha, run.workflow, spec["name"], attempt)
            spec.update(status="completed", conclusion=conclusion, completed_at=now_iso())
            spec["steps"] = _steps(spec["name"], conclusion)
            await self._send_job(repo, run, attempt, spec, "completed")
        failed = any(c in FAILED for c in latest_conclusions(run, attempt).values())
        run.conclusions[attempt] = "failure" if failed else "success"
        await self._send_run(repo, run, attempt, "completed")

    # --- the webhook payloads -----------------------------------------------------------

    def envelope(self, repo: Repo, action: str | None) -> dict[str, Any]:
        """What every delivery about `repo` carries: its action (if any), the repository,
        the sender (the App, whose API call caused it) and the installation."""
        out: dict[str, Any] = {} if action is None else {"action": action}
        out["repository"] = shapes.repository(self.sim.base_url, repo)
        out["sender"] = shapes.user(f"{self.sim.app_slug}[bot]")
        installation = next(
            (
                i
                for i in self.sim.installations.values()
                if i.repos is None or repo.full_name in i.repos
            ),
            None,
        )
        if installation is not None:
            out["installation"] = {"id": installation.id, "node_id": f"MDIz_{installation.id}"}
        return out

    def run_payload(self, repo: Repo, run: Run, attempt: int, action: str) -> dict[str, Any]:
        """A `workflow_run` delivery for one attempt (`requested`, `in_progress`,
        `completed`), in the shape of the real ones (payloads/workflow_run/)."""
        api = self.sim.base_url
        body = commit_shapes.workflow_run(api, repo, run)
        completed = action == "completed"
        app = shapes.user(f"{self.sim.app_slug}[bot]")
        body.update(
            status={"requested": "queued"}.get(action, action),
            conclusion=run.conclusions.get(attempt) if completed else None,
            run_attempt=attempt,
            updated_at=now_iso(),
            run_started_at=self._attempt_started.get((run.id, attempt), run.created_at),
            previous_attempt_url=f"{body['url']}/attempts/{attempt - 1}" if attempt > 1 else None,
        )
        if attempt > 1 or run.id in self._started_by_app:
            body["triggering_actor"] = app
        if run.id in self._started_by_app:
            body["actor"] = app
        workflow_id = body["workflow_id"]
        workflow = {
            "id": workflow_id,
            "node_id": f"W_{workflow_id}",
            "name": run.workflow,
            "path": body["path"],
            "state": "active",
            "created_at": "2020-01-01T00:00:00.000Z",
            "updated_at": "2020-01-01T00:00:00.000Z",
            "url": f"{api}/repos/{repo.full_name}/actions/workflows/{workflow_id}",
            "html_url": f"{shapes.WEB}/{repo.full_name}/blob/{repo.default_branch}/{body['path']}",
            "badge_url": f"{shapes.WEB}/{repo.full_name}/workflows/{run.workflow}/badge.svg",
        }
        return self.envelope(repo, action) | {"workflow_run": body, "workflow": workflow}

    def job_payload(
        self, repo: Repo, run: Run, attempt: int, spec: dict[str, Any], action: str
    ) -> dict[str, Any]:
        job = commit_shapes.job(self.sim.base_url, repo, run, attempt, spec)
        return self.envelope(repo, action) | {"workflow_job": job}

    async def _send_run(self, repo: Repo, run: Run, attempt: int, action: str) -> None:
        await self.sim.hooks.deliver("workflow_run", self.run_payload(repo, run, attempt, action))

    async def _send_job(
        self, repo: Repo, run: Run, attempt: int, spec: dict[str, Any], action: str
    ) -> None:
        payload = self.job_payload(repo, run, attempt, spec, action)
        await self.sim.hooks.deliver("workflow_job", payload)


def _steps(job: str, conclusion: str | None) -> list[dict[str, Any]]:
    """The steps of a job, as a real `workflow_job` lists them."""
    now = now_iso()
    done = conclusion is not None
    names = ["Set up job", f"Run {job}", "Complete job"]
    steps = []
    for number, name in enumerate(names, 1):
        finished = done or number == 1
        steps.append(
            {
                "name": name,
                "status": "completed" if finished else "queued" if number > 2 else "in_progress",
                "conclusion": (conclusion if number == 2 else "success") if finished else None,
                "number": number,
                "started_at": now if finished or number == 2 else None,
                "completed_at": now if finished else None,
            }
        )
    return steps


def ref_node_id(repo: Repo, ref: str) -> str:
    return "REF_" + hashlib.sha1(f"{repo.full_name}:{ref}".encode()).hexdigest()[:20]
