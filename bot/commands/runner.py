"""Running the commands of one new comment: who may, where, and what the App answers.

For each command line of the comment, in order: a line that does not parse gets a short error
with that command's usage; a command that changes state, from someone without write access,
gets a polite refusal; an alert command typed elsewhere than an alert issue is told where it
works. Everything else runs. Each accepted command gets a reaction on the comment (`+1`), a
rejected one `confused`, and each command with something to say one reply, posted under a
marker naming the comment and the line so that a retried delivery does not post it twice.
(`resolve` says nothing itself: the alert issue's closing comment does.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import gidgethub

from bot.actions import alert_issue as issues
from bot.actions import markdown as md
from bot.actions.policy import AlertPolicy
from bot.commands import alert_commands, permissions, repo_commands
from bot.commands.context import AlertTarget, CommandContext
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
    url_vars = issues.repo_vars(ctx.repo, comment_id=ctx.comment_id)
    await ctx.gh.post(REACTIONS_PATH, url_vars, data={"content": content})


async def reply(ctx: CommandContext, index: int, text: str) -> None:
    policy = AlertPolicy(group="", app_slug=ctx.app_slug, commands_prefix=ctx.prefix)
    await issues.comment_once(
        ctx.gh,
        ctx.repo,
        ctx.issue_number,
        text,
        REPLY_MARKER,
        policy,
        comment=str(ctx.comment_id),
        line=str(index),
    )


async def _execute(ctx: CommandContext, command: Command) -> str:
    """The reply to one command; CommandError when it cannot run as asked."""
    if command.spec.applies_to is Scope.ALERT:
        target = await ctx.alert_target()
        if target is None:
            raise CommandError(elsewhere(ctx, command), command.spec.usage(ctx.prefix))
        return await ALERT_COMMANDS[command.name](ctx, target, command)
    return await REPO_COMMANDS[command.name](ctx, command)


async def run_comment(ctx: CommandContext, body: str | None) -> int:
    """Run every command line of a comment. Returns how many command lines it had."""
    parsed = parse_comment(body, ctx.prefix, ctx.app_slug)
    reactions: set[str] = set()
    for index, item in enumerate(parsed):
        if isinstance(item, CommandError):
            text, reaction = error_reply(item), REJECTED
        else:
            try:
                if item.spec.needs_write and not await permissions.can_write(
                    ctx.gh, ctx.repo, ctx.author
                ):
                    text, reaction = refusal(ctx, item), ""
                else:
                    text, reaction = await _execute(ctx, item), ACCEPTED
            except CommandError as exc:
                text, reaction = error_reply(exc), REJECTED
            except gidgethub.BadRequest as exc:
                log.warning(
                    "command failed on GitHub",
                    extra={"repo": ctx.repo, "command": item.name, "status": exc.status_code},
                )
                text = f"⚠️ GitHub refused a request of `{item.name}` ({exc.status_code})."
                reaction = REJECTED
        if reaction and reaction not in reactions:
            await react(ctx, reaction)
            reactions.add(reaction)
        if text:
            await reply(ctx, index, f"{quoted(item.line)}\n\n{text}")
        log.info(
            "command",
            extra={
                "repo": ctx.repo,
                "issue": ctx.issue_number,
                "command": item.spec.name if item.spec else "",
                "outcome": reaction or "refused",
            },
        )
    return len(parsed)
