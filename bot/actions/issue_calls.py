"""The calls that file, find, edit, comment on and close an issue of the App, and create the
labels it carries.

An alert issue is found again through the API when the store has lost it, by the marker its
body starts with: among open issues carrying the bot label first, through search as a
fallback. Only issues opened by the App itself count, so nobody can plant a marker to steer
the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import markdown as md
from bot.actions.policy import BOT_LABEL, AlertPolicy
from bot.github.rest import Issue, IssueComment, IssueSearch
from bot.tracker.model import CloseReason

log = logging.getLogger(__name__)

OPEN, CLOSED = "open", "closed"  # an issue's state on GitHub (and in its record)

LABEL_COLORS = {
    BOT_LABEL: "5319e7",
    "priority: P0": "b60205",
    "priority: P1": "d93f0b",
    "priority: P2": "fbca04",
    "priority: P3": "0e8a16",
}
ALERT_LABEL_COLOR = "e11d21"
DEFAULT_LABEL_COLOR = "ededed"
LABEL_DESCRIPTION = "Filed by trunkwatch"

ISSUES_PATH = "/repos/{owner}/{repo}/issues"
ISSUE_PATH = "/repos/{owner}/{repo}/issues/{number}"
COMMENTS_PATH = "/repos/{owner}/{repo}/issues/{number}/comments"
LABEL_PATH = "/repos/{owner}/{repo}/labels/{name}"
LABELS_PATH = "/repos/{owner}/{repo}/labels"
SEARCH_PATH = "/search/issues"

CLOSE_STATE_REASON = {
    CloseReason.RECOVERED: "completed",
    CloseReason.FLAKY: "not_planned",
    CloseReason.RESOLVED_BY_USER: "completed",
}


def repo_vars(repo: str, **more: Any) -> dict[str, Any]:
    owner, _, name = repo.partition("/")
    return {"owner": owner, "repo": name, **more}


async def ensure_label(gh: GitHubAPI, repo: str, name: str, known: set[tuple[str, str]]) -> None:
    """Create the label with a colour unless the repository has it. `known` remembers the
    labels seen to exist, so each costs one call per process."""
    if (repo, name.lower()) in known:
        return
    try:
        await gh.getitem(LABEL_PATH, repo_vars(repo, name=name))
    except gidgethub.BadRequest as exc:
        if exc.status_code != 404:
            raise
        color = LABEL_COLORS.get(name, ALERT_LABEL_COLOR if name.startswith("ci:") else None)
        data = {"name": name, "color": color or DEFAULT_LABEL_COLOR}
        try:
            await gh.post(
                LABELS_PATH, repo_vars(repo), data=data | {"description": LABEL_DESCRIPTION}
            )
        except gidgethub.BadRequest as create_exc:
            if create_exc.status_code != 422:  # created meanwhile: already_exists
                raise
    known.add((repo, name.lower()))


def _by_bot(item: Issue | IssueComment, policy: AlertPolicy) -> bool:
    """Written by this App: its own login, not any bot's (another App could plant a marker)."""
    user = item.get("user")
    login = user.get("login") if user else None
    return isinstance(login, str) and login.lower() == policy.bot_login.lower()


async def find_issue(
    gh: GitHubAPI, key: md.AlertKey, policy: AlertPolicy, *, search: bool = True
) -> Issue | None:
    """The open alert issue of (repo, branch, group) on GitHub, by its marker."""
    listing = gh.getiter(
        ISSUES_PATH + "{?state,labels,per_page}",
        repo_vars(key.repo, state="open", labels=BOT_LABEL, per_page=100),
    )
    item: Issue
    async for item in listing:
        if _matches(item, key, policy):
            return item.copy()
    if not search:
        return None
    # The bot label may have been removed by hand; search sees the body either way.
    query = f'repo:{key.repo} is:issue is:open in:body "{md.MARKER_PREFIX}alert"'
    try:
        found: IssueSearch = await gh.getitem(
            SEARCH_PATH + "{?q,per_page}", {"q": query, "per_page": 100}
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code in (403, 422):  # search limited or refused: the listing stands
            log.warning("issue search failed", extra={"repo": key.repo, "status": exc.status_code})
            return None
        raise
    for item in found.get("items", []):
        if _matches(item, key, policy):
            return item.copy()
    return None


def _matches(item: Issue, key: md.AlertKey, policy: AlertPolicy) -> bool:
    return (
        "pull_request" not in item
        and item.get("state") == OPEN
        and _by_bot(item, policy)
        and md.parse_alert_marker(item.get("body")) == key
    )


async def find_previous(
    gh: GitHubAPI, key: md.AlertKey, policy: AlertPolicy
) -> dict[str, Any] | None:
    """The group's most recent closed alert issue among the newest closed ones."""
    page: list[Issue] = await gh.getitem(
        ISSUES_PATH + "{?state,labels,sort,direction,per_page}",
        repo_vars(
            key.repo,
            state="closed",
            labels=BOT_LABEL,
            sort="created",
            direction="desc",
            per_page=50,
        ),
    )
    for item in page:
        marked = md.parse_alert_marker(item.get("body")) == key
        if marked and "pull_request" not in item and _by_bot(item, policy):
            return {"number": item["number"], "url": item.get("html_url", "")}
    return None


async def create(
    gh: GitHubAPI, repo: str, title_text: str, body_text: str, labels: Sequence[str]
) -> Issue:
    data = {"title": title_text, "body": body_text, "labels": list(labels)}
    created: Issue = await gh.post(ISSUES_PATH, repo_vars(repo), data=data)
    return created


async def edit(gh: GitHubAPI, repo: str, number: int, **fields: Any) -> Issue | None:
    """PATCH the issue; None when it no longer exists (deleted or transferred)."""
    try:
        edited: Issue = await gh.patch(ISSUE_PATH, repo_vars(repo, number=number), data=fields)
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 410):
            return None
        raise
    return edited


async def get(gh: GitHubAPI, repo: str, number: int) -> Issue | None:
    try:
        issue: Issue = await gh.getitem(ISSUE_PATH, repo_vars(repo, number=number))
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 410):
            return None
        raise
    return issue


async def comment_once(
    gh: GitHubAPI, repo: str, number: int, text: str, kind: str, policy: AlertPolicy, **fields: str
) -> bool:
    """Post `text` under a marker unless a comment of the bot already carries that marker.
    Returns whether a comment was posted."""
    listing = gh.getiter(
        COMMENTS_PATH + "{?per_page}", repo_vars(repo, number=number, per_page=100)
    )
    existing: IssueComment
    async for existing in listing:
        if _by_bot(existing, policy) and md.find_marker(existing.get("body"), kind, **fields):
            return False
    marked = f"{md.marker(kind, **fields)}\n{text}"
    await gh.post(COMMENTS_PATH, repo_vars(repo, number=number), data={"body": marked})
    return True
