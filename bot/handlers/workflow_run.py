"""`workflow_run`: a run finished on a branch.

The run itself counts as a workflow-level result. Its jobs are listed from the API only where
the design says the budget is worth it: a failed run of a watched workflow, or a successful
one that may end a streak; never when the repository sends `workflow_job` events.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.engine import Engine, Unit
from bot.events import WorkflowRun, job_result_from_api, parse_workflow_run
from bot.github import ci
from bot.github.jobs import commits_between, list_run_jobs
from bot.tracker import RepoTracker
from bot.tracker.model import CommitInfo, JobResult, Outcome, Push, outcome_of

router = routing.Router()


async def _watched_run(
    event: sansio.Event, gh: GitHubAPI | None, engine: Engine, unit: Unit
) -> tuple[WorkflowRun, RepoTracker] | None:
    """The run and its repository's tracker, when the run tests a watched workflow on a
    watched branch."""
    run = parse_workflow_run(event.data)
    if not run.tests_trunk:
        return None
    tracker = await engine.tracker(gh, run.repo.full_name, run.repo.default_branch, unit)
    if tracker is None or tracker.placed(run.as_result()) is None:
        return None  # (a bisection run, on its tag, counts for its commit's branch)
    return (run, tracker) if tracker.watches_workflow(run.workflow) else None


@router.register("workflow_run", action="requested")
@router.register("workflow_run", action="in_progress")
async def on_run_started(
    event: sansio.Event, gh: GitHubAPI | None, *, engine: Engine, unit: Unit, **_: Any
) -> None:
    """A run (or a rerun) of a workflow started on a commit: its jobs there are pending."""
    watched = await _watched_run(event, gh, engine, unit)
    if watched is not None:
        run = watched[0]
        result = run.as_result(event.delivery_id or "")
        await engine.results(gh, run.repo.full_name, run.repo.default_branch, [result], unit)


@router.register("workflow_run", action="completed")
async def on_run_completed(
    event: sansio.Event, gh: GitHubAPI | None, *, engine: Engine, unit: Unit, **_: Any
) -> None:
    watched = await _watched_run(event, gh, engine, unit)
    if watched is None:
        return
    run, tracker = watched
    repo, default_branch = run.repo.full_name, run.repo.default_branch
    delivery_id = event.delivery_id or ""
    placed = tracker.placed(run.as_result())
    branch = placed.branch if placed is not None else run.branch
    in_streak = tracker.workflow_in_streak
    list_jobs = gh is not None and await _jobs_needed(engine, run, branch, in_streak)
    failed = outcome_of(run.conclusion) is Outcome.FAIL
    if gh is not None and (failed or list_jobs) and tracker.commit(run.head_sha) is None:
        # A missed push, and the result matters: learn the commits. (A green run that ends
        # no streak waits for its push instead: it costs no call.)
        await _backfill(gh, engine, run, tracker.head(run.branch), default_branch, unit)
    results: list[JobResult] = []
    if gh is not None and list_jobs:
        jobs = await list_run_jobs(gh, repo, run.run_id, run.run_attempt)
        results.extend(
            job_result_from_api(job, repo, run.branch, run.workflow, delivery_id)
            for job in jobs
            if job.get("status") == "completed"
        )
    # The run's own result last: once its jobs are known it cannot count as a job itself.
    results.append(run.as_result(delivery_id))
    await engine.results(gh, repo, default_branch, results, unit)
    if gh is not None and branch != run.branch and run.run_attempt == 1:
        # A bisection run, on its tag, is over: the tag goes (each watched workflow that ran
        # on it asks once; a tag already gone is fine). Its reruns need no tag.
        await ci.delete_tag(gh, repo, run.branch)


async def _jobs_needed(engine: Engine, run: WorkflowRun, branch: str, in_streak: Any) -> bool:
    if await engine.receives_job_events(run.repo.full_name):
        return False
    outcome = outcome_of(run.conclusion)
    if outcome is Outcome.FAIL:
        return True
    return outcome is Outcome.PASS and bool(in_streak(branch, run.workflow))


async def _backfill(
    gh: GitHubAPI,
    engine: Engine,
    run: WorkflowRun,
    head: str | None,
    default_branch: str,
    unit: Unit,
) -> None:
    """A result for a commit we never saw pushed: learn the commits since our head."""
    if head is None:
        return
    commits = await commits_between(gh, run.repo.full_name, head, run.head_sha)
    if not commits:
        return
    push = Push(
        repo=run.repo.full_name,
        branch=run.branch,
        before=head,
        after=run.head_sha,
        commits=tuple(
            CommitInfo(
                sha=c["sha"],
                message=str(c.get("commit", {}).get("message") or ""),
                author=str((c.get("author") or {}).get("login") or ""),
                timestamp=str((c.get("commit", {}).get("author") or {}).get("date") or ""),
                url=str(c.get("html_url") or ""),
            )
            for c in commits
        ),
        delivery_id=unit.delivery_id,
    )
    await engine.push(gh, push, default_branch, unit)
