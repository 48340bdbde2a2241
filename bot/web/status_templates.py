"""The status page's views and their rendering: Jinja2 templates with autoescaping.

Pure: `bot.web.status_page` gathers the views from the store; this module formats times and
renders `bot/web/templates/*.html.j2`. Every value reaches the HTML through Jinja's autoescape,
and a URL from a payload becomes a link only when it is http(s). No JavaScript: the page
refreshes itself with a meta tag, and its Content-Security-Policy forbids scripts anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import jinja2

REFRESH_SECONDS = 30
SUSPECTS_SHOWN = 10
SHORT_SHA = 7
SUBJECT_LIMIT = 80

STATE_WORDS = {"broken": "✗ BROKEN", "green": "✓ GREEN", "unknown": "· NO RESULTS YET"}
CELL_SYMBOLS = {"pass": "✓", "fail": "✗", "flaky": "~", "pending": "…", "infra": "!", "none": "·"}
CELL_WORDS = {
    "pass": "passed",
    "fail": "failed",
    "flaky": "flaky (passed on a rerun)",
    "pending": "still running",
    "infra": "runner failure (not the code)",
    "none": "no result",
}


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitView:
    """A commit as the page shows it: `when` is its wall-clock time, "" when unknown."""

    sha: str
    url: str = ""
    subject: str = ""
    author: str = ""
    when: str = ""
    pr: int | None = None
    pr_url: str = ""

    @property
    def short(self) -> str:
        return self.sha[:SHORT_SHA]


@dataclass(frozen=True, slots=True)
class JobView:
    """A job of the group with a streak: its full name, how long, since which commit."""

    name: str
    streak: int
    over_threshold: bool
    first_failing: CommitView | None
    last_pass: str | None  # short SHA of its newest pass
    url: str  # its newest result on GitHub


@dataclass(frozen=True, slots=True)
class AlertView:
    number: int | None  # None while its issue is not filed yet
    url: str
    acked_by: str | None
    escalates_to: tuple[str, ...] = ()  # who is pinged if nobody acknowledges
    acked_at: str = ""  # wall-clock time of the acknowledgement


@dataclass(frozen=True, slots=True)
class CellView:
    state: str  # a GridCell value: pass, fail, flaky, pending, infra, none
    url: str  # the job on GitHub, "" when unknown
    title: str

    @property
    def symbol(self) -> str:
        return CELL_SYMBOLS[self.state]


@dataclass(frozen=True, slots=True)
class ColumnView:
    label: str  # J1, J2, …: short enough for the header
    name: str  # the full job name, on hover and in the legend
    failing: bool


@dataclass(frozen=True, slots=True)
class RowView:
    commit: CommitView
    tag: str  # "suspect", "last green" or ""
    cells: tuple[CellView, ...]


@dataclass(frozen=True, slots=True)
class GridView:
    columns: tuple[ColumnView, ...]
    rows: tuple[RowView, ...]


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group on one branch, everything an on-call engineer looks for first."""

    repo: str
    branch: str
    group: str
    state: str  # broken, green, unknown
    threshold: int
    job_count: int
    owners: tuple[str, ...] = ()
    failing_jobs: tuple[JobView, ...] = ()
    broken_for: str = ""  # "3 h 12 min", since the first failing commit
    first_failing: CommitView | None = None
    suspects: tuple[CommitView, ...] = ()
    suspects_known: bool = True
    provisional: bool = False  # results of the suspects are still coming: none labelled yet
    suspects_pending: int = 0  # suspects whose results are still coming
    last_green: CommitView | None = None
    alert: AlertView | None = None
    muted: str = ""  # "until 16:00 UTC, by alice"
    snoozed: str = ""
    grid: GridView | None = None  # None on the overview

    @property
    def anchor(self) -> str:
        return "g-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{self.repo}-{self.branch}-{self.group}")

    @property
    def words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def suspects_more(self) -> int:
        return max(0, len(self.suspects) - SUSPECTS_SHOWN)


@dataclass(frozen=True, slots=True)
class RepoView:
    repo: str
    groups: tuple[GroupView, ...]
    recorded: bool = True  # False: nothing received from it yet
    watched: bool = True  # False: its configuration watches no group, or cannot be read

    @property
    def path(self) -> str:
        return repo_path(self.repo)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What every page needs besides its views: the clock and the link query (the token)."""

    now: datetime
    query: str = ""  # "?token=…" when the token came in the URL, so links keep working


# --- time, as people read it ----------------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 timestamp as GitHub sends it (`2026-11-21T14:05:00Z`, or with an offset)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def wall_clock(moment: datetime | None, now: datetime) -> str:
    """`14:05 UTC` today, `Nov 21 14:05 UTC` another day, `2025-11-21 14:05 UTC` another year."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    if moment.year == now.year:
        return moment.strftime("%b %d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """`3 h 12 min`, `2 d 4 h`, `45 min`; `under a minute` below one."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "under a minute"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def subject(message: str, limit: int = SUBJECT_LIMIT) -> str:
    first = message.strip().split("\n", 1)[0].strip()
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def safe_url(url: str) -> str:
    """The URL when it is http(s), else "": payload text must not become a `javascript:` link."""
    return url if url.startswith(("https://", "http://")) else ""


def repo_path(repo: str) -> str:
    return "/" + quote(repo, safe="/") + "/"


# --- rendering ------------------------------------------------------------------------------

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("bot.web", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["safe_url"] = safe_url
_ENVIRONMENT.globals.update(
    REFRESH_SECONDS=REFRESH_SECONDS,
    SUSPECTS_SHOWN=SUSPECTS_SHOWN,
    CELL_SYMBOLS=CELL_SYMBOLS,
    CELL_WORDS=CELL_WORDS,
)


def _sorted(groups: Sequence[GroupView]) -> list[GroupView]:
    """Broken groups first, so they are what one sees; otherwise in configuration order."""
    return sorted(groups, key=lambda v: v.state != "broken")


def title(groups: Sequence[GroupView], where: str, watched: bool) -> str:
    """The tab's title says what is true: broken, green, nothing known, or nothing watched."""
    broken = sum(1 for g in groups if g.state == "broken")
    if broken:
        prefix = f"✗ {broken} broken"
    elif not watched or not groups:
        prefix = "nothing watched"
    elif all(g.state == "unknown" for g in groups):
        prefix = "no results yet"
    else:
        prefix = "✓ all green"
    return f"{prefix} · {where} — trunkwatch"


def render_repo(view: RepoView, context: PageContext) -> str:
    """One repository: every watched branch and group, with its grid."""
    groups = _sorted(view.groups)
    return _ENVIRONMENT.get_template("repo.html.j2").render(
        view=view,
        groups=groups,
        title=title(groups, view.repo, view.watched and view.recorded),
        ctx=context,
        updated=context.now.strftime("%H:%M:%S UTC"),
    )


def render_index(views: Sequence[RepoView], context: PageContext) -> str:
    """Every installed repository and the state of each of its groups; grids on their pages."""
    everything = [g for v in views for g in v.groups]
    shown = [v for v in views if v.groups]
    quiet = [v for v in views if not v.groups]
    return _ENVIRONMENT.get_template("index.html.j2").render(
        views=[(v, _sorted(v.groups)) for v in shown],
        quiet=quiet,
        title=title(everything, "all repositories", bool(everything)),
        ctx=context,
        updated=context.now.strftime("%H:%M:%S UTC"),
    )
