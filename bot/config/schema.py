"""Reading a (merged) configuration tree into a `RepoConfig`, collecting every problem.

Each setting is read by a small checker that either returns the value or records an error
naming the key path and the line, so that one pass reports everything that is wrong. A
wrong value voids only the smallest part that holds it: a group's setting voids that group,
any other setting keeps its default. Unknown keys are warnings: they are skipped and the
rest applies, so a key from a newer release never silences the file.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypeVar

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.model import (
    SHA_PLACEHOLDER,
    TAGS_PREFIX,
    AlertsConfig,
    CommandsConfig,
    ConfirmMode,
    CulpritConfig,
    GroupConfig,
    RepoConfig,
    RevertMode,
    SuspectsConfig,
)
from bot.config.tree import Map, Scalar, Seq, Value, Where

T = TypeVar("T")

EXTENDS = "_extends"
TOP_KEYS = ("branches", "groups", "alerts", "suspects", "culprit", "commands", EXTENDS)
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
CULPRIT_KEYS = (
    "confirm",
    "confirm_before_filing",
    "bisect_tag",
    "max_runs",
    "revert",
    "max_reverts_per_day",
    "no_revert_label",
)
COMMANDS_KEYS = ("prefix",)
CONFIRM_MODES: tuple[ConfirmMode, ...] = ("off", "rerun")
REVERT_MODES: tuple[RevertMode, ...] = ("off", "suggest", "auto")

GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
PRIORITY = re.compile(r"P[0-4]")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
TEAM = re.compile(rf"@({LOGIN.pattern})/[A-Za-z0-9][A-Za-z0-9_.-]*")
DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
EXTENDS_SPEC = re.compile(rf"(?:({LOGIN.pattern})/)?([A-Za-z0-9_.-]+)(?::([^\s:]+))?")
BRANCH_BAD = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{|^/|/$|^-")
# git check-ref-format: what a ref name may not contain (controls, space, ~^:?*[\, "..",
# "@{", "//"), begin or end with ("/"), or end with (".", ".lock" for any component).
REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|(?:^|/)\.|\.lock(?:/|$)")
_ALERTS, _SUSPECTS, _COMMANDS = AlertsConfig(), SuspectsConfig(), CommandsConfig()
_CULPRIT = CulpritConfig()
LABEL_MAX = 50  # GitHub's limit on a label's name
NO_GROUP = "no group is watched"


@dataclass(frozen=True, slots=True)
class Checked:
    """A configuration read as far as it could be.

    `config` is what applies (None only when the file cannot be read at all: `errors` say
    why). Each of `errors` voided the part that holds it (its `ignored` says which); each of
    `warnings` is an unknown key, skipped.
    """

    config: RepoConfig | None
    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[ConfigError, ...] = ()

    @property
    def problems(self) -> list[ConfigError]:
        """Errors and warnings together, in file order."""
        return in_file_order([*self.errors, *self.warnings])


class _Checker:
    """Reads values out of the tree, recording an error for each one that is wrong."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []

    def error(self, where: Where, key: str, message: str, ignored: str = "") -> None:
        self.errors.append(ConfigError(where.source, where.line, key, message, ignored))

    def void(self, since: int, ignored: str, *, override: bool = False) -> bool:
        """Say what was set aside for the errors recorded since `since`; whether any were."""
        for index in range(since, len(self.errors)):
            error = self.errors[index]
            if override or not error.ignored:
                self.errors[index] = replace(error, ignored=ignored)
        return len(self.errors) > since

    def mapping(self, value: Value | None, key: str, allowed: tuple[str, ...]) -> Map | None:
        """A mapping with only `allowed` keys (null counts as empty); None when it is wrong."""
        if value is None or (isinstance(value, Scalar) and value.value is None):
            return None
        if not isinstance(value, Map):
            ignored = f"every {key} setting keeps its default" if key else ""
            self.error(value.where, key, f"expected a mapping, got {_describe(value)}", ignored)
            return None
        for name, entry in value.entries.items():
            if name not in allowed:
                self.unknown(entry.key_where, f"{key}.{name}" if key else name, name, allowed)
        return value

    def unknown(self, where: Where, path: str, name: str, allowed: tuple[str, ...]) -> None:
        close = difflib.get_close_matches(name, [k for k in allowed if k != EXTENDS], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.warnings.append(ConfigError(where.source, where.line, path, f"unknown key{hint}"))

    def field(
        self,
        section: Map | None,
        key: str,
        path: str,
        read: Callable[[Value, str], T | None],
        default: T,
    ) -> T:
        """`section[key]` read by `read` (which returns None after recording an error);
        `default` when it is absent or wrong."""
        value = section.get(key) if section is not None else None
        if value is None:
            return default
        since = len(self.errors)
        result = read(value, f"{path}.{key}" if path else key)
        if result is None:
            self.void(since, f"the default applies: {shown(default)}")
            return default
        return result

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

    def choice(self, value: Value, key: str, choices: tuple[T, ...]) -> T | None:
        """One of `choices`; YAML 1.1 reads a bare `off` as false, which counts as "off"."""
        raw = value.value if isinstance(value, Scalar) else None
        text = "off" if raw is False else raw
        for option in choices:
            if option == text:
                return option
        expected = ", ".join(str(option) for option in choices)
        self.error(value.where, key, f"expected one of {expected}, got {_describe(value)}")
        return None

    def tag(self, value: Value, key: str) -> str | None:
        """A tag name containing `{sha}` once; "" when bisection is off (empty, off, null)."""
        raw = value.value if isinstance(value, Scalar) else value
        if raw is None or raw is False or raw == "":
            return ""
        if not isinstance(raw, str):
            got = _describe(value)
            self.error(value.where, key, f"expected a tag name with {{sha}}, or off, got {got}")
            return None
        problem = tag_problem(raw)
        if problem:
            self.error(value.where, key, f"{problem}, got {raw!r}")
            return None
        return raw

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
    """The configuration `tree` describes, when nothing in it is wrong or unknown; raises
    ConfigInvalid listing every problem otherwise (see `check_tree` for the lenient read).

    With `partial`, a missing `groups` is accepted (a file that extends another, checked
    on its own), and an empty group list comes back.
    """
    checked = check_tree(tree, partial=partial)
    if checked.problems or checked.config is None:
        raise ConfigInvalid(checked.problems)
    return checked.config


def check_tree(tree: Map, *, partial: bool = False) -> Checked:
    """What of `tree` applies, and what was set aside: never raises."""
    check = _Checker()
    check.mapping(tree, "", TOP_KEYS)
    since = len(check.errors)
    branches_value = tree.get("branches")
    branches = None
    if branches_value is not None:
        branches = check.strings(branches_value, "branches", check.branch, True)
        check.void(since, "the default applies: the repository's default branch")
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
    groups = _groups(check, tree, partial)
    alerts = _retention(check, alerts, alerts_map, groups)
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
    culprit = _culprit(check, check.mapping(tree.get("culprit"), "culprit", CULPRIT_KEYS))
    commands_map = check.mapping(tree.get("commands"), "commands", COMMANDS_KEYS)
    commands = CommandsConfig(
        prefix=check.field(commands_map, "prefix", "commands", check.prefix, _COMMANDS.prefix)
    )
    config = RepoConfig(
        groups=tuple(group for group, _ in groups),
        branches=branches,
        alerts=alerts,
        suspects=suspects,
        commands=commands,
        culprit=culprit,
    )
    return Checked(config, tuple(in_file_order(check.errors)), tuple(in_file_order(check.warnings)))


def in_file_order(errors: list[ConfigError]) -> list[ConfigError]:
    """Errors grouped by file (in the order the files first appear), then by line."""
    files = {error.path: index for index, error in reversed(list(enumerate(errors)))}
    return sorted(errors, key=lambda error: (files[error.path], error.line))


def _groups(check: _Checker, tree: Map, partial: bool) -> list[tuple[GroupConfig, Where]]:
    """The groups with nothing wrong, each with where its threshold is set."""
    value = tree.get("groups")
    if value is None:
        if not partial:
            check.error(
                tree.where, "groups", "required: at least one group of jobs to watch", NO_GROUP
            )
        return []
    if not isinstance(value, Map) or not value.entries:
        got = _describe(value) if not isinstance(value, Map) else "an empty mapping"
        check.error(
            value.where, "groups", f"expected a mapping of group names, got {got}", NO_GROUP
        )
        return []
    groups = []
    for name, entry in value.entries.items():
        path = f"groups.{name}"
        since = len(check.errors)
        if not GROUP_NAME.fullmatch(name):
            check.error(entry.key_where, path, "a group name may only use A-Z a-z 0-9 _ . -")
        body = entry.value
        group = None
        if isinstance(body, Map) or (isinstance(body, Scalar) and body.value is None):
            group = _group(check, name, check.mapping(body, path, GROUP_KEYS), path)
        else:
            check.error(body.where, path, f"expected a mapping of settings, got {_describe(body)}")
        if check.void(since, f"the group '{name}' is ignored", override=True) or group is None:
            continue
        threshold = body.get("threshold") if isinstance(body, Map) else None
        groups.append((group, threshold.where if threshold is not None else entry.key_where))
    return groups


def _retention(
    check: _Checker,
    alerts: AlertsConfig,
    alerts_map: Map | None,
    groups: list[tuple[GroupConfig, Where]],
) -> AlertsConfig:
    """Commits kept must outnumber every threshold: a retention too small for them keeps its
    default, and a group whose threshold is not below even that is ignored."""
    largest = max((group.threshold for group, _ in groups), default=0)
    value = alerts_map.get("retention_commits") if alerts_map is not None else None
    if value is not None and alerts.retention_commits <= largest:
        alerts = replace(alerts, retention_commits=_ALERTS.retention_commits)
        check.error(
            value.where,
            "alerts.retention_commits",
            f"must be larger than the largest threshold ({largest})",
            f"the default applies: {_ALERTS.retention_commits}",
        )
    for group, where in list(groups):
        if group.threshold >= alerts.retention_commits:
            groups.remove((group, where))
            check.error(
                where,
                f"groups.{group.name}.threshold",
                f"must be smaller than alerts.retention_commits ({alerts.retention_commits})",
                f"the group '{group.name}' is ignored",
            )
    return alerts


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


def _culprit(check: _Checker, body: Map | None) -> CulpritConfig:
    d, path = _CULPRIT, "culprit"

    def at_least_zero(v: Value, k: str) -> int | None:
        return check.integer(v, k, minimum=0)

    culprit = CulpritConfig(
        confirm=check.field(
            body, "confirm", path, lambda v, k: check.choice(v, k, CONFIRM_MODES), d.confirm
        ),
        confirm_before_filing=check.field(
            body, "confirm_before_filing", path, check.boolean, d.confirm_before_filing
        ),
        bisect_tag=check.field(body, "bisect_tag", path, check.tag, d.bisect_tag or "") or None,
        max_runs=check.field(body, "max_runs", path, at_least_zero, d.max_runs),
        revert=check.field(
            body, "revert", path, lambda v, k: check.choice(v, k, REVERT_MODES), d.revert
        ),
        max_reverts_per_day=check.field(
            body, "max_reverts_per_day", path, at_least_zero, d.max_reverts_per_day
        ),
        no_revert_label=check.field(body, "no_revert_label", path, check.label, d.no_revert_label),
    )
    waits = body.get("confirm_before_filing") if body is not None else None
    if culprit.confirm_before_filing and culprit.confirm == "off" and waits is not None:
        check.error(
            waits.where,
            "culprit.confirm_before_filing",
            "true, but confirm is off: no rerun would ever come",
            f"the default applies: {shown(d.confirm_before_filing)}",
        )
        culprit = replace(culprit, confirm_before_filing=d.confirm_before_filing)
    return culprit


def tag_problem(name: str) -> str | None:
    """What makes `name` unusable as a bisection tag pattern; None when it is fine."""
    if name.count(SHA_PLACEHOLDER) != 1:
        return f"must contain {SHA_PLACEHOLDER} exactly once"
    if name.startswith(TAGS_PREFIX) or name.startswith("refs/"):
        return "a tag name, without refs/tags/"
    if name == SHA_PLACEHOLDER:
        return None
    if REF_BAD.search(name.replace(SHA_PLACEHOLDER, "0" * 40)) or name == "@":
        return "not a valid git tag name"
    return None


def shown(value: object) -> str:
    """A setting's value as it would be written in the file."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_duration(duration: timedelta) -> str:
    """`parse_duration`'s inverse: 1h30m, 2d, 1w."""
    minutes = int(duration.total_seconds()) // 60
    parts = []
    for unit, size in (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60), ("m", 1)):
        if minutes >= size:
            parts.append(f"{minutes // size}{unit}")
            minutes %= size
    return "".join(parts) or "0m"


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
