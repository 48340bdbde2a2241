"""`issue_comment`: slash commands in new comments on issues and pull requests.

Only newly created comments count; edits and deletions are ignored, and so are comments by
bots (the App's own replies among them). A comment without a line that could be a command
costs no call to GitHub.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.actions.policy import DEFAULT_APP_SLUG
from bot.commands.context import CommandContext, IssueRef
from bot.commands.limits import ReplyLimits
from bot.commands.parser import DEFAULT_PREFIX
from bot.commands.runner import run_comment
from bot.config import RepoConfig
from bot.engine import ConfigSource, Engine, Unit
from bot.events import PayloadError, repo_of
from bot.policies import policy_for
from bot.store.base import Store

router = routing.Router()


@dataclass(frozen=True, slots=True)
class NewComment:
    repo: str
    default_branch: str
    comment_id: int
    body: str
    author: str
    by_bot: bool
    issue: IssueRef


def _is_bot(user: Mapping[str, Any]) -> bool:
    return user.get("type") == "Bot" or str(user.get("login") or "").endswith("[bot]")


def parse_new_comment(payload: Mapping[str, Any]) -> NewComment:
    repo = repo_of(payload)
    comment, issue = payload.get("comment"), payload.get("issue")
    if not isinstance(comment, Mapping) or not isinstance(issue, Mapping):
        raise PayloadError("payload has no comment or issue")
    comment_id, number = comment.get("id"), issue.get("number")
    if not isinstance(comment_id, int) or not isinstance(number, int):
        raise PayloadError("payload has no comment.id or issue.number")
    author = comment.get("user") or {}
    by_bot = (
        _is_bot(payload.get("sender") or {})
        or _is_bot(author)
        or comment.get("performed_via_github_app") is not None
    )
    return NewComment(
        repo=repo.full_name,
        default_branch=repo.default_branch,
        comment_id=comment_id,
        body=str(comment.get("body") or ""),
        author=str(author.get("login") or ""),
        by_bot=by_bot,
        issue=IssueRef(
            number=number,
            url=str(issue.get("html_url") or ""),
            body=issue.get("body") if isinstance(issue.get("body"), str) else None,
            by_bot=_is_bot(issue.get("user") or {}),
            is_pull="pull_request" in issue,
            author=str((issue.get("user") or {}).get("login") or ""),
        ),
    )


def might_be_command(body: str) -> bool:
    """Cheap test before reading the configuration: some line starts with `/` or `@`."""
    return any(line.lstrip(" ")[:1] in ("/", "@") for line in body.splitlines())


@router.register("issue_comment", action="created")
async def on_comment_created(
    event: sansio.Event,
    gh: GitHubAPI | None,
    *,
    engine: Engine,
    store: Store,
    config: ConfigSource,
    unit: Unit,
    sink: Any = None,
    app_slug: str | None = None,
    command_limits: ReplyLimits | None = None,
    clock: Callable[[], float] = time.time,
    **_: Any,
) -> None:
    comment = parse_new_comment(event.data)
    if comment.by_bot or not comment.author or gh is None or not might_be_command(comment.body):
        return
    repo_config = await config.for_repo(gh, comment.repo, comment.default_branch)
    watched = repo_config if isinstance(repo_config, RepoConfig) else None
    ctx = CommandContext(
        gh=gh,
        store=store,
        engine=engine,
        unit=unit,
        repo=comment.repo,
        default_branch=comment.default_branch,
        config=watched,
        prefix=watched.commands.prefix if watched is not None else DEFAULT_PREFIX,
        app_slug=app_slug or getattr(sink, "app_slug", None) or DEFAULT_APP_SLUG,
        issue=comment.issue,
        comment_id=comment.comment_id,
        author=comment.author,
        now=clock(),
        policy_for=policy_for,
    )
    await run_comment(ctx, comment.body, command_limits)
