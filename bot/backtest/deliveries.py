"""What a backtest read, and the deliveries the webhook would have sent for it, in trunk order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.events import ZERO_SHA
from bot.github.rest import Commit, Job
from bot.runtime.replay import RecordedDelivery
from bot.tracker.model import Outcome, outcome_of


@dataclass
class Fetched:
    """What the backtest read (or found on disk)."""

    repository: dict[str, Any]
    commits: list[Commit]  # oldest first
    runs: list[dict[str, Any]]  # the runs on those commits
    jobs: dict[int, list[Job]]  # run id → jobs of every attempt
    needing_jobs: set[int] = field(default_factory=set)  # run ids whose jobs count
    complete: bool = True  # False: the budget ran out first


def deliveries_by_commit(fetched: Fetched, branch: str) -> Iterator[list[RecordedDelivery] | None]:
    """Per commit, oldest first: its push, then for each run on it (in the order they were
    created) each attempt's jobs and then the attempt itself, as the webhook sends them.
    None for a commit with a run whose jobs the budget left unread (and everything after)."""
    repository = fetched.repository
    runs_by_commit: dict[str, list[dict[str, Any]]] = {}
    for run in fetched.runs:
        runs_by_commit.setdefault(run["head_sha"], []).append(run)
    parent = ZERO_SHA
    for commit in fetched.commits:
        sha = commit["sha"]
        parents = commit.get("parents") or []
        parent = parents[0]["sha"] if parents else parent
        out = [
            RecordedDelivery(
                "push", f"backtest-push-{sha}", _push(repository, branch, commit, parent)
            )
        ]
        for run in runs_by_commit.get(sha, []):
            if run.get("status") != "completed":
                continue
            if run["id"] in fetched.needing_jobs and run["id"] not in fetched.jobs:
                yield None
                return
            out.extend(_run_deliveries(repository, run, fetched.jobs.get(run["id"], [])))
        parent = sha
        yield out


def _push(repository: dict[str, Any], branch: str, commit: Commit, parent: str) -> dict[str, Any]:
    detail = commit.get("commit") or {}
    author = detail.get("author") or {}
    login = (commit.get("author") or {}).get("login")
    pushed = {
        "id": commit["sha"],
        "message": detail.get("message") or "",
        "timestamp": author.get("date") or "",
        "url": commit.get("html_url") or "",
        "author": {"name": author.get("name") or "", "username": login or author.get("name")},
        "added": [],
        "removed": [],
        "modified": [],
    }
    return {
        "ref": f"refs/heads/{branch}",
        "before": parent,
        "after": commit["sha"],
        "created": parent == ZERO_SHA,
        "deleted": False,
        "forced": False,
        "commits": [pushed],
        "head_commit": pushed,
        "repository": repository,
    }


def _run_deliveries(
    repository: dict[str, Any], run: dict[str, Any], jobs: list[Job]
) -> Iterator[RecordedDelivery]:
    latest = int(run.get("run_attempt") or 1)
    by_attempt: dict[int, list[Job]] = {}
    for job in jobs:
        by_attempt.setdefault(int(job.get("run_attempt") or 1), []).append(job)
    failing: dict[str, bool] = {}  # job name → whether its latest attempt so far failed
    for attempt in range(1, latest + 1):
        for job in by_attempt.get(attempt, []):
            if job.get("status") != "completed":
                continue
            failing[str(job["name"])] = outcome_of(job.get("conclusion")) is Outcome.FAIL
            payload = {"action": "completed", "workflow_job": job, "repository": repository}
            yield RecordedDelivery("workflow_job", f"backtest-job-{job['id']}-{attempt}", payload)
        if attempt == latest:
            conclusion = run.get("conclusion")
        else:  # an earlier attempt's own result, from its jobs (no call for it)
            conclusion = "failure" if any(failing.values()) else "success"
        attempt_run = dict(run, run_attempt=attempt, conclusion=conclusion, status="completed")
        payload = {
            "action": "completed",
            "workflow_run": attempt_run,
            "workflow": {"name": run.get("name")},
            "repository": repository,
        }
        yield RecordedDelivery("workflow_run", f"backtest-run-{run['id']}-{attempt}", payload)
