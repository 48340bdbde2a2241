"""The JSON GitHub answers with, built from the simulation's records.

Field sets follow the REST API (github_rest_subset.json and the real responses under
shared/fixtures/github): the fields a client may read are present, with real types.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from bot.simulated_github.state import (
    LEGACY_PERMISSION,
    Comment,
    Commit,
    Issue,
    Label,
    Reaction,
    Repo,
    Run,
    next_id,
    now_iso,
)

WEB = "https://github.com"

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


def user(login: str) -> dict[str, Any]:
    is_bot = login.endswith("[bot]")
    uid = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"{WEB}/{login}",
        "type": "Bot" if is_bot else "User",
        "site_admin": False,
    }


def repository(api: str, repo: Repo) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(repo.owner),
        "html_url": f"{WEB}/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": url,
        "issues_url": url + "/issues{/number}",
        "pulls_url": url + "/pulls{/number}",
        "labels_url": url + "/labels{/name}",
        "compare_url": url + "/compare/{base}...{head}",
        "contents_url": url + "/contents/{+path}",
        "default_branch": repo.default_branch,
        "visibility": "private" if repo.private else "public",
        "archived": False,
        "disabled": False,
        "has_issues": True,
        "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": now_iso(),
        "pushed_at": now_iso(),
    }


def label(api: str, repo: Repo, item: Label) -> dict[str, Any]:
    return {
        "id": item.id,
        "node_id": f"LA_{item.id}",
        "url": f"{api}/repos/{repo.full_name}/labels/{item.name}",
        "name": item.name,
        "color": item.color,
        "default": False,
        "description": item.description,
    }


def _reaction_rollup(api: str, url: str, reactions: list[Reaction]) -> dict[str, Any]:
    rollup: dict[str, Any] = {"url": url + "/reactions", "total_count": len(reactions)}
    for content in ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"):
        rollup[content] = sum(1 for r in reactions if r.content == content)
    return rollup


def issue(api: str, repo: Repo, item: Issue) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/issues/{item.number}"
    kind = "pull" if item.pull else "issues"
    out: dict[str, Any] = {
        "id": item.id,
        "node_id": f"I_{item.id}",
        "url": url,
        "repository_url": f"{api}/repos/{repo.full_name}",
        "labels_url": url + "/labels{/name}",
        "comments_url": url + "/comments",
        "events_url": url + "/events",
        "html_url": f"{WEB}/{repo.full_name}/{kind}/{item.number}",
        "number": item.number,
        "state": item.state,
        "state_reason": item.state_reason,
        "title": item.title,
        "body": item.body,
        "user": user(item.user),
        "labels": [label(api, repo, repo.ensure_label(name)) for name in item.labels],
        "assignee": user(item.assignees[0]) if item.assignees else None,
        "assignees": [user(a) for a in item.assignees],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(item.comments),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "closed_at": item.closed_at,
        "author_association": "NONE" if item.user.endswith("[bot]") else "MEMBER",
        "reactions": _reaction_rollup(api, url, []),
        "draft": item.pull.draft if item.pull else False,
    }
    if item.pull is not None:
        out["pull_request"] = {
            "url": f"{api}/repos/{repo.full_name}/pulls/{item.number}",
            "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
            "diff_url": f"{WEB}/{repo.full_name}/pull/{item.number}.diff",
            "patch_url": f"{WEB}/{repo.full_name}/pull/{item.number}.patch",
            "merged_at": item.pull.merged_at,
        }
    return out


def pull(api: str, repo: Repo, item: Issue) -> dict[str, Any]:
    assert item.pull is not None
    info = item.pull
    url = f"{api}/repos/{repo.full_name}/pulls/{item.number}"
    base = issue(api, repo, item)
    return {
        "id": item.id,
        "node_id": f"PR_{item.id}",
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{item.number}",
        "commits_url": url + "/commits",
        "comments_url": base["comments_url"],
        "number": item.number,
        "state": item.state,
        "locked": False,
        "title": item.title,
        "body": item.body,
        "user": user(item.user),
        "labels": base["labels"],
        "assignee": base["assignee"],
        "assignees": base["assignees"],
        "milestone": None,
        "draft": info.draft,
        "head": {
            "label": f"{repo.owner}:{info.head_ref}",
            "ref": info.head_ref,
            "sha": info.head_sha,
            "user": user(item.user),
            "repo": repository(api, repo),
        },
        "base": {
            "label": f"{repo.owner}:{info.base_ref}",
            "ref": info.base_ref,
            "sha": repo.resolve_ref(info.base_ref) or "",
            "user": user(repo.owner),
            "repo": repository(api, repo),
        },
        "merged": info.merged,
        "merged_at": info.merged_at,
        "merge_commit_sha": info.merge_commit_sha,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "closed_at": item.closed_at,
        "author_association": "CONTRIBUTOR",
    }


def comment(api: str, repo: Repo, item: Comment) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/issues/comments/{item.id}"
    return {
        "id": item.id,
        "node_id": f"IC_{item.id}",
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/issues/{item.issue_number}#issuecomment-{item.id}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{item.issue_number}",
        "body": item.body,
        "user": user(item.user),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "author_association": "NONE" if item.user.endswith("[bot]") else "MEMBER",
        "performed_via_github_app": None,
        "reactions": _reaction_rollup(api, url, item.reactions),
    }


def reaction(item: Reaction) -> dict[str, Any]:
    return {
        "id": item.id,
        "node_id": f"REA_{item.id}",
        "user": user(item.user),
        "content": item.content,
        "created_at": item.created_at,
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


def permission(repo: Repo, login: str) -> dict[str, Any]:
    role = repo.permissions.get(login, "read")
    legacy = LEGACY_PERMISSION.get(role, "read")
    return {
        "permission": legacy,
        "role_name": role,
        "user": user(login)
        | {
            "permissions": {
                "admin": legacy == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": legacy in ("admin", "write"),
                "triage": legacy != "none",
                "pull": legacy != "none",
            },
            "role_name": role,
        },
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
