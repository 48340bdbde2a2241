"""The alert issue: its record in the store, its title and body, and the calls that file,
find, edit, comment on and close it.

One open issue per (repository, branch, group). Its body starts with a hidden marker naming
them (`markdown.alert_marker`), so the issue is found again through the API when the store
has lost it: among open issues carrying the bot label first, through search as a fallback.
Only issues opened by the App itself count, so nobody can plant a marker to steer the bot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import markdown as md
from bot.actions.policy import BOT_LABEL, AlertPolicy
from bot.github.rest import Issue, IssueComment, IssueSearch
from bot.store.base import Store
from bot.store.record_view import Records, records_of
from bot.store.records import AlertIssue as AlertIssue  # the record, where the actions name it
from bot.store.records import CulpritRun, Revert
from bot.tracker.model import (
    RERUN,
    Breakage,
    CloseReason,
    CommitInfo,
    CulpritStatus,
    Decision,
    FailingJob,
)

log = logging.getLogger(__name__)

CommitLookup = Callable[[str], CommitInfo | None]

# What these were in the key/value state before typed records (carried over at start).
ISSUES = "alert_issue"  # alert id → AlertIssue
LATEST = "alert_latest"
BY_NUMBER = "alert_by_issue"

OPEN, CLOSED = "open", "closed"
BY_BOT, BY_HUMAN = "bot", "human"

LABEL_COLORS = {
    BOT_LABEL: "5319e7",
    "priority: P0": "b60205",
    "priority: P1": "d93f0b",
    "priority: P2": "fbca04",
    "priority: P3": "0e8a16",
}
ALERT_LABEL_COLOR = "e11d21"
DEFAULT_LABEL_COLOR = "ededed"
LABEL_DESCRIPTION = "Filed by trunkwatch"
JOBS_SHOWN = 5  # more failing jobs than this fold into <details>
SUSPECTS_SHOWN = 10
SUBJECT_LIMIT = 72

ISSUES_PATH = "/repos/{owner}/{repo}/issues"
ISSUE_PATH = "/repos/{owner}/{repo}/issues/{number}"
COMMENTS_PATH = "/repos/{owner}/{repo}/issues/{number}/comments"
LABEL_PATH = "/repos/{owner}/{repo}/labels/{name}"
LABELS_PATH = "/repos/{owner}/{repo}/labels"
SEARCH_PATH = "/search/issues"


def repo_vars(repo: str, **more: Any) -> dict[str, Any]:
    owner, _, name = repo.partition("/")
    return {"owner": owner, "repo": name, **more}


def group_key(key: md.AlertKey) -> str:
    return f"{key.repo}\n{key.branch}\n{key.group}"


async def load(store: Store | Records, alert: str) -> AlertIssue | None:
    return await records_of(store).get(AlertIssue, alert)


async def save(store: Store | Records, issue: AlertIssue) -> None:
    await records_of(store).put(issue)


async def alert_for_issue(store: Store | Records, repo: str, number: int) -> str | None:
    """The alert id an issue was filed for (for slash commands typed on it)."""
    found = await records_of(store).find(AlertIssue, repo=repo, number=number)
    return found[0].alert if found else None


async def latest(store: Store | Records, key: md.AlertKey) -> AlertIssue | None:
    """The group's most recently filed issue (the next one links it as "previous")."""
    found = await records_of(store).find(
        AlertIssue, repo=key.repo, branch=key.branch, group=key.group
    )
    return max(found, key=lambda issue: issue.opened_at) if found else None


# --- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuspectRow:
    """One suspect commit as the body lists it."""

    sha: str
    pr: int | None = None
    pr_url: str = ""


@dataclass(frozen=True, slots=True)
class BodyContext:
    """What the body shows beyond the decision itself."""

    policy: AlertPolicy
    repo_url: str  # https://github.com/owner/name
    commits: CommitLookup
    owners: Sequence[str]
    opened_at: float
    suspects: Sequence[SuspectRow] = ()
    too_wide: Sequence[str] = ()  # breakages (first failures; "": the alert) too wide to label
    labelled: Sequence[int] = ()
    previous: dict[str, Any] | None = None
    runs: Sequence[CulpritRun] = ()  # reruns and bisect tags asked for
    reverts: Sequence[Revert] = ()  # revert PRs opened for its culprits


def title(decision: Decision, policy: AlertPolicy) -> str:
    """Names the group's threshold, not the streak: the title stays put while the streak
    grows (an edited title notifies and reorders every subscriber's list); the body has it."""
    commits = "commit" if policy.threshold == 1 else "commits"
    text = f"[{policy.priority}] {decision.group}: {policy.threshold} {commits} in a row failing"
    return md.one_line(f"{text} on {decision.branch}", 256)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(text: str) -> str:
    try:
        return _when(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return md.escape(text)


def commit_link(sha: str, ctx: BodyContext) -> str:
    info = ctx.commits(sha)
    url = info.url if info and info.url else f"{ctx.repo_url}/commit/{sha}"
    return md.link(f"`{sha[:7]}`", url)


def _jobs_table(jobs: Sequence[FailingJob], ctx: BodyContext) -> list[str]:
    lines = ["| job | streak | first failing | latest failure |", "|---|---|---|---|"]
    for job in sorted(jobs, key=lambda j: (-j.streak, j.key)):
        log_link = md.link("log", job.latest_failed_url) if job.latest_failed_url else "—"
        first = commit_link(job.first_failing_sha, ctx)
        lines.append(f"| {md.escape(str(job.key), 120)} | {job.streak} | {first} | {log_link} |")
    return lines


def _suspect_table(ctx: BodyContext) -> list[str]:
    lines = ["| commit | author | PR | subject |", "|---|---|---|---|"]
    for row in ctx.suspects:
        info = ctx.commits(row.sha)
        author = md.escape(info.author, 40) if info and info.author else "—"
        subject = md.escape(info.message.split("\n", 1)[0], SUBJECT_LIMIT) if info else ""
        pr = md.link(f"#{row.pr}", row.pr_url) if row.pr else "—"
        lines.append(f"| {commit_link(row.sha, ctx)} | {author} | {pr} | {subject} |")
    return lines


def _folded(summary: str, lines: list[str], fold: bool) -> list[str]:
    if not fold:
        return lines
    return ["<details>", f"<summary>{summary}</summary>", "", *lines, "", "</details>"]


def _first_failure(decision: Decision, ctx: BodyContext) -> str:
    firsts = [job.first_failing_sha for job in decision.jobs if job.first_failing_sha]
    if not firsts:
        return "unknown"
    stamped = [(ctx.commits(sha), sha) for sha in firsts]
    dated = sorted((info.timestamp, sha) for info, sha in stamped if info and info.timestamp)
    sha = dated[0][1] if dated else firsts[0]
    when = f" ({_iso(dated[0][0])})" if dated else ""
    return f"{commit_link(sha, ctx)}{when}"


def _commands(policy: AlertPolicy, labelled: Sequence[int]) -> list[str]:
    prefix = md.one_line(policy.commands_prefix, 40)
    rows = [
        (
            "ack",
            "acknowledge: you are on it" + (", no escalation" if policy.escalate_after else ""),
        ),
        ("resolve", "close this alert; it is not refiled for this streak"),
        ("snooze 2h", "file no new alert for this group here for 2 hours"),
        ("rerun", "rerun the failed jobs"),
        ("suspect #N", "add a pull request to the suspects"),
    ]
    if labelled:
        rows.append(("unsuspect #N", "clear a suspect pull request"))
    return [f"- `{prefix} {command}`: {what}" for command, what in rows]


SURENESS = {
    CulpritStatus.CONFIRMED: "confirmed",
    CulpritStatus.CONFIRMING: "confirming",
    CulpritStatus.SUSPECTED: "not confirmed",
    CulpritStatus.UNKNOWN: "unknown",
}


def _pr_of(sha: str, ctx: BodyContext) -> str:
    row = next((r for r in ctx.suspects if r.sha == sha and r.pr), None)
    return f" ({md.link(f'#{row.pr}', row.pr_url)})" if row is not None else ""


def _evidence(breakage: Breakage, ctx: BodyContext) -> str:
    parts = []
    for item in breakage.evidence:
        tries = ", ".join(md.escape(c, 20) for c in item.conclusions)
        log_link = f" ({md.link('log', item.url)})" if item.url else ""
        parts.append(
            f"{md.escape(str(item.key), 120)} on {commit_link(item.sha, ctx)}: {tries}{log_link}"
        )
    return "; ".join(parts)


def _breakage_line(breakage: Breakage, ctx: BodyContext) -> str:
    """The culprit (or the shortest known range) and how sure that is."""
    sure = SURENESS[breakage.status]
    if breakage.culprit is not None:
        what = f"**Culprit: {commit_link(breakage.culprit, ctx)}{_pr_of(breakage.culprit, ctx)}"
        what += f" — {sure}**"
    elif breakage.suspects:
        first, last = breakage.suspects[0], breakage.suspects[-1]
        what = (
            f"**Culprit: one of {len(breakage.suspects)} commits, {commit_link(first, ctx)}"
            f" to {commit_link(last, ctx)} — {sure}**"
        )
    else:
        what = f"**Culprit: {sure}**"
    if breakage.status is CulpritStatus.CONFIRMED:
        what += ": it fails there on two attempts and passes on its parent."
    elif breakage.status is CulpritStatus.CONFIRMING:
        what += ": runs that tell are asked for or running."
    elif breakage.status is CulpritStatus.UNKNOWN:
        what += ": no passing run of these jobs is known before the failures."
    evidence = _evidence(breakage, ctx)
    return what + (f" Evidence: {evidence}." if evidence else "")


def _culprit_lines(decision: Decision, ctx: BodyContext) -> list[str]:
    breakages = decision.breakages
    if not breakages:
        return []
    lines = [""]
    for number, breakage in enumerate(breakages, 1):
        line = _breakage_line(breakage, ctx)
        if len(breakages) > 1:
            jobs = len(breakage.jobs)
            since = commit_link(breakage.first_failure, ctx)
            line = f"Breakage {number}: {jobs} job{'s' if jobs != 1 else ''} since {since} — {line}"
        lines.append(line)
    confirmed = [b for b in breakages if b.status is CulpritStatus.CONFIRMED]
    opened = {revert.sha: revert for revert in ctx.reverts if revert.number}
    for breakage in confirmed:
        revert = opened.get(breakage.culprit or "")
        if revert is not None:
            lines.append(f"**Revert PR:** {md.link(f'#{revert.number}', revert.url)}")
        elif ctx.policy.revert == "suggest":
            prefix = md.one_line(ctx.policy.commands_prefix, 40)
            lines.append(f"To revert it: `{prefix} revert`")
    return lines


def _runs_lines(ctx: BodyContext) -> list[str]:
    if not ctx.runs:
        return []
    lines = ["| run | commit | job | asked at |", "|---|---|---|---|"]
    for run in sorted(ctx.runs, key=lambda r: r.at):
        what = "rerun" if run.kind == RERUN else f"bisect tag `{md.escape(run.tag, 120)}`"
        if run.outcome != "requested":
            what += f" ({md.escape(run.outcome, 60)})"
        job = md.escape(run.job or run.workflow, 120)
        lines.append(f"| {what} | {commit_link(run.sha, ctx)} | {job} | {_when(run.at)} |")
    return ["", *_folded(f"{len(ctx.runs)} runs asked for to find the culprit", lines, True)]


def _unlabelled(decision: Decision, ctx: BodyContext) -> list[str]:
    """Why suspects are not labelled: none known, or the range too wide; per breakage when
    there are several (each labels its own PRs)."""
    most = ctx.policy.max_suspects
    if len(decision.breakages) <= 1:
        if not decision.suspects_known:
            return [
                "No passing run of these jobs is known before the failures, so the culprit"
                " cannot be narrowed down; no pull request is labelled."
            ]
        if ctx.too_wide:
            return [
                f"The range is too wide to name suspects: {len(decision.suspects)} commits, and"
                f" at most {most} pull requests are labelled. None is."
            ]
        return []
    lines = []
    for number, breakage in enumerate(decision.breakages, 1):
        if not breakage.suspects_known:
            lines.append(
                f"- Breakage {number}: no passing run of its jobs is known before the failures,"
                " so its culprit cannot be narrowed down; none of its pull requests is labelled."
            )
        elif breakage.first_failure in ctx.too_wide:
            lines.append(
                f"- Breakage {number}: the range is too wide to name suspects:"
                f" {len(breakage.suspects)} commits, and at most {most} pull"
                f" request{'s' if most != 1 else ''} {'are' if most != 1 else 'is'} labelled"
                " per breakage. None of its is."
            )
    return [*lines, ""] if lines else []


def body(decision: Decision, ctx: BodyContext) -> str:
    """The alert issue's body: short enough for a phone, details folded."""
    policy = ctx.policy
    key = md.AlertKey(decision.repo, decision.branch, decision.group)
    owners = ", ".join(md.mention(owner) for owner in ctx.owners) or "none configured"
    jobs = len(decision.jobs)
    previous_number = int((ctx.previous or {}).get("number") or 0) or None
    lines = [
        md.alert_marker(key, decision.alert, previous_number),
        f"**{md.escape(policy.priority)}** · group **{md.escape(decision.group, 80)}** on "
        f"{md.escape(decision.branch, 100)} · threshold "
        f"{policy.threshold} · {jobs} job{'s' if jobs != 1 else ''} failing · now "
        f"**{decision.streak} commit{'s' if decision.streak != 1 else ''} in a row**",
        "",
        f"**Owners:** {owners}",
        f"**Failing since** {_first_failure(decision, ctx)} · **filed** {_when(ctx.opened_at)}",
    ]
    if ctx.previous and ctx.previous.get("number"):
        previous = md.link(f"#{ctx.previous['number']}", str(ctx.previous.get("url", "")))
        lines.append(f"**Previous alert for this group:** {previous}")
    lines += _culprit_lines(decision, ctx)
    lines += ["", "### Failing jobs", ""]
    lines += _folded(f"{jobs} failing jobs", _jobs_table(decision.jobs, ctx), jobs > JOBS_SHOWN)
    lines += ["", "### Suspects", ""]
    lines += _unlabelled(decision, ctx)
    if decision.pending:
        running = ", ".join(commit_link(sha, ctx) for sha in decision.pending[:SUSPECTS_SHOWN])
        more = len(decision.pending) - SUSPECTS_SHOWN
        running += f" and {more} more" if more > 0 else ""
        lines += [
            f"Still running on {running}: the suspects may narrow when they finish."
            + (" No pull request is labelled until then." if decision.provisional else ""),
            "",
        ]
    if ctx.suspects and len(ctx.suspects) <= 5 * SUSPECTS_SHOWN:
        many = len(ctx.suspects) > SUSPECTS_SHOWN
        table = _suspect_table(ctx)
        lines += _folded(f"{len(ctx.suspects)} suspect commits", table, many)
    elif ctx.suspects:
        lines.append(f"{len(ctx.suspects)} commits: see the comparison below.")
    lines.append("")
    newest = decision.at or (decision.suspects[-1] if decision.suspects else "")
    if decision.last_green:
        green = commit_link(decision.last_green, ctx)
        compare = f"{ctx.repo_url}/compare/{decision.last_green}...{newest}" if newest else ""
        changes = f" · {md.link('changes since', compare)}" if compare else ""
        lines.append(f"**Last green:** {green}{changes}")
    else:
        lines.append("**Last green:** none known")
    lines += _runs_lines(ctx)
    lines += ["", *_folded("Commands", _commands(policy, ctx.labelled), True)]
    return "\n".join(lines) + "\n"


def body_hash(title_text: str, body_text: str) -> str:
    return hashlib.sha256(f"{title_text}\n{body_text}".encode()).hexdigest()[:16]


# --- talking to GitHub ---------------------------------------------------------------------


async def ensure_label(gh: GitHubAPI, repo: str, name: str, known: set[tuple[str, str]]) -> None:
    """Create the label with a colour unless the repository has it. `known` remembers the
    labels seen to exist, so each costs one call per process."""
    if (repo, name.lower()) in known:
        return
    try:
        await gh.getitem(LABEL_PATH, repo_vars(repo, name=name))
    except gidgethub.BadRequest as exc:
        if exc.status_code != 404:
            raise
        color = LABEL_COLORS.get(name, ALERT_LABEL_COLOR if name.startswith("ci:") else None)
        data = {"name": name, "color": color or DEFAULT_LABEL_COLOR}
        try:
            await gh.post(
                LABELS_PATH, repo_vars(repo), data=data | {"description": LABEL_DESCRIPTION}
            )
        except gidgethub.BadRequest as create_exc:
            if create_exc.status_code != 422:  # created meanwhile: already_exists
                raise
    known.add((repo, name.lower()))


def _by_bot(item: Issue | IssueComment, policy: AlertPolicy) -> bool:
    """Written by this App: its own login, not any bot's (another App could plant a marker)."""
    user = item.get("user")
    login = user.get("login") if user else None
    return isinstance(login, str) and login.lower() == policy.bot_login.lower()


async def find_issue(
    gh: GitHubAPI, key: md.AlertKey, policy: AlertPolicy, *, search: bool = True
) -> Issue | None:
    """The open alert issue of (repo, branch, group) on GitHub, by its marker."""
    listing = gh.getiter(
        ISSUES_PATH + "{?state,labels,per_page}",
        repo_vars(key.repo, state="open", labels=BOT_LABEL, per_page=100),
    )
    item: Issue
    async for item in listing:
        if _matches(item, key, policy):
            return item.copy()
    if not search:
        return None
    # The bot label may have been removed by hand; search sees the body either way.
    query = f'repo:{key.repo} is:issue is:open in:body "{md.MARKER_PREFIX}alert"'
    try:
        found: IssueSearch = await gh.getitem(
            SEARCH_PATH + "{?q,per_page}", {"q": query, "per_page": 100}
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code in (403, 422):  # search limited or refused: the listing stands
            log.warning("issue search failed", extra={"repo": key.repo, "status": exc.status_code})
            return None
        raise
    for item in found.get("items", []):
        if _matches(item, key, policy):
            return item.copy()
    return None


def _matches(item: Issue, key: md.AlertKey, policy: AlertPolicy) -> bool:
    return (
        "pull_request" not in item
        and item.get("state") == OPEN
        and _by_bot(item, policy)
        and md.parse_alert_marker(item.get("body")) == key
    )


async def find_previous(
    gh: GitHubAPI, key: md.AlertKey, policy: AlertPolicy
) -> dict[str, Any] | None:
    """The group's most recent closed alert issue among the newest closed ones."""
    page: list[Issue] = await gh.getitem(
        ISSUES_PATH + "{?state,labels,sort,direction,per_page}",
        repo_vars(
            key.repo,
            state="closed",
            labels=BOT_LABEL,
            sort="created",
            direction="desc",
            per_page=50,
        ),
    )
    for item in page:
        marked = md.parse_alert_marker(item.get("body")) == key
        if marked and "pull_request" not in item and _by_bot(item, policy):
            return {"number": item["number"], "url": item.get("html_url", "")}
    return None


async def create(
    gh: GitHubAPI, repo: str, title_text: str, body_text: str, labels: Sequence[str]
) -> Issue:
    data = {"title": title_text, "body": body_text, "labels": list(labels)}
    created: Issue = await gh.post(ISSUES_PATH, repo_vars(repo), data=data)
    return created


async def edit(gh: GitHubAPI, repo: str, number: int, **fields: Any) -> Issue | None:
    """PATCH the issue; None when it no longer exists (deleted or transferred)."""
    try:
        edited: Issue = await gh.patch(ISSUE_PATH, repo_vars(repo, number=number), data=fields)
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 410):
            return None
        raise
    return edited


async def get(gh: GitHubAPI, repo: str, number: int) -> Issue | None:
    try:
        issue: Issue = await gh.getitem(ISSUE_PATH, repo_vars(repo, number=number))
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 410):
            return None
        raise
    return issue


async def comment_once(
    gh: GitHubAPI, repo: str, number: int, text: str, kind: str, policy: AlertPolicy, **fields: str
) -> bool:
    """Post `text` under a marker unless a comment of the bot already carries that marker.
    Returns whether a comment was posted."""
    listing = gh.getiter(
        COMMENTS_PATH + "{?per_page}", repo_vars(repo, number=number, per_page=100)
    )
    existing: IssueComment
    async for existing in listing:
        if _by_bot(existing, policy) and md.find_marker(existing.get("body"), kind, **fields):
            return False
    marked = f"{md.marker(kind, **fields)}\n{text}"
    await gh.post(COMMENTS_PATH, repo_vars(repo, number=number), data={"body": marked})
    return True


CLOSE_STATE_REASON = {
    CloseReason.RECOVERED: "completed",
    CloseReason.FLAKY: "not_planned",
    CloseReason.RESOLVED_BY_USER: "completed",
}


def close_comment(decision: Decision, ctx: BodyContext) -> str:
    if decision.reason is CloseReason.RECOVERED:
        by = decision.recovered_by or decision.at
        if not by:
            return "✅ Recovered: every failing job of this group passes again."
        info = ctx.commits(by)
        subject = (
            f" ({md.escape(info.message.split(chr(10), 1)[0], SUBJECT_LIMIT)})" if info else ""
        )
        return f"✅ Recovered at {commit_link(by, ctx)}{subject}: every failing job passes again."
    if decision.reason is CloseReason.FLAKY:
        jobs = ", ".join(md.escape(job, 120) for job in decision.flaky_reruns) or "the failures"
        return f"♻️ Withdrawn as flaky: on rerun, {jobs} passed. Nothing was broken."
    return "Resolved by a maintainer: this streak will not be refiled."


def update_comment(
    decision: Decision,
    previous_jobs: Sequence[str],
    previous_suspects: Sequence[str],
    ctx: BodyContext,
    suspects: Sequence[str] | None = None,
) -> str:
    """What changed since the body was last shown: jobs that joined or left, new suspects
    (`suspects`: those to announce, when not the decision's own)."""
    suspects = list(decision.suspects if suspects is None else suspects)
    jobs = [str(job.key) for job in decision.jobs]
    joined = [j for j in jobs if j not in previous_jobs]
    left = [j for j in previous_jobs if j not in jobs]
    parts: list[str] = []
    if joined:
        parts.append("Now also failing: " + ", ".join(md.escape(j, 120) for j in joined) + ".")
    if left:
        parts.append("No longer failing: " + ", ".join(md.escape(j, 120) for j in left) + ".")
    if suspects != list(previous_suspects):
        if suspects and len(suspects) <= SUSPECTS_SHOWN:
            named = ", ".join(commit_link(sha, ctx) for sha in suspects)
            parts.append(f"Suspects are now: {named}.")
        else:
            parts.append(f"Suspects changed: {len(suspects)} commits.")
    if not parts:
        parts.append(f"{len(jobs)} jobs failing, streak {decision.streak}.")
    return " ".join(parts) + " The description above is current."


# --- breakages that join or recover --------------------------------------------------------


def breakage_summary(breakages: Sequence[Breakage]) -> list[dict[str, Any]]:
    """What the alert's record keeps of the breakages the body shows, in its order."""
    return [{"id": b.first_failure, "jobs": [str(key) for key in b.jobs]} for b in breakages]


@dataclass(frozen=True, slots=True)
class BreakageChanges:
    """Breakages that joined the alert since the body last showed it, and those that left it.

    A breakage is named by its first failure, which moves when an older failure of its jobs
    comes to light or two breakages merge: it counts as new only when none of its jobs was
    failing before, and as gone only when none of its jobs is failing now. A breakage that is
    gone has `recovered`, or is `interrupted`: its jobs left the alert without passing (a
    rerun of its first failure is running), and it is expected back."""

    before: list[dict[str, Any]]  # `breakage_summary` as last shown
    after: tuple[Breakage, ...]
    joined: tuple[Breakage, ...] = ()
    recovered: tuple[dict[str, Any], ...] = ()
    interrupted: tuple[dict[str, Any], ...] = ()

    @property
    def news(self) -> bool:
        """Whether there is something to say in a comment."""
        return bool(self.joined or self.recovered)

    @property
    def marker(self) -> str:
        """Names the change, so that its comment is posted once."""
        return " ".join(
            [f"+{b.first_failure}" for b in self.joined] + [f"-{r['id']}" for r in self.recovered]
        )

    def summary(self) -> list[dict[str, Any]]:
        """What the record keeps now: the breakages shown, and those expected back."""
        return [*breakage_summary(self.after), *self.interrupted]


def breakage_changes(
    before: Sequence[dict[str, Any]] | None,
    after: Sequence[Breakage],
    recovered: Callable[[dict[str, Any]], bool],
) -> BreakageChanges | None:
    """How the breakages last shown became the decision's; None when what was shown is not
    known. `recovered(summary)` tells a breakage that is gone recovered from one that is
    interrupted."""
    if not before or not after:
        return None
    shown = {str(b.get("id")) for b in before}
    failed = {str(job) for b in before for job in b.get("jobs") or ()}
    now = {b.first_failure for b in after}
    failing = {str(job) for b in after for job in b.jobs}
    joined = tuple(
        b for b in after if b.first_failure not in shown and not {str(k) for k in b.jobs} & failed
    )
    gone = [
        b for b in before if str(b.get("id")) not in now and not set(b.get("jobs") or ()) & failing
    ]
    over = tuple(b for b in gone if recovered(b))
    waiting = tuple(b for b in gone if b not in over)
    return BreakageChanges(list(before), tuple(after), joined, over, waiting)


def _jobs_since(jobs: int, sha: str, ctx: BodyContext) -> str:
    return f"{jobs} job{'s' if jobs != 1 else ''} since {commit_link(sha, ctx)}"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def breakage_comment(changes: BreakageChanges, ctx: BodyContext) -> str:
    """The comment on a breakage that joined an open alert, or recovered while another is
    still failing. Breakages are numbered as the body numbers them (before, for one that
    recovered), and named by their first failure too, since the numbers shift."""
    shown = {str(b.get("id")): number for number, b in enumerate(changes.before, 1)}
    numbered = {b.first_failure: number for number, b in enumerate(changes.after, 1)}
    parts: list[str] = []
    for breakage in changes.joined:
        jobs = ", ".join(md.escape(str(key), 120) for key in breakage.jobs)
        others = len(changes.after) - 1
        theirs = "the other breakage's" if others == 1 else f"those of the {others} others"
        if breakage.culprit is not None:
            named = f"{commit_link(breakage.culprit, ctx)}{_pr_of(breakage.culprit, ctx)}"
        elif breakage.suspects:
            named = f"{len(breakage.suspects)} commits"
        else:
            named = "not known yet"
        parts.append(
            f"Breakage {numbered[breakage.first_failure]} joined: {jobs} failing since"
            f" {commit_link(breakage.first_failure, ctx)}. Its blamelist does not overlap"
            f" {theirs}, so it has suspects of its own: {named}."
        )
    if changes.recovered:
        gone = [
            f"breakage {shown[str(b['id'])]} ({_jobs_since(len(b['jobs']), str(b['id']), ctx)})"
            for b in changes.recovered
        ]
        left = [
            f"breakage {shown[b.first_failure]}"
            if b.first_failure in shown
            else f"the breakage since {commit_link(b.first_failure, ctx)}"
            for b in changes.after
        ]
        verb = "is" if len(left) == 1 else "are"
        recovered = _and(gone)
        parts.append(
            f"{recovered[0].upper()}{recovered[1:]} recovered; {_and(left)} {verb} still failing."
        )
    return " ".join(parts) + " The description above is current."
