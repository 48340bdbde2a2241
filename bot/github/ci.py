"""The calls culprit confirmation makes: re-running jobs, bisect tags, revert pull requests.

Each takes a gidgethub-style client `gh` and plain values, and handles where it is called the
GitHub errors that are expected (a run already going, a tag already there or already gone);
any other error is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypedDict

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.github.client import DEFAULT_API_URL, graphql_url
from bot.github.jobs import _repo_vars
from bot.github.rest import PullRequest

log = logging.getLogger(__name__)

RERUN_JOB = "/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun"
RERUN_FAILED_JOBS = "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs"
REFS = "/repos/{owner}/{repo}/git/refs"
REF = "/repos/{owner}/{repo}/git/refs/{+ref}"  # `+`: the ref's slashes stay slashes
COMPARE = "/repos/{owner}/{repo}/compare/{basehead}"
PULL = "/repos/{owner}/{repo}/pulls/{number}"
TAG_PREFIX = "refs/tags/"
# What GitHub says (403) when a run cannot be re-run now or at all.
_NOT_RERUNNABLE = ("already running", "cannot be retried", "cannot be rerun", "cannot be re-run")

REVERT_PULL_REQUEST = """
mutation($pullRequestId: ID!, $title: String, $body: String, $draft: Boolean) {
  revertPullRequest(
    input: {pullRequestId: $pullRequestId, title: $title, body: $body, draft: $draft}
  ) {
    revertPullRequest { number url }
  }
}
"""


class RevertOpened(TypedDict):
    """The pull request `revertPullRequest` opened."""

    number: int
    url: str  # its web page


class RevertFailed(gidgethub.GitHubException):
    """GitHub did not open the revert pull request; the message says why."""


def _refused_rerun(exc: gidgethub.BadRequest) -> bool:
    return exc.status_code == 403 and any(text in str(exc).lower() for text in _NOT_RERUNNABLE)


async def _requested(call: Awaitable[Any], what: str) -> bool:
    """True once the re-run is requested; False when GitHub refuses it (403, logged)."""
    try:
        await call
    except gidgethub.BadRequest as exc:
        if not _refused_rerun(exc):
            raise
        log.info("rerun refused", extra={"what": what, "reason": str(exc)})
        return False
    return True


async def rerun_job(gh: GitHubAPI, repo: str, job_id: int) -> bool:
    """Re-run one job (and, on GitHub, the jobs that need it) as a new attempt of its run:
    `POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun` (201). False when GitHub
    refuses because the run is still going or cannot be re-run (403)."""
    url_vars = _repo_vars(repo) | {"job_id": job_id}
    return await _requested(gh.post(RERUN_JOB, url_vars=url_vars, data={}), f"{repo} job {job_id}")


async def rerun_failed_jobs(gh: GitHubAPI, repo: str, run_id: int) -> bool:
    """Re-run a run's failed jobs as a new attempt:
    `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs` (201). False when
    GitHub refuses because the run is still going or cannot be re-run (403)."""
    url_vars = _repo_vars(repo) | {"run_id": run_id}
    call = gh.post(RERUN_FAILED_JOBS, url_vars=url_vars, data={})
    return await _requested(call, f"{repo} run {run_id}")


async def create_tag(
    gh: GitHubAPI, repo: str, tag: str, sha: str, existing_ok: bool = True
) -> bool:
    """Tag `sha` as `tag` (a lightweight tag, which the repository's workflows may run on):
    `POST /repos/{owner}/{repo}/git/refs` {"ref": "refs/tags/<tag>", "sha"} (201). A tag
    that already exists (422 "Reference already exists") counts as created, or, when not
    `existing_ok`, as refused (False): its runs were started by someone else."""
    body = {"ref": TAG_PREFIX + tag, "sha": sha}
    try:
        await gh.post(REFS, url_vars=_repo_vars(repo), data=body)
    except gidgethub.BadRequest as exc:
        if exc.status_code != 422 or "already exists" not in str(exc).lower():
            raise
        return existing_ok
    return True


async def delete_tag(gh: GitHubAPI, repo: str, tag: str) -> None:
    """Remove a tag: `DELETE /repos/{owner}/{repo}/git/refs/tags/<tag>` (204). A tag
    already gone (404, or 422 "Reference does not exist") is fine."""
    try:
        await gh.delete(REF, url_vars=_repo_vars(repo) | {"ref": "tags/" + tag})
    except gidgethub.BadRequest as exc:
        if exc.status_code not in (404, 422):
            raise


async def revert_pull_request(
    gh: GitHubAPI, pull_node_id: str, title: str, body: str, draft: bool = False
) -> RevertOpened:
    """Open a pull request that reverts a merged one, as its "Revert" button does: the
    GraphQL mutation `revertPullRequest(input: {pullRequestId, title, body, draft})`.
    Returns the new pull request's `number` and `url` (its web page). Raises RevertFailed
    when GitHub answers with errors (an unknown node id, a PR not merged, a conflict…)."""
    base_url = getattr(gh, "base_url", DEFAULT_API_URL)
    try:
        data = await gh.graphql(
            REVERT_PULL_REQUEST,
            endpoint=graphql_url(base_url),
            pullRequestId=pull_node_id,
            title=title,
            body=body,
            draft=draft,
        )
    except gidgethub.QueryError as exc:
        errors = exc.response.get("errors") if isinstance(exc.response, dict) else None
        reasons = "; ".join(
            f"{e.get('type') or 'ERROR'}: {e.get('message')}"
            for e in errors or []
            if isinstance(e, dict)
        )
        raise RevertFailed(f"revertPullRequest({pull_node_id}) failed: {reasons or exc}") from None
    payload = (data or {}).get("revertPullRequest") or {}
    revert = payload.get("revertPullRequest")
    if not isinstance(revert, dict) or "number" not in revert:
        raise RevertFailed(f"revertPullRequest({pull_node_id}) returned no pull request")
    return {"number": int(revert["number"]), "url": str(revert.get("url") or "")}


async def files_changed(gh: GitHubAPI, repo: str, base: str, head: str) -> set[str]:
    """The paths changed between two commits: `GET /repos/{owner}/{repo}/compare/
    {base}...{head}`, its `files[].filename` (GitHub lists at most 300 files)."""
    url_vars = _repo_vars(repo) | {"basehead": f"{base}...{head}"}
    comparison = await gh.getitem(COMPARE, url_vars)
    return {
        str(f["filename"])
        for f in comparison.get("files") or []
        if isinstance(f, dict) and f.get("filename")
    }


async def pull_request(gh: GitHubAPI, repo: str, number: int) -> PullRequest | None:
    """One pull request (`node_id`, `merged_at`, `merge_commit_sha`, `title`, `user`,
    `labels`, …): `GET /repos/{owner}/{repo}/pulls/{number}`; None when there is none."""
    try:
        pull: PullRequest = await gh.getitem(PULL, _repo_vars(repo) | {"number": number})
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    return pull
