"""Each group's `AlertPolicy` (what the actions need of it) from the repository's configuration.

The actions do not read the configuration: the App gives the sink `policy_for`, and the
commands' context a group's policy, translated here.
"""

from __future__ import annotations

from bot.actions.culprit import ProbeSettings
from bot.actions.policy import DEFAULT_APP_SLUG, AlertPolicy
from bot.config.model import GroupConfig, RepoConfig


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
