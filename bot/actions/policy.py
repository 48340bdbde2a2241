"""What the actions need to know of one group's configuration, in one flat value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.actions.culprit import ProbeSettings

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
    """The users among owners (`alice`, not the team `@org/team`: bot.config's `is_team`)."""
    return tuple(owner for owner in owners if not owner.startswith("@"))


class PolicyFor(Protocol):
    """A group's policy in a repository's configuration: `bot.policies.policy_for`, given to
    the sink by the App (the actions do not read the configuration)."""

    def __call__(
        self, config: object, group: str, *, app_slug: str = DEFAULT_APP_SLUG
    ) -> AlertPolicy: ...
