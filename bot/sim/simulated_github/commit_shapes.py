"""The JSON of a repository's code and CI: commits, file contents, comparisons, runs and jobs.

Field sets follow the REST API, as in `shapes` (whose accounts and repositories they embed).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from bot.sim.simulated_github.shapes import WEB, repository, user
from bot.sim.simulated_github.state import Commit, Repo, Run, next_id

# Defaults for a job given to `add_run`, in the shape of a real list-jobs item.
JOB_DEFAULTS: dict[str, Any] = {
    "status": "completed",
    "conclusion": "success",
    "steps": [],
    "labels": ["ubuntu-latest"],
    "runner_id": None,
    "runner_name": None,
    "runner_group_id": None,
    "runner_group_name": None,
}


def commit(api: str, repo: Repo, item: Commit) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/commits/{item.sha}"
    person = {
        "name": item.author,
        "email": f"{item.author}@users.noreply.github.com",
        "date": item.date,
    }
    return {
        "sha": item.sha,
        "node_id": f"C_{item.sha[:12]}",
        "commit": {
            "author": person,
            "committer": person,
            "message": item.message,
            "tree": {
                "sha": hashlib.sha1(item.sha.encode()).hexdigest(),
                "url": f"{api}/repos/{repo.full_name}/git/trees/{item.sha}",
            },
            "url": f"{api}/repos/{repo.full_name}/git/commits/{item.sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
            },
        },
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/commit/{item.sha}",
        "comments_url": url + "/comments",
        "author": user(item.author),
        "committer": user(item.author),
        "parents": [
            {
                "sha": p,
                "url": f"{api}/repos/{repo.full_name}/commits/{p}",
                "html_url": f"{WEB}/{repo.full_name}/commit/{p}",
            }
            for p in item.parents
        ],
    }


def job(api: str, repo: Repo, run: Run, attempt: int, spec: dict[str, Any]) -> dict[str, Any]:
    """A list-jobs item: the real fields (see list-jobs-for-workflow-run.pytorch.json)."""
    job_id = int(spec.get("id") or next_id())
    status = spec.get("status", JOB_DEFAULTS["status"])
    conclusion = spec.get("conclusion", JOB_DEFAULTS["conclusion"])
    created = spec.get("created_at") or run.created_at
    out = {
        "id": job_id,
        "run_id": run.id,
        "workflow_name": run.workflow,
        "head_branch": run.head_branch,
        "run_url": f"{api}/repos/{repo.full_name}/actions/runs/{run.id}",
        "run_attempt": attempt,
        "node_id": f"CR_{job_id}",
        "head_sha": run.head_sha,
        "url": f"{api}/repos/{repo.full_name}/actions/jobs/{job_id}",
        "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run.id}/job/{job_id}",
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "created_at": created,
        "started_at": spec.get("started_at") or created,
        "completed_at": (spec.get("completed_at") or created) if status == "completed" else None,
        "name": spec["name"],
        "check_run_url": f"{api}/repos/{repo.full_name}/check-runs/{job_id}",
    }
    for key, default in JOB_DEFAULTS.items():
        out.setdefault(key, spec.get(key, default))
    return out


def workflow_run(api: str, repo: Repo, run: Run) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/actions/runs/{run.id}"
    attempt = run.latest_attempt
    conclusion = run.conclusions.get(attempt)
    head = repo.commits.get(run.head_sha)
    return {
        "id": run.id,
        "name": run.workflow,
        "node_id": f"WFR_{run.id}",
        "check_suite_id": run.id + 1,
        "check_suite_node_id": f"CS_{run.id + 1}",
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": f".github/workflows/{run.workflow}.yml",
        "display_title": head.message.splitlines()[0] if head and head.message else run.workflow,
        "run_number": run.run_number,
        "event": run.event,
        "status": "completed" if conclusion else "in_progress",
        "conclusion": conclusion,
        "workflow_id": int(hashlib.sha1(run.workflow.encode()).hexdigest()[:6], 16),
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run.id}",
        "pull_requests": [],
        "created_at": run.created_at,
        "updated_at": run.created_at,
        "actor": user(head.author if head else repo.owner),
        "triggering_actor": user(head.author if head else repo.owner),
        "run_attempt": attempt,
        "referenced_workflows": [],
        "run_started_at": run.created_at,
        "jobs_url": url + "/jobs",
        "logs_url": url + "/logs",
        "check_suite_url": f"{api}/repos/{repo.full_name}/check-suites/{run.id + 1}",
        "artifacts_url": url + "/artifacts",
        "cancel_url": url + "/cancel",
        "rerun_url": url + "/rerun",
        "previous_attempt_url": f"{url}/attempts/{attempt - 1}" if attempt > 1 else None,
        "workflow_url": f"{api}/repos/{repo.full_name}/actions/workflows/{run.workflow}.yml",
        "head_commit": {
            "id": run.head_sha,
            "tree_id": hashlib.sha1(run.head_sha.encode()).hexdigest(),
            "message": head.message if head else "",
            "timestamp": head.date if head else run.created_at,
            "author": {"name": head.author if head else "", "email": ""},
            "committer": {"name": head.author if head else "", "email": ""},
        },
        "repository": repository(api, repo),
        "head_repository": repository(api, repo),
    }


def content_file(api: str, repo: Repo, path: str, ref: str, text: str) -> dict[str, Any]:
    raw = text.encode("utf-8")
    blob_sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    encoded = base64.b64encode(raw).decode("ascii")
    # GitHub wraps the base64 at 60 columns.
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    url = f"{api}/repos/{repo.full_name}/contents/{path}?ref={ref}"
    html = f"{WEB}/{repo.full_name}/blob/{ref}/{path}"
    git = f"{api}/repos/{repo.full_name}/git/blobs/{blob_sha}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": wrapped,
        "sha": blob_sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
        "_links": {"self": url, "git": git, "html": html},
    }


def compare_files(api: str, repo: Repo, shas: list[str]) -> list[dict[str, Any]]:
    """The `files` of a comparison: every path the commits changed (oldest first), with its
    net status; a file added and then removed again is not listed, as in a real diff."""
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for sha in shas:
        for path, status in repo.commits[sha].files.items():
            first.setdefault(path, status)
            last[path] = status
    head = shas[-1] if shas else ""
    out = []
    for path in sorted(first):
        if first[path] == "added" and last[path] == "removed":
            continue
        status = "added" if first[path] == "added" else last[path]
        blob = hashlib.sha1(f"{head}:{path}".encode()).hexdigest()
        changes = {"added": (1, 0), "removed": (0, 1)}.get(status, (1, 1))
        out.append(
            {
                "sha": blob,
                "filename": path,
                "status": status,
                "additions": changes[0],
                "deletions": changes[1],
                "changes": sum(changes),
                "blob_url": f"{WEB}/{repo.full_name}/blob/{head}/{path}",
                "raw_url": f"{WEB}/{repo.full_name}/raw/{head}/{path}",
                "contents_url": f"{api}/repos/{repo.full_name}/contents/{path}?ref={head}",
                "patch": "",
            }
        )
    return out
