"""Running the commands of one new comment: who may, where, and what the App answers.

For each distinct command line of the comment, in order, up to `MAX_COMMANDS` (the rest are
ignored, and the reply says so): a line that does not parse gets a short error with that
command's usage; a command that changes state, from someone without write access, gets a
polite refusal; an alert command typed elsewhere than an alert issue is told where it works.
Everything else runs. An accepted command gets a reaction on the comment (`+1`), a rejected one
`confused`, and the comment gets one reply for all of its commands, posted under a marker
naming the comment so that a retried delivery does not post it twice. Replies are rate limited
per user and per repository (`bot.commands.limits`). Each command is logged, with who ran it.
(`resolve` says nothing itself: the alert issue's closing comment does.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import gidgethub

from bot.actions import issue_calls
from bot.actions import markdown as md
from bot.actions.policy import AlertPolicy
from bot.commands import alert_commands, permissions, repo_commands
from bot.commands.context import AlertTarget, CommandContext
from bot.commands.limits import MAX_COMMANDS, ReplyLimits
from bot.commands.parser import Command, CommandError, Scope, parse_comment

log = logging.getLogger(__name__)

REACTIONS_PATH = "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
ACCEPTED, REJECTED = "+1", "confused"
REPLY_MARKER = "command_reply"

Executor = Callable[[CommandContext, Command], Awaitable[str]]
AlertExecutor = Callable[[CommandContext, AlertTarget, Command], Awaitable[str]]

REPO_COMMANDS: dict[str, Executor] = {
    "help": repo_commands.help_,
    "status": repo_commands.status,
    "mute": repo_commands.mute,
    "unmute": repo_commands.unmute,
}
ALERT_COMMANDS: dict[str, AlertExecutor] = {
    "ack": alert_commands.ack,
    "unack": alert_commands.unack,
    "snooze": alert_commands.snooze,
    "resolve": alert_commands.resolve,
    "suspect": alert_commands.suspect,
    "unsuspect": alert_commands.unsuspect,
    "recheck": alert_commands.recheck,
    "rerun": alert_commands.rerun,
    "revert": alert_commands.revert,
}


def quoted(line: str) -> str:
    return "> " + md.escape(line, 200)


def error_reply(error: CommandError) -> str:
    return f"⚠️ {error.message}\n\nUsage:\n```\n{error.usage}\n```"


def refusal(ctx: CommandContext, command: Command) -> str:
    return (
        f"Sorry, {md.escape(ctx.author, 60)}: `{command.name}` changes what trunkwatch does,"
        " which needs write access to this repository. Nothing was changed; a maintainer can"
        " run it for you."
    )


def elsewhere(ctx: CommandContext, command: Command) -> str:
    return (
        f"`{command.name}` works on an alert issue: comment it on the issue trunkwatch filed"
        f" for the breakage. `{ctx.prefix} status` lists them."
    )


async def react(ctx: CommandContext, content: str) -> None:
    url_vars = issue_calls.repo_vars(ctx.repo, comment_id=ctx.comment_id)
    await ctx.gh.post(REACTIONS_PATH, url_vars, data={"content": content})


async def reply(ctx: CommandContext, text: str) -> None:
    """The comment's one reply, under a marker naming the comment (a retry posts nothing)."""
    policy = AlertPolicy(group="", app_slug=ctx.app_slug, commands_prefix=ctx.prefix)
    await issue_calls.comment_once(
        ctx.gh,
        ctx.repo,
        ctx.issue_number,
        text,
        REPLY_MARKER,
        policy,
        comment=str(ctx.comment_id),
    )


async def _execute(ctx: CommandContext, command: Command) -> str:
    """The reply to one command; CommandError when it cannot run as asked."""
    if command.spec.applies_to is Scope.ALERT:
        target = await ctx.alert_target()
        if target is None:
            raise CommandError(elsewhere(ctx, command), command.spec.usage(ctx.prefix))
        return await ALERT_COMMANDS[command.name](ctx, target, command)
    return await REPO_COMMANDS[command.name](ctx, command)


def distinct(parsed: Sequence[Command | CommandError]) -> list[Command | CommandError]:
    """The command lines with repeats dropped (same words, whatever the case and spacing)."""
    seen: set[str] = set()
    kept = []
    for item in parsed:
        key = " ".join(item.line.split()).lower()
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def ignored_note(count: int) -> str:
    lines = "line was" if count == 1 else "lines were"
    return f"{count} more command {lines} ignored: at most {MAX_COMMANDS} run per comment."


async def _answer(ctx: CommandContext, item: Command | CommandError) -> tuple[str, str, str]:
    """(reply text, reaction, outcome) for one command line."""
    if isinstance(item, CommandError):
        return error_reply(item), REJECTED, "rejected"
    try:
        if item.spec.needs_write and not await permissions.can_write(ctx.gh, ctx.repo, ctx.author):
            return refusal(ctx, item), "", "refused"
        return await _execute(ctx, item), ACCEPTED, "accepted"
    except CommandError as exc:
        return error_reply(exc), REJECTED, "rejected"
    except gidgethub.BadRequest as exc:
        log.warning(
            "command failed on GitHub",
            extra={"repo": ctx.repo, "command": item.name, "status": exc.status_code},
        )
        return (
            f"⚠️ GitHub refused a request of `{item.name}` ({exc.status_code}).",
            REJECTED,
            "failed",
        )


async def run_comment(
    ctx: CommandContext, body: str | None, limits: ReplyLimits | None = None
) -> int:
    """Run the distinct command lines of a comment (at most MAX_COMMANDS) and post one reply
    for all of them. Returns how many command lines it had."""
    parsed = parse_comment(body, ctx.prefix, ctx.app_slug)
    commands = distinct(parsed)
    ignored = commands[MAX_COMMANDS:]
    may_reply = limits is None or limits.allows(ctx.repo, ctx.author)
    reactions: set[str] = set()
    sections: list[str] = []
    for item in commands[:MAX_COMMANDS]:
        changes_state = isinstance(item, Command) and item.spec.needs_write
        if not may_reply and not changes_state:
            audit(ctx, item, "rate_limited")
            continue
        text, reaction, outcome = await _answer(ctx, item)
        if reaction and reaction not in reactions:
            await react(ctx, reaction)
            reactions.add(reaction)
        if text:
            sections.append(f"{quoted(item.line)}\n\n{text}")
        audit(ctx, item, outcome if may_reply or not text else f"{outcome}, not answered")
    for item in ignored:
        audit(ctx, item, "ignored: too many in one comment")
    if ignored and sections:
        sections.append(ignored_note(len(ignored)))
    if sections and may_reply:
        await reply(ctx, "\n\n---\n\n".join(sections))
        if limits is not None:
            limits.record(ctx.repo, ctx.author)
    return len(parsed)


def audit(ctx: CommandContext, item: Command | CommandError, outcome: str) -> None:
    """One line per command: who ran what, where, and what came of it."""
    log.info(
        "command",
        extra={
            "repo": ctx.repo,
            "issue": ctx.issue_number,
            "comment": ctx.comment_id,
            "user": ctx.author,
            "command": item.spec.name if item.spec else "",
            "line": item.line[:120],
            "outcome": outcome,
        },
    )
