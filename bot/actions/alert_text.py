"""The alert issue's text: its title and body, and the comments on what changed, as pure
functions of the decision and what the body shows beyond it (`BodyContext`).

The body starts with a hidden marker naming (repository, branch, group)
(`markdown.alert_marker`), by which `issue_calls` finds the issue again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.actions import markdown as md
from bot.actions.alert_issue import BreakageChanges
from bot.actions.policy import AlertPolicy
from bot.records import CulpritRun, Revert
from bot.tracker.model import (
    RERUN,
    Breakage,
    CloseReason,
    CommitInfo,
    CulpritStatus,
    Decision,
    FailingJob,
)

CommitLookup = Callable[[str], CommitInfo | None]

JOBS_SHOWN = 5  # more failing jobs than this fold into <details>
SUSPECTS_SHOWN = 10
SUBJECT_LIMIT = 72


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


def pull_requests(ctx: BodyContext) -> dict[str, int]:
    """The suspects' pull requests, by commit."""
    return {row.sha: row.pr for row in ctx.suspects if row.pr}


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
        tag = f"`{md.escape(run.tag, 120)}`"
        what = f"bisect tag {tag}" if run.kind != RERUN else "rerun"
        if run.kind == RERUN and run.tag:
            what = f"rerun, through tag {tag}"
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
    elif decision.provisional:  # (nothing running: commits of the range are not known yet)
        lines += [
            "Commits before the first failure are not known yet (a push not delivered):"
            " no pull request is labelled until they are.",
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


def close_comment(decision: Decision, ctx: BodyContext) -> str:
    if decision.reason is CloseReason.RECOVERED:
        by = decision.recovered_by or decision.at
        if not by:
            return "✅ Recovered: every failing job of this group passes again."
        info = ctx.commits(by)
        subject = (
            f" ({md.escape(info.message.split(chr(10), 1)[0], SUBJECT_LIMIT)})" if info else ""
        )
        text = f"✅ Recovered at {commit_link(by, ctx)}{subject}: every failing job passes again."
        if any(b.status is CulpritStatus.CONFIRMING for b in decision.breakages):
            text += (
                "\n\nIts culprit is not confirmed yet: the top of this issue follows what"
                " confirmation runs that report after this find."
            )
        return text
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


def _jobs_since(jobs: int, sha: str, ctx: BodyContext) -> str:
    return f"{jobs} job{'s' if jobs != 1 else ''} since {commit_link(sha, ctx)}"


def _confirmed(breakage: dict[str, Any], ctx: BodyContext) -> str:
    """A recovered breakage's culprit, as its record kept it."""
    pr = breakage.get("pr")
    link = f" ({md.link(f'#{pr}', f'{ctx.repo_url}/pull/{pr}')})" if isinstance(pr, int) else ""
    return f"{commit_link(str(breakage['culprit']), ctx)}{link}, confirmed"


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
            f"breakage {shown[str(b['id'])]} ({_jobs_since(len(b['jobs']), str(b['id']), ctx)}"
            + (f"; culprit {_confirmed(b, ctx)}" if b.get("culprit") else "")
            + ")"
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
