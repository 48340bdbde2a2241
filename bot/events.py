"""Webhook payloads parsed once, at the edge, into small typed values.

Handlers call these and work with the results; nothing else digs through raw payloads.
Malformed payloads raise `PayloadError`, which the worker records as a dead delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.tracker.model import COMPLETED, CommitInfo, JobResult, Push

ZERO_SHA = "0" * 40
BRANCH_PREFIX = "refs/heads/"
# Runs of these events test a pull request's merge, not the trunk.
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target", "merge_group"})


class PayloadError(ValueError):
    """A payload lacks a field trunkwatch needs."""


def _get(mapping: Mapping[str, Any], *path: str) -> Any:
    value: Any = mapping
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise PayloadError(f"payload has no {'.'.join(path)}")
        value = value[key]
    return value


def _str(mapping: Mapping[str, Any], *path: str) -> str:
    value = _get(mapping, *path)
    if not isinstance(value, str):
        raise PayloadError(f"payload field {'.'.join(path)} is not a string")
    return value


def _int(mapping: Mapping[str, Any], *path: str) -> int:
    value = _get(mapping, *path)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"payload field {'.'.join(path)} is not an integer")
    return value


@dataclass(frozen=True, slots=True)
class RepoRef:
    """The repository a delivery is about."""

    full_name: str
    default_branch: str
    installation_id: int | None


def repo_of(payload: Mapping[str, Any]) -> RepoRef:
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, Mapping) else None
    return RepoRef(
        full_name=_str(payload, "repository", "full_name"),
        default_branch=str(payload["repository"].get("default_branch") or "main"),
        installation_id=installation_id if isinstance(installation_id, int) else None,
    )


def _author(commit: Mapping[str, Any]) -> str:
    author = commit.get("author")
    if not isinstance(author, Mapping):
        return ""
    return str(author.get("username") or author.get("name") or "")


@dataclass(frozen=True, slots=True)
class PushEvent:
    push: Push
    touched_paths: frozenset[str]  # files added, modified or removed by the pushed commits
    deleted: bool  # the branch was deleted


def parse_push(payload: Mapping[str, Any], delivery_id: str = "") -> PushEvent | None:
    """A push to a branch, or None for tags and other refs."""
    ref = _str(payload, "ref")
    if not ref.startswith(BRANCH_PREFIX):
        return None
    repo = repo_of(payload)
    commits_raw = _get(payload, "commits")
    if not isinstance(commits_raw, list):
        raise PayloadError("payload field commits is not a list")
    commits: list[CommitInfo] = []
    touched: set[str] = set()
    for raw in commits_raw:
        if not isinstance(raw, Mapping):
            raise PayloadError("payload field commits holds a non-object")
        commits.append(
            CommitInfo(
                sha=_str(raw, "id"),
                message=str(raw.get("message") or ""),
                author=_author(raw),
                timestamp=str(raw.get("timestamp") or ""),
                url=str(raw.get("url") or ""),
            )
        )
        for field in ("added", "modified", "removed"):
            paths = raw.get(field)
            if isinstance(paths, list):
                touched.update(p for p in paths if isinstance(p, str))
    push = Push(
        repo=repo.full_name,
        branch=ref[len(BRANCH_PREFIX) :],
        before=_str(payload, "before"),
        after=_str(payload, "after"),
        commits=tuple(commits),
        delivery_id=delivery_id,
        forced=bool(payload.get("forced")),
    )
    return PushEvent(
        push=push, touched_paths=frozenset(touched), deleted=bool(payload.get("deleted"))
    )


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A completed workflow run on a branch, as the `workflow_run` event tells it."""

    repo: RepoRef
    run_id: int
    run_attempt: int
    workflow: str
    branch: str
    head_sha: str
    event: str
    conclusion: str | None
    html_url: str
    jobs_url: str
    from_fork: bool
    status: str = COMPLETED
    started_at: str = ""  # when this attempt started (or was requested)
    updated_at: str = ""

    @property
    def tests_trunk(self) -> bool:
        """Whether this run says something about the branch (not a pull request's merge)."""
        return self.event not in PULL_REQUEST_EVENTS and not self.from_fork

    def as_result(self, delivery_id: str = "") -> JobResult:
        """The run as one workflow-level result."""
        return JobResult(
            repo=self.repo.full_name,
            branch=self.branch,
            head_sha=self.head_sha,
            workflow=self.workflow,
            job="",
            run_id=self.run_id,
            run_attempt=self.run_attempt,
            conclusion=self.conclusion if self.status == COMPLETED else None,
            url=self.html_url,
            completed_at=self.updated_at if self.status == COMPLETED else "",
            delivery_id=delivery_id,
            status=self.status,
            started_at=self.started_at,
        )


def parse_workflow_run(payload: Mapping[str, Any]) -> WorkflowRun:
    run = _get(payload, "workflow_run")
    if not isinstance(run, Mapping):
        raise PayloadError("payload field workflow_run is not an object")
    repo = repo_of(payload)
    # Some deliveries carry an empty run name; the workflow object has the real one.
    workflow = str(run.get("name") or "") or str((payload.get("workflow") or {}).get("name") or "")
    head_repo = run.get("head_repository")
    head_name = head_repo.get("full_name") if isinstance(head_repo, Mapping) else None
    return WorkflowRun(
        repo=repo,
        run_id=_int(run, "id"),
        run_attempt=int(run.get("run_attempt") or 1),
        workflow=workflow,
        branch=str(run.get("head_branch") or ""),
        head_sha=_str(run, "head_sha"),
        event=str(run.get("event") or ""),
        conclusion=run.get("conclusion") if isinstance(run.get("conclusion"), str) else None,
        html_url=str(run.get("html_url") or ""),
        jobs_url=str(run.get("jobs_url") or ""),
        from_fork=head_name is not None and head_name != repo.full_name,
        status=str(run.get("status") or COMPLETED),
        started_at=str(run.get("run_started_at") or run.get("created_at") or ""),
        updated_at=str(run.get("updated_at") or ""),
    )


def job_result_from_api(
    job: Mapping[str, Any], repo: str, branch: str, workflow: str, delivery_id: str = ""
) -> JobResult:
    """A job object (from the `workflow_job` event or the list-jobs API) as a result."""
    conclusion = job.get("conclusion")
    status = str(job.get("status") or COMPLETED)
    return JobResult(
        repo=repo,
        branch=str(job.get("head_branch") or branch),
        head_sha=_str(job, "head_sha"),
        workflow=str(job.get("workflow_name") or workflow),
        job=_str(job, "name"),
        run_id=_int(job, "run_id"),
        run_attempt=int(job.get("run_attempt") or 1),
        conclusion=conclusion if isinstance(conclusion, str) else None,
        job_id=_int(job, "id"),
        url=str(job.get("html_url") or ""),
        completed_at=str(job.get("completed_at") or ""),
        delivery_id=delivery_id,
        status=status,
        started_at=str(job.get("started_at") or job.get("created_at") or ""),
        infra=status == COMPLETED and conclusion == "failure" and _before_first_step(job),
        runner=runner_type(job),
    )


SETUP_STEP = "Set up job"


def _before_first_step(job: Mapping[str, Any]) -> bool:
    """Whether a failed job failed for its runner: its steps are listed and none of them
    (but the runner's own set-up) failed, so the job's code never failed."""
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        return False  # the steps are unknown: count it as the code's failure
    return not any(
        isinstance(step, Mapping)
        and step.get("conclusion") == "failure"
        and step.get("name") != SETUP_STEP
        for step in steps
    )


def runner_type(job: Mapping[str, Any]) -> str:
    """The kind of runner a job ran on (its labels), for outages of one runner type."""
    labels = job.get("labels")
    if isinstance(labels, list) and labels:
        return ",".join(sorted(str(label) for label in labels))
    return ""


@dataclass(frozen=True, slots=True)
class WorkflowJob:
    repo: RepoRef
    result: JobResult
    completed: bool


def parse_workflow_job(payload: Mapping[str, Any], delivery_id: str = "") -> WorkflowJob:
    job = _get(payload, "workflow_job")
    if not isinstance(job, Mapping):
        raise PayloadError("payload field workflow_job is not an object")
    repo = repo_of(payload)
    result = job_result_from_api(job, repo.full_name, "", "", delivery_id)
    if not result.workflow:
        raise PayloadError("payload has no workflow_job.workflow_name")
    return WorkflowJob(repo=repo, result=result, completed=job.get("status") == "completed")


@dataclass(frozen=True, slots=True)
class InstallationChange:
    installation_id: int
    account: str
    action: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    repositories: tuple[str, ...] | None  # the full list, when the event gives it


def _names(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(r["full_name"] for r in raw if isinstance(r, Mapping) and "full_name" in r)


def parse_installation(payload: Mapping[str, Any]) -> InstallationChange:
    installation = _get(payload, "installation")
    account = installation.get("account") if isinstance(installation, Mapping) else None
    repositories = payload.get("repositories")
    return InstallationChange(
        installation_id=_int(payload, "installation", "id"),
        account=str(account.get("login") or "") if isinstance(account, Mapping) else "",
        action=_str(payload, "action"),
        added=_names(payload.get("repositories_added")),
        removed=_names(payload.get("repositories_removed")),
        repositories=_names(repositories) if isinstance(repositories, list) else None,
    )
