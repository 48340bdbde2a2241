"""What the actions need to know of one group's configuration, in one flat value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.actions.culprit import ProbeSettings
from bot.config.model import GroupConfig, RepoConfig, is_team

DEFAULT_APP_SLUG = "trunkwatch"
BOT_LABEL = "trunkwatch"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How the alert of one group is filed, who hears about it and which PRs are labelled.

    Owners are logins (`alice`) and team handles (`@org/team`), as the configuration keeps
    them. `labels` are the group's labels followed by the repository's `alerts.labels`.
    """

    group: str
    priority: str = "P2"
    threshold: int = 3
    owners: tuple[str, ...] = ()
    escalate_after: float | None = None  # seconds
    escalation_owners: tuple[str, ...] = ()
    labels: tuple[str, ...] = ("ci: alert",)
    suspect_label: str = "ci: suspected breakage"
    max_suspects: int = 5
    suspect_comment: bool = True
    commands_prefix: str = "/trunkwatch"
    app_slug: str = DEFAULT_APP_SLUG
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    confirm_before_filing: bool = False  # an alert is filed once its confirmation rerun is in
    revert: str = "off"  # off | suggest | auto
    max_reverts_per_day: int = 2
    no_revert_label: str = "trunkwatch: no revert"

    @property
    def priority_label(self) -> str:
        return f"priority: {self.priority}"

    @property
    def issue_labels(self) -> tuple[str, ...]:
        """Every label the alert issue carries: configured, priority, and the bot's own."""
        wanted = (*self.labels, self.priority_label, BOT_LABEL)
        seen: set[str] = set()
        out: list[str] = []
        for name in wanted:
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(name)
        return tuple(out)

    @property
    def owner_users(self) -> tuple[str, ...]:
        """Owners that can be assigned (teams cannot)."""
        return users_among(self.owners)

    @property
    def bot_login(self) -> str:
        """The login the App acts as on GitHub."""
        return f"{self.app_slug}[bot]"


def users_among(owners: Sequence[str]) -> tuple[str, ...]:
    """The users among owners (`alice`, not the team `@org/team`)."""
    return tuple(owner for owner in owners if not is_team(owner))


def policy_for(config: object, group: str, *, app_slug: str = DEFAULT_APP_SLUG) -> AlertPolicy:
    """The policy of `group` in a repository's configuration (`bot.config.RepoConfig`).

    A group that is no longer configured (its alert outlived a config change), or a config
    of another kind (a dry run's), gets the defaults of DESIGN.md.
    """
    if not isinstance(config, RepoConfig):
        return AlertPolicy(group=group, app_slug=app_slug)
    rule = config.group(group) or GroupConfig(name=group)
    labels = (*rule.labels, *config.alerts.labels)
    return AlertPolicy(
        group=group,
        priority=rule.priority,
        threshold=rule.threshold,
        owners=rule.owners,
        escalate_after=(
            rule.escalate_after.total_seconds() if rule.escalate_after is not None else None
        ),
        escalation_owners=rule.escalation_owners,
        labels=labels,
        suspect_label=config.suspects.label,
        max_suspects=config.suspects.max_prs,
        suspect_comment=config.suspects.comment,
        commands_prefix=config.commands.prefix,
        app_slug=app_slug,
        probes=ProbeSettings(
            max_runs=config.culprit.max_runs,
            confirm=config.culprit.confirm == "rerun",
            tag_pattern=config.culprit.bisect_tag,
        ),
        confirm_before_filing=config.culprit.confirm_before_filing,
        revert=config.culprit.revert,
        max_reverts_per_day=config.culprit.max_reverts_per_day,
        no_revert_label=config.culprit.no_revert_label,
    )
