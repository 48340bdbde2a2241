"""The commands that work anywhere in the repository: help, status, mute and unmute."""

from __future__ import annotations

from bot.actions import alert_issue
from bot.actions import markdown as md
from bot.commands import quiet
from bot.commands.alert_commands import acked_by
from bot.commands.context import CommandContext
from bot.commands.parser import Command, CommandError, help_text
from bot.config import RepoConfig
from bot.tracker.model import GroupStatus

JOBS_SHOWN = 3
SUSPECTS_SHOWN = 5
NOT_WATCHED = (
    "trunkwatch is not watching this repository: it has no valid `.github/trunkwatch.yml`."
)


async def help_(ctx: CommandContext, command: Command) -> str:
    return help_text(ctx.prefix)


def _config(ctx: CommandContext, command: Command) -> RepoConfig:
    if ctx.config is None:
        raise CommandError(NOT_WATCHED, command.spec.usage(ctx.prefix), command.spec)
    return ctx.config


def _known_group(ctx: CommandContext, command: Command, group: str) -> str:
    config = _config(ctx, command)
    if config.group(group) is None:
        names = ", ".join(f"`{g.name}`" for g in config.groups)
        shown = group.replace("`", "'")
        raise CommandError(
            f"There is no group `{shown}`; the groups are {names}.",
            command.spec.usage(ctx.prefix),
            command.spec,
        )
    return group


async def mute(ctx: CommandContext, command: Command) -> str:
    group = _known_group(ctx, command, command.group or "")
    assert command.duration is not None  # the parser requires it
    until = ctx.now + command.duration.total_seconds()
    await quiet.mute(ctx.records, ctx.repo, group, until, ctx.author)
    return (
        f"Muted by {md.escape(ctx.author, 60)}: no alert issue for **{md.escape(group, 80)}**"
        f" on any branch until {quiet.when(until)}. `{ctx.prefix} unmute {group}` ends it"
        " early."
    )


async def unmute(ctx: CommandContext, command: Command) -> str:
    group = command.group
    if group is None:
        target = await ctx.alert_target()
        if target is None:
            raise CommandError(
                "Which group? Outside an alert issue, name it.",
                command.spec.usage(ctx.prefix),
                command.spec,
            )
        group = target.issue.group
    else:
        group = _known_group(ctx, command, group)
    was = await quiet.unmute(ctx.records, ctx.repo, group, ctx.now)
    shown = md.escape(group, 80)
    if not was:
        return f"**{shown}** was not muted; nothing changed."
    return f"Unmuted by {md.escape(ctx.author, 60)}: **{shown}** alerts are filed again."


def _jobs(status: GroupStatus) -> str:
    failing = sorted((j for j in status.jobs if j.streak > 0), key=lambda j: -j.streak)
    shown = [f"{md.escape(str(j.key), 80)} x{j.streak}" for j in failing[:JOBS_SHOWN]]
    if len(failing) > JOBS_SHOWN:
        shown.append(f"+{len(failing) - JOBS_SHOWN} more")
    return ", ".join(shown)


def _suspects(status: GroupStatus) -> str:
    if not status.suspects:
        return ""
    if not status.suspects_known:
        return "unknown (no passing commit)"
    if len(status.suspects) > SUSPECTS_SHOWN:
        return f"{len(status.suspects)} commits"
    return ", ".join(f"`{sha[:7]}`" for sha in status.suspects)


async def _row(ctx: CommandContext, status: GroupStatus, threshold: int) -> str:
    streak = max((j.streak for j in status.jobs), default=0)
    state = "🔴 broken" if status.broken else "🟡 failing"
    alert = ""
    if status.open_alert:
        record = await alert_issue.load(ctx.records, status.open_alert)
        alert = md.link(f"#{record.number}", record.url) if record else "filing"
        who = await acked_by(ctx, status.open_alert)
        if who:
            alert += f" (ack: {md.escape(who, 40)})"
    quieted = await quiet.suppressed(ctx.records, ctx.repo, status.branch, status.group, ctx.now)
    if quieted:
        state += f" — {md.escape(quieted, 80)}"
    cells = (
        md.escape(status.group, 60),
        md.escape(status.branch, 60),
        state,
        f"{streak} (threshold {threshold})",
        _jobs(status),
        _suspects(status),
        alert,
    )
    return "| " + " | ".join(cells) + " |"


async def status(ctx: CommandContext, command: Command) -> str:
    tracker, config = await ctx.tracker(), ctx.config
    if tracker is None or config is None:
        raise CommandError(NOT_WATCHED, command.spec.usage(ctx.prefix), command.spec)
    groups = [_known_group(ctx, command, command.group)] if command.group else None
    rows: list[str] = []
    green: list[str] = []
    for branch in config.watched_branches(ctx.default_branch):
        for group in config.groups:
            if groups is not None and group.name not in groups:
                continue
            found = tracker.group_status(branch, group.name)
            if found.broken or found.open_alert or any(j.streak > 0 for j in found.jobs):
                rows.append(await _row(ctx, found, group.threshold))
            else:
                green.append(f"{md.escape(group.name, 60)} on {md.escape(branch, 60)}")
    lines: list[str] = []
    if rows:
        lines += [
            "| group | branch | state | streak | failing jobs | suspects | alert |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    else:
        lines.append("Nothing is failing.")
    if green:
        lines += ["", "Green: " + ", ".join(green) + "."]
    return "\n".join(lines)
