"""The backtest's report: Markdown for a person, JSON for tools, an HTML timeline."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from bot.actions.suspects import pr_number_from_message
from bot.backtest.backtest import Report
from bot.github.rest import Commit, GitActor

WEB = "https://github.com"


@dataclass
class Suspect:
    sha: str
    pr: int | None
    author: str
    subject: str


@dataclass
class Alert:
    alert: str
    group: str
    jobs: list[str]
    streak: int
    fired_at: str  # the commit whose result opened it
    fired_when: str
    first_failing: str | None
    last_green: str | None
    suspects: list[Suspect] = field(default_factory=list)
    ended: str = "still open"  # recovered | flaky | resolved_by_user | still open
    ended_at: str | None = None
    ended_when: str | None = None


def alerts_of(report: Report) -> list[Alert]:
    """One entry per alert the App would have filed, with how it ended."""
    commits = {c["sha"]: c for c in report.commits}

    def git_author(commit: Commit | None) -> GitActor:
        detail = commit.get("commit") if commit else None
        return (detail.get("author") if detail else None) or {}

    def when(sha: str | None) -> str:
        return str(git_author(commits.get(sha or "")).get("date") or "")

    def suspect(sha: str) -> Suspect:
        commit = commits.get(sha)
        detail = commit.get("commit") if commit else None
        message = str((detail.get("message") if detail else None) or "")
        user = commit.get("author") if commit else None
        author = (user or {}).get("login") or git_author(commit).get("name")
        return Suspect(
            sha=sha,
            pr=pr_number_from_message(message, report.repo),
            author=str(author or ""),
            subject=message.partition("\n")[0],
        )

    alerts: dict[str, Alert] = {}
    for record in report.records:
        action, alert_id = record["action"], record["alert"]
        if action == "open_alert":
            suspects = list(record.get("suspects") or [])
            alerts[alert_id] = Alert(
                alert=alert_id,
                group=record["group"],
                jobs=list(record["jobs"]),
                streak=int(record["streak"]),
                fired_at=record["at"],
                fired_when=when(record["at"]),
                first_failing=suspects[-1] if suspects and record.get("suspects_known") else None,
                last_green=record.get("last_green"),
                suspects=[suspect(sha) for sha in suspects],
            )
        elif alert_id in alerts:
            alert = alerts[alert_id]
            if action == "update_alert":
                alert.jobs = list(dict.fromkeys([*alert.jobs, *record["jobs"]]))
                alert.streak = max(alert.streak, int(record["streak"]))
                alert.suspects = [suspect(sha) for sha in record.get("suspects") or []]
            elif action == "close_alert":
                alert.ended = str(record.get("reason") or "closed")
                alert.ended_at = record["at"]
                alert.ended_when = when(record["at"])
    return list(alerts.values())


def counts_per_group(alerts: list[Alert]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for alert in alerts:
        counts.setdefault(alert.group, Counter())["alerts"] += 1
        counts[alert.group][alert.ended] += 1
    return {group: dict(c) for group, c in sorted(counts.items())}


def progress_note(report: Report) -> str:
    """How far the backtest got, in one sentence."""
    window = len(report.commits)
    if report.complete:
        return f"All {window} commits since {report.since} decided."
    newest = report.commits[report.covered - 1] if report.covered else None
    upto = f", up to {newest['sha'][:10]}" if newest else ""
    return (
        f"The budget of {report.budget} calls ran out: {report.covered} of {window} commits"
        f" decided{upto}; jobs read for {report.runs_with_jobs} of {report.runs_needing_jobs}"
        " runs that need them. Run again to go on (what was read is kept)."
    )


def as_json(report: Report) -> str:
    alerts = alerts_of(report)
    return json.dumps(
        {
            "repo": report.repo,
            "branch": report.branch,
            "since": report.since,
            "config": report.config_source,
            "commits": len(report.commits),
            "commits_decided": report.covered,
            "complete": report.complete,
            "runs": report.runs,
            "runs_with_jobs_read": report.runs_with_jobs,
            "api_calls": report.calls,
            "api_calls_not_modified": report.free_calls,
            "budget": report.budget,
            "alerts": [asdict(alert) for alert in alerts],
            "per_group": counts_per_group(alerts),
            "failed_deliveries": report.dead,
        },
        indent=2,
    )


def _pr_link(report: Report, pr: int | None) -> str:
    return f"[#{pr}]({WEB}/{report.repo}/pull/{pr})" if pr else "no PR"


def _commit_link(report: Report, sha: str | None) -> str:
    return f"[`{sha[:10]}`]({WEB}/{report.repo}/commit/{sha})" if sha else "unknown"


def _cell(text: str) -> str:
    """Commit subjects and job names cannot break the table or ping anyone."""
    return text.replace("|", "\\|").replace("@", "@\u200b").replace("\n", " ")


def as_markdown(report: Report) -> str:
    alerts = alerts_of(report)
    lines = [
        f"# Backtest of {report.repo} `{report.branch}` since {report.since}",
        "",
        progress_note(report),
        f"Configuration: {report.config_source}.",
        f"{len(alerts)} alert(s) would have been filed; {report.calls} API call(s) spent"
        f" ({report.free_calls} more answered 304 Not Modified, free), budget {report.budget}.",
        "",
    ]
    groups = counts_per_group(alerts)
    if groups:
        lines += ["| group | alerts | recovered | flaky | still open |", "|---|---|---|---|---|"]
        for group, c in groups.items():
            lines.append(
                f"| {_cell(group)} | {c.get('alerts', 0)} | {c.get('recovered', 0)}"
                f" | {c.get('flaky', 0)} | {c.get('still open', 0)} |"
            )
        lines.append("")
    for n, alert in enumerate(alerts, 1):
        ended = alert.ended
        if alert.ended_at:
            ended += f" at {_commit_link(report, alert.ended_at)} ({alert.ended_when})"
        lines += [
            f"## {n}. {_cell(alert.group)}: {alert.streak} commits in a row",
            "",
            f"- fired at {_commit_link(report, alert.fired_at)} ({alert.fired_when})",
            f"- first failing commit: {_commit_link(report, alert.first_failing)}",
            f"- ended: {ended}",
            "- jobs: " + "; ".join(f"`{_cell(job)}`" for job in alert.jobs),
            "- suspects:",
        ]
        lines += [
            f"  - {_commit_link(report, s.sha)} {_pr_link(report, s.pr)}"
            f" by {_cell(s.author)}: {_cell(s.subject)}"
            for s in alert.suspects
        ] or ["  - none known (no passing commit in the window)"]
        lines.append("")
    if report.dead:
        lines += ["Deliveries that could not be decided:", *[f"- {d}" for d in report.dead]]
    return "\n".join(lines).rstrip() + "\n"


def as_html(report: Report) -> str:
    """One page: the window as a line of commits, each alert a bar from its first failing
    commit to where it ended, and the Markdown's details beneath."""
    alerts = alerts_of(report)
    index = {c["sha"]: i for i, c in enumerate(report.commits)}
    width = max(len(report.commits) - 1, 1)
    e = html.escape
    bars = []
    for alert in alerts:
        start = index.get(alert.first_failing or alert.fired_at, index.get(alert.fired_at, 0))
        end = index.get(alert.ended_at or "", len(report.commits) - 1)
        left, span = 100 * start / width, max(100 * (end - start) / width, 0.5)
        suspects = ", ".join(
            f'<a href="{WEB}/{e(report.repo)}/pull/{s.pr}">#{s.pr}</a>'
            if s.pr
            else f"<code>{e(s.sha[:10])}</code>"
            for s in alert.suspects
        )
        bars.append(
            f'<div class="row"><span class="label">{e(alert.group)}</span>'
            f'<div class="lane"><div class="bar {e(alert.ended.replace(" ", "-"))}"'
            f' style="left:{left:.2f}%;width:{span:.2f}%"'
            f' title="{e(", ".join(alert.jobs))}"></div></div>'
            f'<span class="detail">{alert.streak} in a row, {e(alert.ended)};'
            f" suspects: {suspects or 'none known'}</span></div>"
        )
    first = report.commits[0]["sha"][:10] if report.commits else ""
    last = report.commits[-1]["sha"][:10] if report.commits else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Backtest of {e(report.repo)} {e(report.branch)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; }}
.row {{ display: flex; align-items: center; gap: 1em; margin: .3em 0; }}
.label {{ width: 8em; font-weight: 600; }}
.lane {{ position: relative; flex: 1; height: 1em; background: #eef; }}
.bar {{ position: absolute; top: 0; height: 100%; background: #d33; }}
.bar.recovered {{ background: #e80; }} .bar.flaky {{ background: #999; }}
.detail {{ width: 40%; }}
.axis {{ display: flex; justify-content: space-between; margin-left: 9em; color: #666; }}
</style></head><body>
<h1>Backtest of {e(report.repo)} <code>{e(report.branch)}</code> since {e(report.since)}</h1>
<p>{e(progress_note(report))} {len(alerts)} alert(s); {report.calls} API call(s).</p>
<div class="axis"><span>{e(first)}</span><span>{len(report.commits)} commits</span>
<span>{e(last)}</span></div>
{"".join(bars) or "<p>No alert would have been filed.</p>"}
</body></html>
"""
