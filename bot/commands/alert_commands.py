"""The commands typed on an alert issue: ack, unack, snooze, resolve, suspect, unsuspect,
recheck, rerun and revert. Each returns the text of its reply ("" when the alert issue itself says
it), or raises CommandError.

`ack` calls the owners' escalation (bot.actions.escalation) and also records who acknowledged
in the store (namespace `command_ack`, key: the alert id) for `status`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import gidgethub

from bot.actions import escalation, suspect_labels
from bot.actions import markdown as md
from bot.actions import revert as reverts
from bot.actions.issue_calls import repo_vars
from bot.commands import quiet
from bot.commands.context import AlertTarget, CommandContext
from bot.commands.parser import MAX_AHEAD, Command, CommandError
from bot.events import job_result_from_api, parse_workflow_run
from bot.github import ci
from bot.github.jobs import list_run_jobs
from bot.github.rest import PullRequest
from bot.records import Ack
from bot.tracker.model import (
    AlertState,
    CulpritStatus,
    DecisionKind,
    FailingJob,
    JobResult,
    Outcome,
    outcome_of,
)

ACKS = "command_ack"  # before typed records (carried over at start)
RERUNS = "command_rerun"  # "repo:comment:run" → True, so a retried delivery reruns nothing twice
RUN_PATH = "/repos/{owner}/{repo}/actions/runs/{run_id}"
RERUN_PATH = "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs"
_RUN_ID = re.compile(r"/actions/runs/(\d+)")


def _where(target: AlertTarget) -> str:
    issue = target.issue
    return f"**{md.escape(issue.group, 80)}** on {md.escape(issue.branch, 100)}"


def _who(ctx: CommandContext) -> str:
    return md.escape(ctx.author, 60)


def _require_open(ctx: CommandContext, target: AlertTarget, command: Command) -> AlertState:
    if target.state is None or not target.state.open:
        raise CommandError(
            f"This alert is closed; `{command.name}` applies to an open alert.",
            command.spec.usage(ctx.prefix),
            command.spec,
        )
    return target.state


async def ack(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    state = _require_open(ctx, target, command)
    stopped = await escalation.ack(ctx.records, ctx.repo, ctx.issue_number, ctx.author)
    await ctx.records.put(Ack(state.alert, ctx.author, ctx.now))
    fires = " The escalation will not fire." if stopped else ""
    return f"Acknowledged by {_who(ctx)}: someone is on {_where(target)}.{fires}"


async def unack(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    state = _require_open(ctx, target, command)
    had = await ctx.records.get(Ack, state.alert)
    resumed = await escalation.unack(ctx.records, ctx.repo, ctx.issue_number, ctx.now)
    await ctx.records.remove(Ack, state.alert)
    if not had and not resumed:
        return "Nobody had acknowledged this alert; nothing changed."
    fires = " The escalation timer runs again." if resumed else ""
    return f"Acknowledgement withdrawn by {_who(ctx)}.{fires}"


async def acked_by(ctx: CommandContext, alert: str) -> str | None:
    found = await ctx.records.get(Ack, alert)
    return found.by if found is not None and found.by else None


async def snooze(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    issue = target.issue
    length = command.duration if command.duration is not None else MAX_AHEAD
    until = ctx.now + length.total_seconds()
    value = quiet.Snooze(until, ctx.author, command.until_green, issue.alert)
    await quiet.snooze(ctx.records, ctx.repo, issue.branch, issue.group, value)
    if command.until_green:
        ending = f"until the group is green again (at most until {quiet.when(until)})"
    else:
        ending = f"until {quiet.when(until)}"
    return f"Snoozed by {_who(ctx)}: no new alert issue for {_where(target)} {ending}."


async def resolve(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    _require_open(ctx, target, command)  # so the tracker closes it as resolved by a person
    issue = target.issue
    await ctx.engine.resolve(
        ctx.gh, ctx.repo, ctx.default_branch, issue.branch, issue.group, ctx.unit
    )
    return ""  # the sink's closing comment says it: "Resolved by a maintainer …"


async def suspect(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    _require_open(ctx, target, command)
    number = command.pr
    assert number is not None  # the parser requires it
    policy = ctx.policy(target.issue.group)
    found = await suspect_labels.suspect(ctx.gh, ctx.records, target.issue, number, policy, set())
    if found is None:
        raise CommandError(
            f"#{number} is not a pull request of this repository.",
            command.spec.usage(ctx.prefix),
            command.spec,
        )
    label = md.escape(policy.suspect_label, 60)
    return f"#{number} is now a suspect of this alert (named by {_who(ctx)}), labelled {label}."


async def unsuspect(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    number = command.pr
    assert number is not None  # the parser requires it
    policy = ctx.policy(target.issue.group)
    was = await suspect_labels.unsuspect(
        ctx.gh, ctx.records, ctx.repo, target.issue.alert, number, policy
    )
    if not was:
        return f"#{number} was not a suspect of this alert; it will not be labelled for it."
    return f"Cleared #{number} (by {_who(ctx)}): no longer a suspect, label removed."


def failing_runs(jobs: Sequence[FailingJob]) -> dict[int, str]:
    """The runs of the newest failure of each failing job: run id → link to the run."""
    runs: dict[int, str] = {}
    for job in jobs:
        match = _RUN_ID.search(job.latest_failed_url)
        if match:
            run_id = int(match.group(1))
            runs.setdefault(run_id, job.latest_failed_url[: match.end()])
    return runs


async def _reread(ctx: CommandContext, run_id: int) -> list[JobResult]:
    """A run's latest attempt as results: the run itself and its completed jobs."""
    run = await ctx.gh.getitem(RUN_PATH, repo_vars(ctx.repo, run_id=run_id))
    payload = {"workflow_run": run, "repository": {"full_name": ctx.repo}}
    parsed = parse_workflow_run(payload)
    results = [parsed.as_result(ctx.unit.delivery_id)] if run.get("status") == "completed" else []
    jobs = await list_run_jobs(ctx.gh, ctx.repo, run_id, parsed.run_attempt)
    results.extend(
        job_result_from_api(job, ctx.repo, parsed.branch, parsed.workflow, ctx.unit.delivery_id)
        for job in jobs
        if job.get("status") == "completed"
    )
    return results


async def recheck(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    state = _require_open(ctx, target, command)
    runs = failing_runs(state.jobs)
    if not runs:
        raise CommandError(
            "This alert names no workflow runs to read again.",
            command.spec.usage(ctx.prefix),
            command.spec,
        )
    results: list[JobResult] = []
    for run_id in sorted(runs):
        try:
            results.extend(await _reread(ctx, run_id))
        except gidgethub.BadRequest as exc:
            if exc.status_code not in (404, 410):  # a deleted run has nothing to say
                raise
    before = len(ctx.unit.decisions)
    await ctx.engine.results(ctx.gh, ctx.repo, ctx.default_branch, results, ctx.unit)
    new = ctx.unit.decisions[before:]
    jobs = [r for r in results if r.job]
    failing = sum(1 for r in jobs if outcome_of(r.conclusion) is Outcome.FAIL)
    read = f"Read {len(runs)} run(s) again: {len(jobs)} job(s), {failing} failing."
    if any(d.kind is DecisionKind.CLOSE and d.alert == state.alert for d in new):
        return f"{read} The group is green again: this alert closes."
    return f"{read} The alert stands, up to date with them."


async def rerun(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    state = _require_open(ctx, target, command)
    runs = failing_runs(state.jobs)
    if not runs:
        raise CommandError(
            "This alert names no workflow runs to rerun.",
            command.spec.usage(ctx.prefix),
            command.spec,
        )
    asked: list[str] = []
    refused: list[str] = []
    for run_id, url in sorted(runs.items()):
        shown = md.link(f"run {run_id}", url)
        done_key = f"{ctx.repo}:{ctx.comment_id}:{run_id}"
        if await ctx.store.get_state(RERUNS, done_key):
            asked.append(shown)
            continue
        try:
            await ctx.gh.post(RERUN_PATH, repo_vars(ctx.repo, run_id=run_id), data={})
        except gidgethub.BadRequest as exc:  # too old, still running, deleted: per run
            refused.append(f"{shown} ({exc.status_code}: {md.escape(str(exc), 100)})")
            continue
        await ctx.store.put_state(RERUNS, done_key, True)
        asked.append(shown)
    parts = []
    if asked:
        parts.append("Asked GitHub to rerun the failed jobs of " + ", ".join(asked) + ".")
    if refused:
        parts.append("GitHub refused to rerun " + ", ".join(refused) + ".")
    return " ".join(parts)


async def revert(ctx: CommandContext, target: AlertTarget, command: Command) -> str:
    state = _require_open(ctx, target, command)
    policy = ctx.policy(target.issue.group)
    said: list[str] = []
    refused: list[str] = []
    for pull, sha in await _to_revert(ctx, state, command):
        try:
            opened = await reverts.open_revert(
                ctx.gh, ctx.records, target.issue, pull, sha, ctx.author, ctx.now, policy, set()
            )
        except reverts.RevertRefused as exc:
            refused.append(str(exc))
            continue
        record = opened.record
        link = md.link(f"#{record.number}", record.url)
        if opened.new:
            said.append(
                f"Opened {link} to revert #{record.pr} ({reverts.short(record.sha)}), labelled"
                f" `{reverts.REVERT_LABEL}`; #{record.pr} was told. Review it like any other"
                " pull request: trunkwatch never merges."
            )
        else:
            said.append(f"#{record.pr} is reverted already: {link}.")
    if not said:
        raise CommandError(" ".join(refused), command.spec.usage(ctx.prefix), command.spec)
    return " ".join(said + refused)


async def _to_revert(
    ctx: CommandContext, state: AlertState, command: Command
) -> list[tuple[PullRequest, str]]:
    """The pull requests to revert, each with the commit it brought in: #N as asked, else
    the pull requests of the alert's confirmed culprits."""
    usage = command.spec.usage(ctx.prefix)
    if command.pr is not None:
        pull = await ci.pull_request(ctx.gh, ctx.repo, command.pr)
        if pull is None:
            raise CommandError(
                f"#{command.pr} is not a pull request of this repository.", usage, command.spec
            )
        if not pull.get("merged_at"):
            raise CommandError(
                f"#{command.pr} is not merged: only a merged pull request can be reverted.",
                usage,
                command.spec,
            )
        return [(pull, str(pull.get("merge_commit_sha") or ""))]
    culprits = [
        b.culprit
        for b in state.breakages
        if b.status is CulpritStatus.CONFIRMED and b.culprit is not None
    ]
    if not culprits:
        raise CommandError(_no_culprit(ctx, state), usage, command.spec)
    wanted: dict[int, tuple[PullRequest, str]] = {}
    for sha in dict.fromkeys(culprits):
        pull = await reverts.culprit_pull(ctx.gh, ctx.store, ctx.repo, sha)
        if pull is None:
            raise CommandError(
                f"The culprit {reverts.short(sha)} came in by no pull request trunkwatch can"
                f" find: name the one to revert, `{ctx.prefix} revert #N`.",
                usage,
                command.spec,
            )
        wanted.setdefault(int(pull["number"]), (pull, sha))
    return list(wanted.values())


def _no_culprit(ctx: CommandContext, state: AlertState) -> str:
    ranges = [b.suspects for b in state.breakages if b.suspects_known and b.suspects]
    if not ranges and state.suspects_known and state.suspects:
        ranges = [state.suspects]
    if not ranges:
        where = "no passing commit is known before the failures, so there is no range yet"
    else:
        shas = min(ranges, key=len)
        if len(shas) == 1:
            where = (
                f"the one suspect, {reverts.short(shas[0])}, is not confirmed (it must fail on"
                " a rerun there and pass on its parent)"
            )
        else:
            first, last = reverts.short(shas[0]), reverts.short(shas[-1])
            where = f"the shortest known range is {len(shas)} commits, {first} to {last}"
    return (
        f"No culprit of this alert is confirmed yet: {where}. To revert a pull request"
        f" anyway, name it: `{ctx.prefix} revert #N`."
    )
