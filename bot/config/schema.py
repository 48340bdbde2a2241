"""Validating a (merged) configuration tree into a `RepoConfig`, collecting every error.

Each setting is read by a small checker that either returns the value or records an error
naming the key path and the line, so that one pass reports everything that is wrong.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.model import (
    AlertsConfig,
    CommandsConfig,
    GroupConfig,
    RepoConfig,
    SuspectsConfig,
)
from bot.config.tree import Map, Scalar, Seq, Value, Where

T = TypeVar("T")

EXTENDS = "_extends"
TOP_KEYS = ("branches", "groups", "alerts", "suspects", "commands", EXTENDS)
GROUP_KEYS = (
    "workflows",
    "jobs",
    "exclude_jobs",
    "threshold",
    "min_failing_jobs",
    "priority",
    "owners",
    "escalate_after",
    "escalation_owners",
    "labels",
    "split_shards",
)
ALERTS_KEYS = ("labels", "recovery_passes", "retention_commits", "pending_timeout")
SUSPECTS_KEYS = ("label", "max_prs", "comment", "wait")
COMMANDS_KEYS = ("prefix",)

GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
PRIORITY = re.compile(r"P[0-4]")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
TEAM = re.compile(rf"@({LOGIN.pattern})/[A-Za-z0-9][A-Za-z0-9_.-]*")
DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
EXTENDS_SPEC = re.compile(rf"(?:({LOGIN.pattern})/)?([A-Za-z0-9_.-]+)(?::([^\s:]+))?")
BRANCH_BAD = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{|^/|/$|^-")
_ALERTS, _SUSPECTS, _COMMANDS = AlertsConfig(), SuspectsConfig(), CommandsConfig()
LABEL_MAX = 50  # GitHub's limit on a label's name


class _Checker:
    """Reads values out of the tree, recording an error for each one that is wrong."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def error(self, where: Where, key: str, message: str) -> None:
        self.errors.append(ConfigError(where.source, where.line, key, message))

    def mapping(self, value: Value | None, key: str, allowed: tuple[str, ...]) -> Map | None:
        """A mapping with only `allowed` keys (null counts as empty); None when it is wrong."""
        if value is None or (isinstance(value, Scalar) and value.value is None):
            return None
        if not isinstance(value, Map):
            self.error(value.where, key, f"expected a mapping, got {_describe(value)}")
            return None
        for name, entry in value.entries.items():
            if name not in allowed:
                self.unknown(entry.key_where, f"{key}.{name}" if key else name, name, allowed)
        return value

    def unknown(self, where: Where, path: str, name: str, allowed: tuple[str, ...]) -> None:
        close = difflib.get_close_matches(name, [k for k in allowed if k != EXTENDS], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.error(where, path, f"unknown key{hint}")

    def field(
        self,
        section: Map | None,
        key: str,
        path: str,
        read: Callable[[Value, str], T | None],
        default: T,
    ) -> T:
        """`section[key]` read by `read` (which returns None after recording an error)."""
        value = section.get(key) if section is not None else None
        if value is None:
            return default
        result = read(value, f"{path}.{key}" if path else key)
        return default if result is None else result

    def integer(self, value: Value, key: str, minimum: int = 1) -> int | None:
        kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        if not isinstance(value, Scalar) or type(value.value) is not int:
            self.error(value.where, key, f"expected {kind}, got {_describe(value)}")
            return None
        if value.value < minimum:
            self.error(value.where, key, f"expected {kind}, got {value.value}")
            return None
        return value.value

    def boolean(self, value: Value, key: str) -> bool | None:
        if not isinstance(value, Scalar) or not isinstance(value.value, bool):
            self.error(value.where, key, f"expected true or false, got {_describe(value)}")
            return None
        return value.value

    def string(self, value: Value, key: str) -> str | None:
        if not isinstance(value, Scalar) or not isinstance(value.value, str) or not value.value:
            self.error(value.where, key, f"expected a non-empty string, got {_describe(value)}")
            return None
        return value.value

    def strings(
        self, value: Value, key: str, item: Callable[[Value, str], str | None], nonempty: bool
    ) -> tuple[str, ...] | None:
        if not isinstance(value, Seq):
            hint = f" (write [{json.dumps(value.value)}])" if isinstance(value, Scalar) else ""
            self.error(value.where, key, f"expected a list, got {_describe(value)}{hint}")
            return None
        if nonempty and not value.items:
            self.error(value.where, key, "expected at least one entry")
            return None
        results = [item(element, f"{key}[{index}]") for index, element in enumerate(value.items)]
        if any(result is None for result in results):
            return None
        return tuple(result for result in results if result is not None)

    def glob(self, value: Value, key: str) -> str | None:
        pattern = self.string(value, key)
        if pattern is not None and (problem := glob_problem(pattern)):
            self.error(value.where, key, f"bad glob {pattern!r}: {problem}")
            return None
        return pattern

    def label(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is not None and len(text) > LABEL_MAX:
            self.error(value.where, key, f"a label is at most {LABEL_MAX} characters")
            return None
        return text

    def owner(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is None:
            return None
        if TEAM.fullmatch(text):
            return text
        login = text.removeprefix("@")
        if LOGIN.fullmatch(login):
            return login
        self.error(value.where, key, f"expected a GitHub login or @org/team, got {text!r}")
        return None

    def branch(self, value: Value, key: str) -> str | None:
        name = self.string(value, key)
        if name is not None and BRANCH_BAD.search(name):
            self.error(value.where, key, f"not a branch name: {name!r}")
            return None
        return name

    def priority(self, value: Value, key: str) -> str | None:
        text = value.value if isinstance(value, Scalar) else None
        if not isinstance(text, str) or not PRIORITY.fullmatch(text):
            self.error(
                value.where, key, f"expected one of P0, P1, P2, P3, P4, got {_describe(value)}"
            )
            return None
        return text

    def duration(self, value: Value, key: str) -> timedelta | None:
        text = value.value if isinstance(value, Scalar) else None
        parsed = parse_duration(text) if isinstance(text, str) else None
        if parsed is None:
            self.error(
                value.where,
                key,
                f"expected a duration such as 30m, 2h, 1d, 1w or 1h30m, got {_describe(value)}",
            )
        return parsed

    def prefix(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is not None and not re.fullmatch(r"/\S+", text):
            self.error(value.where, key, f"expected a word starting with '/', got {text!r}")
            return None
        return text


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `2h`, `1d`, `1w`, or units combined largest first (`1d12h`, `1h30m`)."""
    match = DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    return duration if duration > timedelta(0) else None


def glob_problem(pattern: str) -> str | None:
    """What is wrong with an fnmatch pattern, read the way fnmatch reads `[...]` classes."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                return f"'[' at position {i + 1} is never closed"
            i = j
        i += 1
    return None


def validate(tree: Map, *, partial: bool = False) -> RepoConfig:
    """The configuration `tree` describes; raises ConfigInvalid listing every problem.

    With `partial`, a missing `groups` is accepted (a file that extends another, checked
    on its own), and an empty group list comes back.
    """
    check = _Checker()
    check.mapping(tree, "", TOP_KEYS)
    groups = _groups(check, tree, partial)
    branches_value = tree.get("branches")
    branches = None
    if branches_value is not None:
        branches = check.strings(branches_value, "branches", check.branch, True)
    alerts_map = check.mapping(tree.get("alerts"), "alerts", ALERTS_KEYS)
    alerts = AlertsConfig(
        labels=check.field(
            alerts_map,
            "labels",
            "alerts",
            lambda v, k: check.strings(v, k, check.label, False),
            _ALERTS.labels,
        ),
        recovery_passes=check.field(
            alerts_map, "recovery_passes", "alerts", check.integer, _ALERTS.recovery_passes
        ),
        retention_commits=check.field(
            alerts_map,
            "retention_commits",
            "alerts",
            check.integer,
            _ALERTS.retention_commits,
        ),
        pending_timeout=check.field(
            alerts_map, "pending_timeout", "alerts", check.duration, _ALERTS.pending_timeout
        ),
    )
    suspects_map = check.mapping(tree.get("suspects"), "suspects", SUSPECTS_KEYS)
    suspects = SuspectsConfig(
        label=check.field(suspects_map, "label", "suspects", check.label, _SUSPECTS.label),
        max_prs=check.field(
            suspects_map,
            "max_prs",
            "suspects",
            lambda v, k: check.integer(v, k, minimum=0),
            _SUSPECTS.max_prs,
        ),
        comment=check.field(suspects_map, "comment", "suspects", check.boolean, _SUSPECTS.comment),
        wait=check.field(suspects_map, "wait", "suspects", check.duration, _SUSPECTS.wait),
    )
    commands_map = check.mapping(tree.get("commands"), "commands", COMMANDS_KEYS)
    commands = CommandsConfig(
        prefix=check.field(commands_map, "prefix", "commands", check.prefix, _COMMANDS.prefix)
    )
    largest = max((group.threshold for group in groups), default=0)
    if alerts.retention_commits <= largest and alerts_map is not None:
        where = alerts_map.get("retention_commits")
        check.error(
            where.where if where else alerts_map.where,
            "alerts.retention_commits",
            f"must be larger than the largest threshold ({largest})",
        )
    if check.errors:
        raise ConfigInvalid(in_file_order(check.errors))
    return RepoConfig(
        groups=groups, branches=branches, alerts=alerts, suspects=suspects, commands=commands
    )


def in_file_order(errors: list[ConfigError]) -> list[ConfigError]:
    """Errors grouped by file (in the order the files first appear), then by line."""
    files = {error.path: index for index, error in reversed(list(enumerate(errors)))}
    return sorted(errors, key=lambda error: (files[error.path], error.line))


def _groups(check: _Checker, tree: Map, partial: bool) -> tuple[GroupConfig, ...]:
    value = tree.get("groups")
    if value is None:
        if not partial:
            check.error(tree.where, "groups", "required: at least one group of jobs to watch")
        return ()
    if not isinstance(value, Map) or not value.entries:
        got = _describe(value) if not isinstance(value, Map) else "an empty mapping"
        check.error(value.where, "groups", f"expected a mapping of group names, got {got}")
        return ()
    groups = []
    for name, entry in value.entries.items():
        path = f"groups.{name}"
        if not GROUP_NAME.fullmatch(name):
            check.error(entry.key_where, path, "a group name may only use A-Z a-z 0-9 _ . -")
        body = entry.value
        if not isinstance(body, Map) and not (isinstance(body, Scalar) and body.value is None):
            check.error(body.where, path, f"expected a mapping of settings, got {_describe(body)}")
            continue
        groups.append(_group(check, name, check.mapping(body, path, GROUP_KEYS), path))
    return tuple(groups)


def _group(check: _Checker, name: str, body: Map | None, path: str) -> GroupConfig:
    def globs(nonempty: bool) -> Callable[[Value, str], tuple[str, ...] | None]:
        return lambda v, k: check.strings(v, k, check.glob, nonempty)

    def owners(v: Value, k: str) -> tuple[str, ...] | None:
        return check.strings(v, k, check.owner, False)

    d = GroupConfig(name)
    escalate_value = body.get("escalate_after") if body is not None else None
    escalate_after = None
    if escalate_value is not None and not (
        isinstance(escalate_value, Scalar) and escalate_value.value is None
    ):
        escalate_after = check.duration(escalate_value, f"{path}.escalate_after")
    group = GroupConfig(
        name=name,
        workflows=check.field(body, "workflows", path, globs(True), d.workflows),
        jobs=check.field(body, "jobs", path, globs(True), d.jobs),
        exclude_jobs=check.field(body, "exclude_jobs", path, globs(False), d.exclude_jobs),
        threshold=check.field(body, "threshold", path, check.integer, d.threshold),
        min_failing_jobs=check.field(
            body, "min_failing_jobs", path, check.integer, d.min_failing_jobs
        ),
        priority=check.field(body, "priority", path, check.priority, d.priority),
        owners=check.field(body, "owners", path, owners, d.owners),
        escalate_after=escalate_after,
        escalation_owners=check.field(body, "escalation_owners", path, owners, d.escalation_owners),
        labels=check.field(
            body, "labels", path, lambda v, k: check.strings(v, k, check.label, False), d.labels
        ),
        split_shards=check.field(body, "split_shards", path, check.boolean, d.split_shards),
    )
    if escalate_after is not None and not group.escalation_owners and escalate_value is not None:
        check.error(
            escalate_value.where,
            f"{path}.escalate_after",
            "set, but escalation_owners is empty: nobody to escalate to",
        )
    return group


def _describe(value: Value | None) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Seq):
        return "a list"
    if isinstance(value, Map):
        return "a mapping"
    raw = value.value
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, str):
        return repr(raw)
    return repr(str(raw))
