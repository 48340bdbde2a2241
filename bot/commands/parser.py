"""Slash commands: the one table of commands, the parser built on it, and `help` made from it.

A command is a line of a comment that starts with the configured prefix (`/trunkwatch`) or a
mention of the App (`@trunkwatch`), followed by the command's name and arguments:

    /trunkwatch snooze 2h
    @trunkwatch suspect #123

Lines inside fenced code blocks, quoted lines (`> …`) and indented code are not commands.
Parsing never exits and never guesses: a bad line raises `CommandError` carrying the usage of
the command it was meant to be.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from bot.config import parse_duration

DEFAULT_PREFIX = "/trunkwatch"
MAX_AHEAD = timedelta(days=30)  # snooze and mute end at most this far ahead
UNTIL_GREEN = "until-green"
DURATION_FORMS = "`30m`, `2h`, `1d` or `1w`"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_PR_URL = re.compile(r"^https?://\S+/pull/(\d+)/?$")
_PR_REF = re.compile(r"^#?(\d+)$")


class Scope(enum.Enum):
    """Where a command may be typed."""

    ALERT = "alert"  # on an alert issue: it acts on that alert
    ANYWHERE = "anywhere"  # on any issue or pull request of the repository


class ArgKind(enum.Enum):
    GROUP = "group"
    DURATION = "duration"
    SNOOZE = "duration|until-green"
    PR = "#N"


@dataclass(frozen=True, slots=True)
class ArgSpec:
    name: str
    kind: ArgKind
    optional: bool = False

    @property
    def usage(self) -> str:
        shown = self.kind.value if self.kind in (ArgKind.SNOOZE, ArgKind.PR) else self.name
        return f"[{shown}]" if self.optional else f"<{shown}>"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One row of the command table."""

    name: str
    args: tuple[ArgSpec, ...]
    needs_write: bool
    applies_to: Scope
    summary: str
    example: str  # the arguments of an example use ("" for none)

    def usage(self, prefix: str = DEFAULT_PREFIX) -> str:
        return " ".join([prefix, self.name, *(arg.usage for arg in self.args)])

    def example_line(self, prefix: str = DEFAULT_PREFIX) -> str:
        return " ".join(part for part in (prefix, self.name, self.example) if part)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", (), False, Scope.ANYWHERE, "List the commands (this message).", ""),
    CommandSpec(
        "status",
        (ArgSpec("group", ArgKind.GROUP, optional=True),),
        False,
        Scope.ANYWHERE,
        "What is broken on which branch: streaks, failing jobs, suspects, alert issues.",
        "inductor",
    ),
    CommandSpec(
        "ack",
        (),
        True,
        Scope.ALERT,
        "Someone is on it: records who, and stops the escalation.",
        "",
    ),
    CommandSpec(
        "unack", (), True, Scope.ALERT, "Withdraw the acknowledgement; escalation resumes.", ""
    ),
    CommandSpec(
        "snooze",
        (ArgSpec("duration", ArgKind.SNOOZE),),
        True,
        Scope.ALERT,
        "File no new alert issue for this group on this branch for a while (at most 30"
        " days), or until the group is green again.",
        "2h",
    ),
    CommandSpec(
        "mute",
        (ArgSpec("group", ArgKind.GROUP), ArgSpec("duration", ArgKind.DURATION)),
        True,
        Scope.ANYWHERE,
        "File no alert issue for the group on any branch for a while (at most 30 days).",
        "inductor 1d",
    ),
    CommandSpec(
        "unmute",
        (ArgSpec("group", ArgKind.GROUP, optional=True),),
        True,
        Scope.ANYWHERE,
        "End a mute early (the group defaults to the alert's, on an alert issue).",
        "inductor",
    ),
    CommandSpec(
        "resolve",
        (),
        True,
        Scope.ALERT,
        "Close the alert as resolved by a person; the same streak is never refiled.",
        "",
    ),
    CommandSpec(
        "suspect",
        (ArgSpec("pr", ArgKind.PR),),
        True,
        Scope.ALERT,
        "Name a pull request as a suspect: it gets the suspect label and a comment.",
        "#123",
    ),
    CommandSpec(
        "unsuspect",
        (ArgSpec("pr", ArgKind.PR),),
        True,
        Scope.ALERT,
        "Clear a suspect pull request and remove its label.",
        "#123",
    ),
    CommandSpec(
        "recheck",
        (),
        True,
        Scope.ALERT,
        "Read the jobs of the alert's failing runs from GitHub again and re-evaluate.",
        "",
    ),
    CommandSpec(
        "rerun",
        (),
        True,
        Scope.ALERT,
        "Ask GitHub to rerun the failed jobs of the alert's newest failing runs.",
        "",
    ),
    CommandSpec(
        "revert",
        (ArgSpec("pr", ArgKind.PR, optional=True),),
        True,
        Scope.ALERT,
        "Open a pull request that reverts the confirmed culprit's pull request (or #N, any"
        " merged one); trunkwatch never merges it.",
        "",
    ),
)

BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}


class CommandError(Exception):
    """A command line that cannot be run as typed: `message` says why, `usage` how to type
    it (the command's usage line, or the list of commands when the name is unknown)."""

    def __init__(
        self, message: str, usage: str, spec: CommandSpec | None = None, line: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.spec = spec
        self.line = line  # the line as typed


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command line."""

    spec: CommandSpec
    line: str  # the line as typed, for the reply
    group: str | None = None
    duration: timedelta | None = None
    until_green: bool = False
    pr: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class CommandLine:
    """A line addressed to the App: the prefix it used and the words after it."""

    line: str
    prefix: str
    words: tuple[str, ...]


def _triggers(prefix: str, app_slug: str | None) -> set[str]:
    triggers = {prefix.lower()}
    if app_slug:
        triggers |= {f"@{app_slug.lower()}", f"@{app_slug.lower()}[bot]"}
    return triggers


def command_lines(
    body: str | None, prefix: str, app_slug: str | None = None
) -> Iterator[CommandLine]:
    """The lines of a comment that address the App, skipping fenced code blocks."""
    triggers = _triggers(prefix, app_slug)
    fence: str | None = None
    for raw in (body or "").splitlines():
        opening = _FENCE.match(raw)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if raw.startswith(("    ", "\t")):  # an indented code block
            continue
        words = raw.split()
        if words and words[0].lower().rstrip(":,") in triggers:
            yield CommandLine(raw.strip(), prefix, tuple(words[1:]))


def commands_usage(prefix: str = DEFAULT_PREFIX) -> str:
    """A short list of every command's usage (the reply to an unknown command)."""
    return "\n".join(spec.usage(prefix) for spec in COMMANDS)


def parse_duration_arg(text: str, spec: CommandSpec, prefix: str) -> timedelta:
    duration = parse_duration(text)
    if duration is None:
        raise CommandError(
            f"`{_shown(text)}` is not a duration: use {DURATION_FORMS}.", spec.usage(prefix), spec
        )
    if duration > MAX_AHEAD:
        raise CommandError(
            f"`{_shown(text)}` is too long: at most 30 days ahead.", spec.usage(prefix), spec
        )
    return duration


def parse_pr(text: str, spec: CommandSpec, prefix: str) -> int:
    match = _PR_REF.match(text) or _PR_URL.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise CommandError(
            f"`{_shown(text)}` is not a pull request: write it as `#123`.",
            spec.usage(prefix),
            spec,
        )
    return int(match.group(1))


def _shown(text: str) -> str:
    """User text cut short for an error message (quoted later by the reply)."""
    text = text.replace("`", "'")  # it is shown in a code span: no way out of it
    return text if len(text) <= 40 else text[:39] + "…"


def parse(line: CommandLine) -> Command:
    """The command a line asks for; CommandError when it cannot be run as typed."""
    prefix = line.prefix
    if not line.words:
        return Command(BY_NAME["help"], line.line)
    name, *args = line.words
    spec = BY_NAME.get(name.lower())
    if spec is None:
        close = difflib.get_close_matches(name.lower(), list(BY_NAME), n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise CommandError(f"Unknown command `{_shown(name)}`.{hint}", commands_usage(prefix), None)
    required = sum(1 for arg in spec.args if not arg.optional)
    if len(args) < required:
        missing = spec.args[len(args)]
        raise CommandError(f"`{spec.name}` needs {missing.usage}.", spec.usage(prefix), spec)
    if len(args) > len(spec.args):
        extra = " ".join(args[len(spec.args) :])
        raise CommandError(
            f"`{spec.name}` does not take `{_shown(extra)}`.", spec.usage(prefix), spec
        )
    group: str | None = None
    duration: timedelta | None = None
    until_green = False
    pr: int | None = None
    for arg, text in zip(spec.args, args, strict=False):
        if arg.kind is ArgKind.GROUP:
            group = text
        elif arg.kind is ArgKind.PR:
            pr = parse_pr(text, spec, prefix)
        elif arg.kind is ArgKind.SNOOZE and text.lower() == UNTIL_GREEN:
            until_green = True
        else:
            duration = parse_duration_arg(text, spec, prefix)
    return Command(spec, line.line, group, duration, until_green, pr)


def parse_comment(
    body: str | None, prefix: str = DEFAULT_PREFIX, app_slug: str | None = None
) -> list[Command | CommandError]:
    """Every command line of a comment, parsed, in order; bad lines as their CommandError."""
    parsed: list[Command | CommandError] = []
    for line in command_lines(body, prefix, app_slug):
        try:
            parsed.append(parse(line))
        except CommandError as exc:
            exc.line = line.line
            parsed.append(exc)
    return parsed


def help_text(prefix: str = DEFAULT_PREFIX) -> str:
    """The reply to `help`: every command of the table, with an example each."""
    rows = [
        "| command | what it does | example | where |",
        "|---|---|---|---|",
    ]
    for spec in COMMANDS:
        where = "on an alert issue" if spec.applies_to is Scope.ALERT else "anywhere"
        if spec.needs_write:
            where += ", write access"
        cells = (f"`{spec.usage(prefix)}`", spec.summary, f"`{spec.example_line(prefix)}`", where)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return (
        f"Type a command at the start of a line of a new comment, after `{prefix}`."
        " Several lines, several commands. Durations: "
        f"{DURATION_FORMS} (at most 30 days).\n\n" + "\n".join(rows)
    )
