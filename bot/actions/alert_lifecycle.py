"""`GitHubSink`: the tracker's decisions, acted on in the repository on GitHub.

OPEN files the alert issue (or finds the one already filed), assigns the owners, starts the
escalation timer and labels the suspect PRs. UPDATE edits the body in place and comments
only when jobs join or leave or the suspects change, or a breakage joins or recovers (its
labels then go, the other breakages' stay). CLOSE comments and closes.

Every step may be repeated: the worker retries a delivery whose processing failed, and the
engine re-derives decisions whose effects were not committed. The store says what was done;
when it does not know (a crash between "issue created" and "store updated", a lost database),
the issue is found again by its marker and comments are checked for theirs before posting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from gidgethub.abc import GitHubAPI

from bot.actions import (
    alert_changes,
    alert_issue,
    alert_text,
    culprit,
    escalation,
    issue_calls,
    revert,
    settled,
    suspect_labels,
    suspects,
)
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.alert_text import BodyContext, CommitLookup
from bot.actions.book import RecordBook
from bot.actions.policy import DEFAULT_APP_SLUG, AlertPolicy, PolicyFor
from bot.records import CulpritRun, Revert
from bot.tracker.model import CloseReason, CommitInfo, Decision, DecisionKind

log = logging.getLogger(__name__)

CommitsFor = Callable[[str], CommitLookup]  # repository → (sha → CommitInfo | None)
ClosedByHuman = Callable[[Decision, int], Awaitable[None]]
# (repo, branch, group, now) → why no new issue may be filed now ("muted until …"), or None
Quiet = Callable[[str, str, str, float], Awaitable[str | None]]
# (repo, branch, group, job keys, sha) → whether each of the jobs passed on a commit after sha
PassedSince = Callable[[str, str, str, Sequence[str], str], bool]
# a delivery's pending writes (the store's `Changes`; None outside a delivery) → the records as
# that delivery sees them, its writes committed with it (each write at once without one)
RecordsFor = Callable[[Any], RecordBook]


class DeliveryWork(Protocol):
    """What the sink needs of the engine's `Unit`: the delivery's pending writes."""

    @property
    def changes(self) -> object: ...


def _no_commits(repo: str) -> CommitLookup:
    def lookup(sha: str) -> CommitInfo | None:
        return None

    return lookup


class GitHubSink:
    """Implements the engine's `DecisionSink` against the GitHub API.

    `records_for(changes)` gives the records as a delivery sees them; `policy_for(config,
    group)` a group's policy in the repository's configuration. `commits_for(repo)` looks up
    what the tracker knows of a commit (message, author, time, link).
    `on_closed_by_human(decision, issue_number)` is awaited when an alert's issue is found
    closed (or gone) although the alert is still active: the caller tells the tracker, which
    then neither reopens nor refiles it for the same streak.
    """

    def __init__(
        self,
        records_for: RecordsFor,
        commits_for: CommitsFor | None = None,
        *,
        policy_for: PolicyFor,
        app_slug: str = DEFAULT_APP_SLUG,
        on_closed_by_human: ClosedByHuman | None = None,
        quiet: Quiet | None = None,
        clock: Callable[[], float] = time.time,
        prober_for: Callable[[GitHubAPI], culprit.Prober] | None = None,
        passed_since: PassedSince | None = None,
    ) -> None:
        self.records_for = records_for
        self.policy_for = policy_for
        self.commits_for = commits_for or _no_commits
        self.app_slug = app_slug
        self.on_closed_by_human = on_closed_by_human
        self.quiet = quiet
        self.clock = clock
        self.prober_for = prober_for  # gh → where culprit runs are asked for; None: never
        self.passed_since = passed_since  # tells a breakage that recovered (see `_recovered`)
        self._labels_known: set[tuple[str, str]] = set()
        self._repo_urls: dict[str, str] = {}

    async def act(
        self,
        decisions: Sequence[Decision],
        gh: GitHubAPI | None,
        config: object,  # the repository's configuration (`bot.config.RepoConfig`)
        unit: DeliveryWork | None,
    ) -> None:
        if gh is None:
            log.warning("no GitHub client for decisions", extra={"decisions": len(decisions)})
            return
        # What this does is recorded with the delivery (its `unit`), in one transaction;
        # without one, straight in the store.
        records = self.records_for(unit.changes if unit is not None else None)
        for decision in decisions:
            policy = self.policy_for(config, decision.group, app_slug=self.app_slug)
            if decision.kind is DecisionKind.OPEN:
                await self.open(decision, gh, policy, records)
            elif decision.kind is DecisionKind.UPDATE:
                await self.update(decision, gh, policy, records)
            else:
                await self.close(decision, gh, policy, records)
            # (a recovered alert may still want its confirmation rerun: chance failures or not)
            if self.prober_for is not None and decision.reason in (None, CloseReason.RECOVERED):
                await self._probe(decision, gh, policy, records)
            if policy.revert == revert.AUTO:  # a revert PR for each confirmed culprit
                await revert.auto(decision, gh, policy, records, self.clock(), self._labels_known)

    async def _probe(
        self, decision: Decision, gh: GitHubAPI, policy: AlertPolicy, records: RecordBook
    ) -> None:
        """Ask for the runs that find the culprit, once its alert has an issue (a muted
        group's alert, never filed, spends none)."""
        if self.prober_for is None or not any(b.wanted for b in decision.breakages):
            return
        record = await alert_issue.load(records, decision.alert)
        if record is None and decision.kind is DecisionKind.CLOSE:
            return  # (over before it was ever filed: nobody is told what the runs would say)
        if record is None:  # not filed: muted, or waiting for these runs (confirm_before_filing)
            if await self._quiet(decision) or not await self._unconfirmed(
                decision, policy, records
            ):
                return
        elif record.state != issue_calls.OPEN and decision.kind is not DecisionKind.CLOSE:
            return  # (closed by hand, or withdrawn: nothing more to find)
        prober = self.prober_for(gh)
        await culprit.request_probes([decision], prober, records, policy.probes, self.clock())

    # --- the three decisions -------------------------------------------------------------

    async def open(
        self, decision: Decision, gh: GitHubAPI, policy: AlertPolicy, records: RecordBook
    ) -> None:
        record = await self._find(decision, gh, policy, records)
        if record is not None:
            if record.state == issue_calls.OPEN:  # filed before a crash: finish what was left
                await self._refresh(decision, gh, policy, record, True, records)
            return
        reason = await self._quiet(decision)
        if reason:  # a later UPDATE files it, once the mute or snooze is over
            log.info("alert not filed", extra={"alert": decision.alert, "reason": reason})
            return
        if await self._unconfirmed(decision, policy, records):  # a later UPDATE files it
            log.info("alert not filed", extra={"alert": decision.alert, "reason": "confirming"})
            return
        key = md.AlertKey(decision.repo, decision.branch, decision.group)
        found = await suspects.resolve(gh, records, decision, policy, self._commits(decision))
        previous = await self._previous(gh, key, policy, records)
        now = self.clock()
        ctx = await self._context(
            decision, gh, policy, records, found, list(policy.owners), now, previous
        )
        title, body = alert_text.title(decision, policy), alert_text.body(decision, ctx)
        for label in policy.issue_labels:
            await issue_calls.ensure_label(gh, decision.repo, label, self._labels_known)
        created = await issue_calls.create(gh, decision.repo, title, body, policy.issue_labels)
        record = AlertIssue(
            alert=decision.alert,
            repo=decision.repo,
            branch=decision.branch,
            group=decision.group,
            number=int(created["number"]),
            url=str(created.get("html_url") or ""),
            owners=list(policy.owners),
            opened_at=now,
            jobs=[str(job.key) for job in decision.jobs],
            suspects=list(decision.suspects),
            body_hash=alert_text.body_hash(title, body),
            previous=previous,
            breakages=alert_issue.breakage_summary(
                decision.breakages, alert_text.pull_requests(ctx)
            ),
        )
        await alert_issue.save(records, record)
        log.info("alert issue filed", extra={"repo": record.repo, "issue": record.number})
        await self._first_steps(gh, policy, record, records)
        if not decision.provisional:  # else labelled once the suspects' runs finish
            await suspect_labels.apply(gh, records, record, found, policy, self._labels_known)

    async def update(
        self, decision: Decision, gh: GitHubAPI, policy: AlertPolicy, records: RecordBook
    ) -> None:
        record = await self._find(decision, gh, policy, records)
        if record is None:  # never filed (its OPEN failed before the issue existed)
            await self.open(decision, gh, policy, records)
        elif record.state == issue_calls.OPEN:
            await self._refresh(decision, gh, policy, record, False, records)

    async def close(
        self, decision: Decision, gh: GitHubAPI, policy: AlertPolicy, records: RecordBook
    ) -> None:
        record = await self._find(decision, gh, policy, records)
        if record is not None and record.state == issue_calls.CLOSED and decision.changed:
            # (its culprit settled after it recovered: the closed issue says so)
            _, ctx = await self._issue_context(decision, gh, policy, records, record)
            await settled.announce(gh, decision, policy, record, records, ctx)
            return
        if record is not None:
            # A second close: the alert had recovered, then reruns of its failures passed.
            again = record.state == issue_calls.CLOSED and decision.reason is CloseReason.FLAKY
            ctx = await self._context(
                decision, gh, policy, records, suspects.Suspects(), [], 0.0, None
            )
            text = alert_text.close_comment(decision, ctx)
            await issue_calls.comment_once(
                gh,
                record.repo,
                record.number,
                text,
                "withdrawn" if again else "close",
                policy,
                alert=decision.alert,
            )
            # (GitHub keeps a closed issue's `state_reason` unless its state changes: the
            # comment says it was withdrawn, without a reopen and close that would notify.)
            current = await issue_calls.get(gh, record.repo, record.number)
            if current is not None and current.get("state") == issue_calls.OPEN:
                reason = (
                    issue_calls.CLOSE_STATE_REASON[decision.reason] if decision.reason else None
                )
                fields = {"state": issue_calls.CLOSED, "state_reason": reason or "completed"}
                await issue_calls.edit(gh, record.repo, record.number, **fields)
                record.closed_by = alert_issue.BY_BOT
            record.state = issue_calls.CLOSED
            record.closed_by = record.closed_by or alert_issue.BY_HUMAN
        await suspect_labels.release_all(gh, records, decision.repo, decision.alert, policy)
        await escalation.cancel(records, decision.alert)
        if record is not None:
            await alert_issue.save(records, record)

    async def _quiet(self, decision: Decision) -> str | None:
        """Why the group files no issue now (a mute or a snooze); None or "" when it does."""
        if self.quiet is None:
            return None
        return await self.quiet(decision.repo, decision.branch, decision.group, self.clock())

    async def _unconfirmed(
        self, decision: Decision, policy: AlertPolicy, records: RecordBook
    ) -> bool:
        """`culprit.confirm_before_filing`: the alert waits for its confirmation rerun (if it
        passes, the alert is withdrawn before it was ever filed)."""
        if not policy.confirm_before_filing or self.prober_for is None:
            return False
        return await culprit.confirmation_outstanding(
            decision, records, policy.probes, self.clock()
        )

    # --- steps -------------------------------------------------------------------------

    async def _refresh(
        self,
        decision: Decision,
        gh: GitHubAPI,
        policy: AlertPolicy,
        record: AlertIssue,
        first: bool,
        records: RecordBook,
    ) -> None:
        """Bring an open alert issue up to date with the decision."""
        found, ctx = await self._issue_context(decision, gh, policy, records, record)
        title, body = alert_text.title(decision, policy), alert_text.body(decision, ctx)
        digest = alert_text.body_hash(title, body)
        known_before = bool(record.body_hash)  # else what the issue showed is not known
        if digest != record.body_hash:
            edited = await issue_calls.edit(gh, record.repo, record.number, title=title, body=body)
            if edited is None or edited.get("state") != issue_calls.OPEN:
                await self._closed_by_human(decision, gh, policy, record, records)
                return
            record.body_hash = digest
        breakages = await alert_changes.announce(
            gh,
            decision,
            policy,
            record,
            ctx,
            first=first,
            known_before=known_before,
            recovered=lambda b: self._recovered(decision, b),
        )
        await alert_issue.save(records, record)
        if first:
            await self._first_steps(gh, policy, record, records)
        # A recovered breakage's labels go now, even while the others' suspects are provisional.
        if breakages is not None and breakages.recovered:
            gone = [str(b["id"]) for b in breakages.recovered]
            await suspect_labels.release(gh, records, record.repo, record.alert, gone, policy)
        if not decision.provisional:  # else labelled once the suspects' runs finish
            # An interrupted breakage keeps its labels: it is expected back as it was.
            keep = [str(b["id"]) for b in breakages.interrupted] if breakages else []
            await suspect_labels.apply(gh, records, record, found, policy, self._labels_known, keep)

    def _recovered(self, decision: Decision, breakage: dict[str, Any]) -> bool:
        """Whether a breakage whose jobs left the alert recovered: they passed since its first
        failure (else a rerun interrupted them). Without a way to ask, the decision says so."""
        if self.passed_since is None:
            return True
        keys = [str(key) for key in breakage.get("jobs") or ()]
        where = (decision.repo, decision.branch, decision.group)
        return self.passed_since(*where, keys, str(breakage.get("id")))

    async def _first_steps(
        self, gh: GitHubAPI, policy: AlertPolicy, record: AlertIssue, records: RecordBook
    ) -> None:
        await escalation.assign(gh, record.repo, record.number, record.owners)
        installation = getattr(gh, "installation_id", None)
        await escalation.schedule(records, record, policy, record.opened_at, installation)

    async def _closed_by_human(
        self,
        decision: Decision,
        gh: GitHubAPI,
        policy: AlertPolicy,
        record: AlertIssue,
        records: RecordBook,
    ) -> None:
        log.info("alert issue closed by hand", extra={"repo": record.repo, "issue": record.number})
        await suspect_labels.release_all(gh, records, record.repo, record.alert, policy)
        await escalation.cancel(records, record.alert)
        if self.on_closed_by_human is not None:
            await self.on_closed_by_human(decision, record.number)
        record.state, record.closed_by = issue_calls.CLOSED, alert_issue.BY_HUMAN
        await alert_issue.save(records, record)

    # --- finding things again ------------------------------------------------------------

    async def _find(
        self, decision: Decision, gh: GitHubAPI, policy: AlertPolicy, records: RecordBook
    ) -> AlertIssue | None:
        """The alert's issue: from the store, else found open on GitHub by its marker."""
        record = await alert_issue.load(records, decision.alert)
        if record is not None:
            return record
        key = md.AlertKey(decision.repo, decision.branch, decision.group)
        found = await issue_calls.find_issue(gh, key, policy)
        if found is None:
            return None
        record = alert_issue.adopt(decision, found, policy)
        await alert_issue.save(records, record)
        log.info("alert issue found again", extra={"repo": record.repo, "issue": record.number})
        return record

    async def _previous(
        self, gh: GitHubAPI, key: md.AlertKey, policy: AlertPolicy, records: RecordBook
    ) -> dict[str, Any] | None:
        latest = await alert_issue.latest(records, key)
        if latest is not None:
            return {"number": latest.number, "url": latest.url}
        return await issue_calls.find_previous(gh, key, policy)

    def _commits(self, decision: Decision) -> CommitLookup:
        return self.commits_for(decision.repo)

    async def _context(
        self,
        decision: Decision,
        gh: GitHubAPI,
        policy: AlertPolicy,
        records: RecordBook,
        found: suspects.Suspects,
        owner_list: Sequence[str],
        opened_at: float,
        previous: dict[str, Any] | None,
    ) -> BodyContext:
        return BodyContext(
            policy=policy,
            repo_url=await self._repo_url(gh, decision),
            commits=self._commits(decision),
            owners=owner_list,
            opened_at=opened_at,
            suspects=found.rows,
            too_wide=found.too_wide,
            labelled=[pr.number for pr in found.prs],
            previous=previous,
            runs=await records.find(CulpritRun, alert=decision.alert),
            reverts=await records.find(Revert, alert=decision.alert),
        )

    async def _issue_context(
        self,
        decision: Decision,
        gh: GitHubAPI,
        policy: AlertPolicy,
        records: RecordBook,
        record: AlertIssue,
    ) -> tuple[suspects.Suspects, BodyContext]:
        """The suspect PRs and what the text of an issue already filed is made from."""
        found = await suspects.resolve(gh, records, decision, policy, self._commits(decision))
        ctx = await self._context(
            decision, gh, policy, records, found, record.owners, record.opened_at, record.previous
        )
        return found, ctx

    async def _repo_url(self, gh: GitHubAPI, decision: Decision) -> str:
        """The repository's web address (GitHub Enterprise has its own host)."""
        repo = decision.repo
        if repo not in self._repo_urls:
            lookup = self._commits(decision)
            shas = [*decision.suspects, *(job.first_failing_sha for job in decision.jobs)]
            infos = [info for info in map(lookup, shas) if info is not None]
            from_commit = next(
                (i.url.split("/commit/")[0] for i in infos if "/commit/" in i.url), ""
            )
            if from_commit:
                self._repo_urls[repo] = from_commit
            else:
                data = await gh.getitem("/repos/{owner}/{repo}", issue_calls.repo_vars(repo))
                self._repo_urls[repo] = str(data.get("html_url") or f"https://github.com/{repo}")
        return self._repo_urls[repo]
