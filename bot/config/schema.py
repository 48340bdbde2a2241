"""Reading a (merged) configuration tree into a `RepoConfig`, collecting every problem.

Each setting is read by a `values.Checker` reader that returns the value or records an
error naming the key path and the line, so that one pass reports everything that is wrong.
A wrong value voids only the smallest part that holds it: a group's setting voids that
group, any other setting keeps its default. Unknown keys are warnings: they are skipped and the
rest applies, so a key from a newer release never silences the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.model import (
    AlertsConfig,
    CommandsConfig,
    ConfirmMode,
    CulpritConfig,
    GroupConfig,
    RepoConfig,
    RevertMode,
    SuspectsConfig,
)
from bot.config.tree import Map, Scalar, Value, Where
from bot.config.values import LOGIN, Checker, describe, shown
from bot.tracker.model import PARALLEL_BISECT

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
    "bisect_at_once",
    "revert",
    "max_reverts_per_day",
    "no_revert_label",
)
COMMANDS_KEYS = ("prefix",)
CONFIRM_MODES: tuple[ConfirmMode, ...] = ("off", "rerun")
REVERT_MODES: tuple[RevertMode, ...] = ("off", "suggest", "auto")

GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
EXTENDS_SPEC = re.compile(rf"(?:({LOGIN.pattern})/)?([A-Za-z0-9_.-]+)(?::([^\s:]+))?")
_ALERTS, _SUSPECTS, _COMMANDS = AlertsConfig(), SuspectsConfig(), CommandsConfig()
_CULPRIT = CulpritConfig()
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
    check = Checker()
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


def _groups(check: Checker, tree: Map, partial: bool) -> list[tuple[GroupConfig, Where]]:
    """The groups with nothing wrong, each with where its threshold is set."""
    value = tree.get("groups")
    if value is None:
        if not partial:
            check.error(
                tree.where, "groups", "required: at least one group of jobs to watch", NO_GROUP
            )
        return []
    if not isinstance(value, Map) or not value.entries:
        got = describe(value) if not isinstance(value, Map) else "an empty mapping"
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
            check.error(body.where, path, f"expected a mapping of settings, got {describe(body)}")
        if check.void(since, f"the group '{name}' is ignored", override=True) or group is None:
            continue
        threshold = body.get("threshold") if isinstance(body, Map) else None
        groups.append((group, threshold.where if threshold is not None else entry.key_where))
    return groups


def _retention(
    check: Checker,
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


def _group(check: Checker, name: str, body: Map | None, path: str) -> GroupConfig:
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


def _culprit(check: Checker, body: Map | None) -> CulpritConfig:
    d, path = _CULPRIT, "culprit"

    def at_least_zero(v: Value, k: str) -> int | None:
        return check.integer(v, k, minimum=0)

    def at_once(v: Value, k: str) -> int | None:
        count = check.integer(v, k)
        if count is not None and count > PARALLEL_BISECT:
            check.error(v.where, k, f"expected 1, 2 or {PARALLEL_BISECT}, got {count}")
            return None
        return count

    culprit = CulpritConfig(
        confirm=check.field(
            body, "confirm", path, lambda v, k: check.choice(v, k, CONFIRM_MODES), d.confirm
        ),
        confirm_before_filing=check.field(
            body, "confirm_before_filing", path, check.boolean, d.confirm_before_filing
        ),
        bisect_tag=check.field(body, "bisect_tag", path, check.tag, d.bisect_tag or "") or None,
        max_runs=check.field(body, "max_runs", path, at_least_zero, d.max_runs),
        bisect_at_once=check.field(body, "bisect_at_once", path, at_once, d.bisect_at_once),
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
