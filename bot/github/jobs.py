"""Read-only questions the tracker asks GitHub: a run's jobs, missed commits, a commit's PRs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.github.rest import Commit, Job, PullRequest

PER_PAGE = 100
RUN_JOBS = "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs{?per_page}"
ATTEMPT_JOBS = "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs{?per_page}"
COMPARE = "/repos/{owner}/{repo}/compare/{basehead}{?per_page}"
COMMIT_PULLS = "/repos/{owner}/{repo}/commits/{sha}/pulls{?per_page}"


def _repo_vars(repo: str) -> dict[str, str]:
    owner, _, name = repo.partition("/")
    if not owner or not name:
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return {"owner": owner, "repo": name}


def _with_per_page(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("per_page", str(PER_PAGE))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def list_run_jobs(
    gh: GitHubAPI,
    repo_or_jobs_url: str,
    run_id: int | None = None,
    attempt: int | None = None,
) -> list[Job]:
    """Every job of a workflow run, across all pages.

    Either `list_run_jobs(gh, run["jobs_url"])` (the latest attempt) or
    `list_run_jobs(gh, "owner/repo", run_id, attempt)` (that attempt; the latest when
    `attempt` is None).
    """
    url: str
    url_vars: dict[str, Any]
    if run_id is None:
        url, url_vars = _with_per_page(repo_or_jobs_url), {}
    elif attempt is None:
        url = RUN_JOBS
        url_vars = _repo_vars(repo_or_jobs_url) | {"run_id": run_id, "per_page": PER_PAGE}
    else:
        url = ATTEMPT_JOBS
        url_vars = _repo_vars(repo_or_jobs_url) | {
            "run_id": run_id,
            "attempt": attempt,
            "per_page": PER_PAGE,
        }
    return [job async for job in gh.getiter(url, url_vars, iterable_key="jobs")]


async def commits_between(gh: GitHubAPI, repo: str, base: str, head: str) -> list[Commit]:
    """The commits after `base` up to and including `head`, oldest first (compare API)."""
    url_vars: dict[str, Any] = _repo_vars(repo) | {"basehead": f"{base}...{head}"}
    url_vars["per_page"] = PER_PAGE
    return [commit async for commit in gh.getiter(COMPARE, url_vars, iterable_key="commits")]


async def pulls_for_commit(gh: GitHubAPI, repo: str, sha: str) -> list[PullRequest]:
    """The pull requests GitHub associates with a commit; none for an unknown commit."""
    url_vars: dict[str, Any] = _repo_vars(repo) | {"sha": sha}
    url_vars["per_page"] = PER_PAGE
    try:
        return [pull async for pull in gh.getiter(COMMIT_PULLS, url_vars)]
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 409, 422):
            return []
        raise
