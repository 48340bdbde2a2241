"""The status page's HTML: plain string building, every value through `html.escape`.

Pure: it takes the views `bot.status_page` gathers and returns text. No JavaScript; the page
refreshes itself with a meta tag, and its Content-Security-Policy forbids scripts anyway.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bot.tracker.model import CommitInfo, Grid, GridCell, GridRow, GroupStatus, JobKey

REFRESH_SECONDS = 30
SUSPECTS_SHOWN = 10
SHORT_SHA = 7
SUBJECT_LIMIT = 80


@dataclass(frozen=True, slots=True)
class CommitView:
    """A commit as the page shows it; `pr_url` when its message names a pull request."""

    commit: CommitInfo
    pr: int | None = None
    pr_url: str = ""


@dataclass(frozen=True, slots=True)
class AlertLink:
    number: int
    url: str


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group on one branch: its status, the commits it names, its alert and grid."""

    status: GroupStatus
    threshold: int
    last_green: CommitView | None
    suspects: tuple[CommitView, ...]
    alert_open: bool
    alert: AlertLink | None  # the open alert's issue, once filed
    grid: Grid | None  # None on the overview

    @property
    def state(self) -> str:
        if self.status.broken:
            return "broken"
        return "green" if self.status.jobs else "unknown"


@dataclass(frozen=True, slots=True)
class RepoView:
    repo: str
    groups: tuple[GroupView, ...]


STATE_WORDS = {"broken": "✗ BROKEN", "green": "✓ GREEN", "unknown": "· NO RESULTS YET"}
CELL_SYMBOLS = {GridCell.PASS: "✓", GridCell.FAIL: "✗", GridCell.FLAKY: "~", GridCell.NONE: "·"}
CELL_WORDS = {
    GridCell.PASS: "passed",
    GridCell.FAIL: "failed",
    GridCell.FLAKY: "flaky (passed on a rerun)",
    GridCell.NONE: "no result",
}

CSS = """
:root{--red:#c62828;--green:#2e7d32;--amber:#f9a825;--grey:#757575;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;padding:12px;background:#f4f5f7;color:#1b1b1b;
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 overflow-wrap:anywhere}
header{margin-bottom:8px}
h1{font-size:1.25rem;margin:0}
h2{font-size:1.15rem;margin:20px 0 6px}
h3{font-size:1.05rem;margin:0;display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center}
a{color:#0b57d0}
code{font:0.92em ui-monospace,"DejaVu Sans Mono",monospace}
.muted{color:#5f6368;font-size:.88rem}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0;padding:0;list-style:none}
.chip{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:600;
 text-decoration:none;color:#fff}
.chip.broken,.state.broken{background:var(--red)}
.chip.green,.state.green{background:var(--green)}
.chip.unknown,.state.unknown{background:var(--grey)}
.group{background:#fff;border:1px solid #d9dce1;border-left:10px solid var(--grey);
 border-radius:6px;padding:10px 12px;margin:12px 0}
.group.broken{border-left-color:var(--red);background:#fff4f4;border-color:#f1b5b5}
.group.green{border-left-color:var(--green)}
.state{display:inline-block;color:#fff;font-weight:800;letter-spacing:.04em;
 padding:2px 10px;border-radius:4px}
.group.broken .state{font-size:1.15rem}
dl{margin:8px 0 0;display:grid;grid-template-columns:max-content 1fr;gap:4px 12px}
dt{font-weight:600;color:#3c4043}
dd{margin:0;min-width:0}
ul.plain{margin:0;padding:0;list-style:none}
ul.plain li{margin:2px 0}
.streak{font-weight:700;color:var(--red)}
.below{font-weight:600;color:#8a5a00}
.gridwrap{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;margin-top:10px;
 border:1px solid #e0e0e0;background:#fff}
table.grid{border-collapse:collapse;font-size:13px}
.grid th,.grid td{border:1px solid #e6e6e6;padding:0}
.grid thead th{vertical-align:bottom;font-weight:600;padding:4px 2px}
.grid thead th.failing{color:var(--red)}
.grid .vh{writing-mode:vertical-rl;transform:rotate(180deg);max-height:14em;overflow:hidden;
 text-overflow:ellipsis;white-space:nowrap;display:inline-block}
.grid .commit{position:sticky;left:0;z-index:1;background:#fff;text-align:left;
 padding:2px 6px;max-width:19em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;
 font-weight:400}
.grid tr.suspect .commit{background:#fff0c2}
.grid tr.lastgreen .commit{background:#e3f4e4}
.tag{font-size:.75rem;font-weight:700;border-radius:3px;padding:0 4px;margin-left:4px}
.tag.suspect{background:#f9a825;color:#000}
.tag.lastgreen{background:var(--green);color:#fff}
.grid td.c{width:1.9em;min-width:1.9em;height:1.7em;text-align:center;font-weight:800}
.c.pass{background:#dff3e0;color:#1b5e20}
.c.fail{background:var(--red);color:#fff}
.c.flaky{background:#ffe08a;color:#5d4000}
.c.none{background:#fafafa;color:#9e9e9e}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:8px 0 0;padding:0;list-style:none}
.legend .c{display:inline-block;width:1.7em;text-align:center;font-weight:800;
 border:1px solid #ddd;margin-right:4px}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def safe_url(url: str) -> str:
    """The URL when it is http(s), else "": payload text must not become a `javascript:` link."""
    return url if url.startswith(("https://", "http://")) else ""


def link(text: str, url: str, title: str = "") -> str:
    """Escaped `text`, linked to `url` when that is a web URL."""
    attrs = f' title="{esc(title)}"' if title else ""
    target = safe_url(url)
    if not target:
        return f"<span{attrs}>{esc(text)}</span>" if attrs else esc(text)
    return f'<a href="{esc(target)}"{attrs}>{esc(text)}</a>'


def subject(message: str, limit: int = SUBJECT_LIMIT) -> str:
    first = message.strip().split("\n", 1)[0].strip()
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def anchor(repo: str, branch: str, group: str) -> str:
    return "g-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{repo}-{branch}-{group}")


def repo_path(repo: str, query: str) -> str:
    return "/" + quote(repo, safe="/") + query


def commit_html(view: CommitView) -> str:
    commit = view.commit
    parts = [link(commit.sha[:SHORT_SHA], commit.url, commit.sha)]
    if commit.message:
        text = subject(commit.message)
        if view.pr is not None:  # the PR is linked next to it
            text = text.removesuffix(f"(#{view.pr})").rstrip()
        parts.append(esc(text))
    if view.pr is not None:
        parts.append(link(f"#{view.pr}", view.pr_url))
    if commit.author:
        parts.append(f'<span class="muted">by {esc(commit.author)}</span>')
    return "<code>" + parts[0] + "</code> " + " ".join(parts[1:])


# --- a group ------------------------------------------------------------------------------


def jobs_html(view: GroupView) -> str:
    failing = sorted(
        (job for job in view.status.jobs if job.streak > 0), key=lambda j: (-j.streak, j.key)
    )
    if not failing:
        if not view.status.jobs:
            return '<span class="muted">no job of this group has reported on this branch</span>'
        return f"none of its {len(view.status.jobs)} jobs is failing"
    items = []
    for job in failing:
        commits = "commit" if job.streak == 1 else "commits"
        over = job.streak >= view.threshold
        streak = (
            f'<span class="{"streak" if over else "below"}">'
            f"{job.streak} {commits} in a row</span>"
            + ("" if over else f' <span class="muted">(threshold {view.threshold})</span>')
        )
        since = (
            f"last passed on <code>{esc(job.last_passing_sha[:SHORT_SHA])}</code>"
            if job.last_passing_sha
            else "no pass known"
        )
        name = link(str(job.key), job.latest_url, "its latest result")
        items.append(f'<li>✗ {name}: {streak} <span class="muted">· {since}</span></li>')
    return '<ul class="plain jobs">' + "".join(items) + "</ul>"


def suspects_html(view: GroupView) -> str:
    if not view.suspects:
        return '<span class="muted">none named</span>'
    items = [f"<li>{commit_html(s)}</li>" for s in view.suspects[:SUSPECTS_SHOWN]]
    more = len(view.suspects) - SUSPECTS_SHOWN
    if more > 0:
        items.append(f'<li class="muted">and {more} more</li>')
    note = (
        ""
        if view.status.suspects_known
        else '<p class="muted">No passing commit is known, so these only bound the range.</p>'
    )
    return '<ul class="plain suspects">' + "".join(items) + "</ul>" + note


def alert_html(view: GroupView) -> str:
    if view.alert is not None:
        return link(f"issue #{view.alert.number}", view.alert.url)
    if view.alert_open:
        return '<span class="muted">open; its issue is not filed yet</span>'
    return '<span class="muted">none</span>'


def group_html(view: GroupView, repo: str) -> str:
    status = view.status
    rows = [("Failing jobs", jobs_html(view))]
    if status.broken:
        rows.append(("Suspects", suspects_html(view)))
    green = commit_html(view.last_green) if view.last_green else '<span class="muted">none</span>'
    rows.append(("Last green", green))
    rows.append(("Alert", alert_html(view)))
    details = "".join(
        f'<dt>{esc(term)}</dt><dd class="{esc(term.lower().replace(" ", "-"))}">{value}</dd>'
        for term, value in rows
    )
    grid = grid_html(view) if view.grid is not None else ""
    return (
        f'<section class="group {view.state}" id="{esc(anchor(repo, status.branch, status.group))}"'
        f' data-repo="{esc(repo)}" data-branch="{esc(status.branch)}"'
        f' data-group="{esc(status.group)}" data-state="{view.state}">'
        f'<h3><span class="state {view.state}">{esc(STATE_WORDS[view.state])}</span>'
        f'<span>{esc(status.group)} <span class="muted">on</span>'
        f" <code>{esc(status.branch)}</code></span></h3>"
        f"<dl>{details}</dl>{grid}</section>"
    )


# --- the grid -----------------------------------------------------------------------------


def grid_html(view: GroupView) -> str:
    grid = view.grid
    if grid is None or not grid.rows:
        return '<p class="muted">No commits seen on this branch yet.</p>'
    if not grid.keys:
        return '<p class="muted">No results for this group\'s jobs yet.</p>'
    failing = {j.key for j in view.status.jobs if j.streak >= view.threshold}
    suspects = {s.commit.sha for s in view.suspects}
    last_green = view.last_green.commit.sha if view.last_green else None
    head = "".join(_key_header(key, key in failing) for key in grid.keys)
    body = "".join(_grid_row(row, grid.keys, suspects, last_green) for row in grid.rows)
    commits = "commit" if len(grid.rows) == 1 else "commits"
    caption = f"The last {len(grid.rows)} {commits}, newest first, by job"
    return (
        f'<div class="gridwrap"><table class="grid" data-rows="{len(grid.rows)}">'
        f'<caption class="muted">{esc(caption)}</caption>'
        f'<thead><tr><th class="commit" scope="col">commit</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{legend_html()}"
    )


def _key_header(key: JobKey, failing: bool) -> str:
    # The end of a job's name tells it from its siblings ("build / test (inductor_timm)").
    label = (key.job or key.workflow).rpartition(" / ")[2]
    css = ' class="failing"' if failing else ""
    return f'<th scope="col"{css} title="{esc(key)}"><span class="vh">{esc(label)}</span></th>'


def _grid_row(
    row: GridRow, keys: Sequence[JobKey], suspects: set[str], last_green: str | None
) -> str:
    commit = row.commit
    short = commit.sha[:SHORT_SHA]
    tags, css = "", ""
    if commit.sha in suspects:
        tags, css = '<span class="tag suspect">suspect</span>', ' class="suspect"'
    elif commit.sha == last_green:
        tags, css = '<span class="tag lastgreen">last green</span>', ' class="lastgreen"'
    title = f"{commit.sha} {subject(commit.message, 200)}" + (
        f" — {commit.author}" if commit.author else ""
    )
    cells = "".join(
        f'<td class="c {cell.value}" title="{esc(f"{key}: {CELL_WORDS[cell]} on {short}")}">'
        f"{CELL_SYMBOLS[cell]}</td>"
        for key, cell in zip(keys, row.cells, strict=True)
    )
    return (
        f'<tr{css}><th class="commit" scope="row" title="{esc(title)}">'
        f"<code>{link(short, commit.url)}</code> {esc(subject(commit.message, 60))}{tags}</th>"
        f"{cells}</tr>"
    )


def legend_html() -> str:
    items = "".join(
        f'<li><span class="c {cell.value}">{CELL_SYMBOLS[cell]}</span>{esc(CELL_WORDS[cell])}</li>'
        for cell in GridCell
    )
    return f'<ul class="legend" aria-label="legend">{items}</ul>'


# --- pages --------------------------------------------------------------------------------


def _summary(repo: str, views: Iterable[GroupView]) -> str:
    chips = []
    for view in views:
        status = view.status
        target = "#" + anchor(repo, status.branch, status.group)
        label = f"{STATE_WORDS[view.state]} {status.group} · {status.branch}"
        chips.append(f'<li><a class="chip {view.state}" href="{esc(target)}">{esc(label)}</a></li>')
    return f'<ul class="chips">{"".join(chips)}</ul>' if chips else ""


def _title(views: Sequence[GroupView], where: str) -> str:
    broken = sum(1 for v in views if v.state == "broken")
    prefix = f"✗ {broken} broken" if broken else "✓ all green"
    return f"{prefix} · {where} — trunkwatch"


def page(title: str, body: str, updated: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
        f'<footer class="muted">Updated {esc(updated)}; this page refreshes every'
        f" {REFRESH_SECONDS} s.</footer></body></html>\n"
    )


def _sorted(groups: Iterable[GroupView]) -> list[GroupView]:
    """Broken groups first, so they are what one sees; otherwise in configuration order."""
    return sorted(groups, key=lambda v: v.state != "broken")


def render_repo(view: RepoView | None, repo: str, query: str, updated: str) -> str:
    """One repository: every watched branch and group, with its grid."""
    heading = (
        f'<header><h1>{esc(repo)} <span class="muted">· trunkwatch</span></h1>'
        f'<a class="muted" href="{esc("/" + query)}">all repositories</a></header>'
    )
    if view is None:
        body = '<p class="muted">No results from this repository yet.</p>'
        return page(f"{repo} — trunkwatch", heading + body, updated)
    groups = _sorted(view.groups)
    summary = _summary(repo, groups)
    cards = "".join(group_html(g, repo) for g in groups) or (
        '<p class="muted">This repository watches no groups.</p>'
    )
    return page(_title(groups, repo), heading + summary + cards, updated)


def render_index(views: Sequence[RepoView], quiet: Sequence[str], query: str, updated: str) -> str:
    """Every repository the engine knows, each group's state; grids on the repository pages."""
    parts = ['<header><h1>trunkwatch</h1><span class="muted">trunk health</span></header>']
    everything: list[GroupView] = []
    for view in views:
        groups = _sorted(view.groups)
        everything.extend(groups)
        parts.append(
            f'<h2><a href="{esc(repo_path(view.repo, query))}">{esc(view.repo)}</a></h2>'
            + _summary(view.repo, groups)
            + "".join(group_html(g, view.repo) for g in groups)
        )
    if not views:
        parts.append('<p class="muted">No results from any repository yet.</p>')
    if quiet:
        links = ", ".join(f'<a href="{esc(repo_path(r, query))}">{esc(r)}</a>' for r in quiet)
        parts.append(f'<p class="muted">No results yet: {links}</p>')
    return page(_title(everything, "all repositories"), "".join(parts), updated)
