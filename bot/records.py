"""What the actions remember, as typed records: one small dataclass and one table each.

A types layer beside the tracker's types (`bot.tracker.model`): the vocabulary the store and
the actions share, importing nothing else of bot, so that neither has to import the other.

An alert's issue, its escalation timer, the suspect PRs it labelled, the holds on those
labels, mutes, snoozes, acknowledgements and config-error reports. A record is written
through `Changes.records` (a `Record` to insert or replace, a `Removal` to delete), so what
the actions did while processing a delivery is committed in the same transaction that marks
the delivery done. `Records` (bot/store/record_view.py) reads them with the delivery's own
pending writes applied.

Each dataclass's fields are its table's columns (`COLUMNS` renames the few that are SQL
words); `KEY` names the primary key. Lists and mappings are kept as JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Protocol, TypeVar

# Escalation states.
PENDING, ACKED, DONE, CANCELLED = "pending", "acked", "done", "cancelled"


class RecordType(Protocol):
    TABLE: ClassVar[str]
    KEY: ClassVar[tuple[str, ...]]


R = TypeVar("R", bound=RecordType)

COLUMNS = {"group": "group_name", "by": "by_user", "after": "after_seconds", "at": "at_time"}


def column(name: str) -> str:
    return COLUMNS.get(name, name)


@dataclass
class AlertIssue:
    """One alert's issue on GitHub."""

    TABLE: ClassVar[str] = "alert_issues"
    KEY: ClassVar[tuple[str, ...]] = ("alert",)

    alert: str
    repo: str
    branch: str
    group: str
    number: int
    url: str
    state: str = "open"
    closed_by: str = ""  # "bot" or "human" once closed
    owners: list[str] = field(default_factory=list)  # as mentioned when it was filed
    opened_at: float = 0.0
    jobs: list[str] = field(default_factory=list)  # job keys the body last showed
    suspects: list[str] = field(default_factory=list)
    body_hash: str = ""  # "" until this process rendered it: the previous body is unknown
    updates: int = 0  # change comments posted
    previous: dict[str, Any] | None = None  # {"number", "url"} of the group's last issue
    # The breakages the body last showed, in its order: [{"id": first failure, "jobs": [key],
    # "culprit": sha, once confirmed}];
    # None while not known (filed before breakages were kept, or found again by its marker).
    breakages: list[dict[str, Any]] | None = None


@dataclass
class Escalation:
    """An alert's escalation timer: due at `due` unless acknowledged."""

    TABLE: ClassVar[str] = "escalations"
    KEY: ClassVar[tuple[str, ...]] = ("alert",)

    alert: str
    repo: str
    number: int
    due: float
    after: float
    owners: list[str]
    installation: int | None
    state: str = PENDING
    acked_by: str | None = None
    app_slug: str = ""
    prefix: str = "/trunkwatch"
    claimed_until: float = 0.0  # a replica is firing it until then


@dataclass
class SuspectPRs:
    """What was done for one alert's suspect PRs: per PR (as a string) its author, url and
    whether it is `labelled`, `commented`, `manual`; and the PRs people cleared."""

    TABLE: ClassVar[str] = "suspect_prs"
    KEY: ClassVar[tuple[str, ...]] = ("alert",)

    alert: str
    prs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cleared: list[int] = field(default_factory=list)


@dataclass
class SuspectHold:
    """A breakage of an alert holds the suspect label on a PR; the label goes when no
    (alert, breakage) holds it. `breakage` is its first failure (the sha); "" is the alert
    as a whole (a PR a person named, or a hold kept before breakages were)."""

    TABLE: ClassVar[str] = "suspect_holds"
    KEY: ClassVar[tuple[str, ...]] = ("repo", "pr", "alert", "breakage")

    repo: str
    pr: int
    alert: str
    breakage: str = ""


@dataclass
class Mute:
    """No alert issue for the group on any branch until `until`. `repo` is lower-cased."""

    TABLE: ClassVar[str] = "mutes"
    KEY: ClassVar[tuple[str, ...]] = ("repo", "group")

    repo: str
    group: str
    until: float
    by: str


@dataclass
class Snooze:
    """No new alert issue for the group on the branch until `until` (also the latest end
    of an until-green snooze). `repo` is lower-cased."""

    TABLE: ClassVar[str] = "snoozes"
    KEY: ClassVar[tuple[str, ...]] = ("repo", "branch", "group")

    repo: str
    branch: str
    group: str
    until: float
    by: str
    until_green: bool = False
    alert: str = ""  # the alert the snooze was typed on (until-green ends with it)


@dataclass
class Ack:
    """Someone is on the alert."""

    TABLE: ClassVar[str] = "acks"
    KEY: ClassVar[tuple[str, ...]] = ("alert",)

    alert: str
    by: str
    at: float


@dataclass
class ConfigReport:
    """The repository's config-error issue. `repo` is lower-cased."""

    TABLE: ClassVar[str] = "config_reports"
    KEY: ClassVar[tuple[str, ...]] = ("repo",)

    repo: str
    state: str
    digest: str = ""
    number: int = 0


@dataclass
class CulpritRun:
    """A run trunkwatch asked for to find an alert's culprit: a rerun or a bisect tag.

    `outcome`: "requested", or why not ("refused: …"). Written before the request is made, in
    its own transaction, so that it is made once across retries, crashes and replicas.
    `refusals`: how many times GitHub refused it (a rerun is refused while its workflow run
    is still running; it is asked again later, a bounded number of times)."""

    TABLE: ClassVar[str] = "culprit_runs"
    KEY: ClassVar[tuple[str, ...]] = ("alert", "probe")

    alert: str
    probe: str  # `Probe.id`
    repo: str
    kind: str  # "rerun" or "bisect"
    sha: str
    workflow: str
    job: str = ""
    job_id: int = 0
    run_id: int = 0
    tag: str = ""  # BISECT: the tag pushed (deleted once its run completes)
    at: float = 0.0
    outcome: str = "requested"
    refusals: int = 0


@dataclass
class Revert:
    """A revert PR trunkwatch opened (or is opening: `state` "claimed") for a culprit PR."""

    TABLE: ClassVar[str] = "reverts"
    KEY: ClassVar[tuple[str, ...]] = ("repo", "pr")

    repo: str  # lower-cased
    pr: int  # the PR reverted
    alert: str
    sha: str  # the culprit commit
    number: int = 0  # the revert PR
    url: str = ""
    by: str = ""  # who asked ("" when trunkwatch did it by itself)
    at: float = 0.0
    state: str = "claimed"  # "claimed", "opened", "failed: …"


RECORD_TYPES: tuple[type[Any], ...] = (
    AlertIssue,
    Escalation,
    SuspectPRs,
    SuspectHold,
    Mute,
    Snooze,
    Ack,
    ConfigReport,
    CulpritRun,
    Revert,
)


@dataclass(frozen=True, slots=True)
class Removal:
    """Delete the record of `kind` with this key."""

    kind: type[Any]
    key: tuple[Any, ...]


def key_of(record: Any) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in record.KEY)


def field_names(kind: type[Any]) -> list[str]:
    return [f.name for f in fields(kind)]


def copy(record: R, **changes: Any) -> R:
    return replace(record, **changes)  # type: ignore[type-var]
