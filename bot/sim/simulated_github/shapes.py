"""The JSON GitHub answers with for accounts, repositories, issues, pull requests, comments.

Field sets follow the REST API (github_rest_subset.json and the real responses under
shared/fixtures/github): the fields a client may read are present, with real types.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.sim.simulated_github.state import (
    LEGACY_PERMISSION,
    Comment,
    Issue,
    Label,
    Reaction,
    Repo,
    now_iso,
)

WEB = "https://github.com"


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
