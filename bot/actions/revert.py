"""Revert pull requests for a breakage's culprit: asked for by a person (`/trunkwatch revert`),
or opened by trunkwatch itself for a confirmed culprit (`culprit.revert: auto`). trunkwatch
opens them; it never merges anything.

GitHub opens the revert as its "Revert" button does (GraphQL `revertPullRequest`). Each pull
request is reverted once: a `Revert` record is claimed in its own transaction, under a short
lease of the store, before GitHub is asked, so a redelivery, a crash or another replica finds
it. A claim that a crash left behind is settled by looking for the revert pull request on
GitHub before asking again. The revert pull request gets the revert label, and the reverted
one a comment naming it and the alert.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import alert_issue, issue_calls, suspects
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.book import ActionStore, RecordBook
from bot.actions.issue_calls import repo_vars
from bot.actions.policy import AlertPolicy
from bot.github import ci
from bot.github.rest import Commit, Issue, IssueSearch, PullRequest, login_of
from bot.records import Revert
from bot.tracker.model import Breakage, CommitInfo, CulpritStatus, Decision, DecisionKind

log = logging.getLogger(__name__)

REVERT_LABEL = "trunkwatch: revert"
CLAIMED, OPENED, FAILED = "claimed", "opened", "failed"
AUTO, SUGGEST = "auto", "suggest"
BY_TRUNKWATCH = ""  # `Revert.by` when nobody asked
DAY = 24 * 3600.0
LEASE_SECONDS = 60.0  # long enough to read the record and claim it
STALE_CLAIM_SECONDS = 10 * 60.0  # a claim this old without a pull request: its opener died
COMMIT_PATH = "/repos/{owner}/{repo}/commits/{sha}"
SEARCH_PATH = "/search/issues{?q,per_page}"
ISSUE_LABELS_PATH = "/repos/{owner}/{repo}/issues/{number}/labels"


class RevertRefused(Exception):
    """No revert pull request can be opened now; the message says why, for a reply."""


@dataclass(frozen=True, slots=True)
class Opened:
    record: Revert
    new: bool  # opened by this call; False: it was opened before


def _no_commits(sha: str) -> CommitInfo | None:
    return None


def short(sha: str) -> str:
    return f"`{sha[:7]}`" if sha else "its merge commit"


def revert_title(pull: PullRequest) -> str:
    """The title GitHub's own "Revert" button gives."""
    return f'Revert "{pull.get("title") or ""}"'


def _merged_at(pull: PullRequest) -> float | None:
    text = pull.get("merged_at")
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _labels(pull: PullRequest) -> set[str]:
    return {
        str(label.get("name") if isinstance(label, dict) else label).lower()
        for label in pull.get("labels") or []
    }


async def culprit_pull(
    gh: GitHubAPI, store: ActionStore, repo: str, sha: str
) -> PullRequest | None:
    """The merged pull request that brought `sha` in, as the pulls API describes it."""
    found = await suspects.pr_for_commit(gh, store, repo, sha, _no_commits)
    return await ci.pull_request(gh, repo, found.number) if found is not None else None


async def find_revert_pr(gh: GitHubAPI, repo: str, pull: PullRequest) -> Issue | None:
    """An open or merged pull request that reverts `pull`, by GitHub's title for it (None
    too when search is refused: the `Revert` records are what counts)."""
    title = revert_title(pull)
    words = str(pull.get("title") or "").replace('"', " ").strip()
    query = f'repo:{repo} is:pr in:title "{words}"' if words else f"repo:{repo} is:pr Revert"
    try:
        found: IssueSearch = await gh.getitem(SEARCH_PATH, {"q": query, "per_page": 100})
    except gidgethub.BadRequest as exc:
        if exc.status_code not in (403, 422):  # search limited or refused
            raise
        log.warning("revert search failed", extra={"repo": repo, "status": exc.status_code})
        return None
    for item in found.get("items") or []:
        if item.get("title") != title or "pull_request" not in item:
            continue
        if item.get("state") == "open" or (item.get("pull_request") or {}).get("merged_at"):
            return item.copy()
    return None


def revert_body(pull: PullRequest, issue: AlertIssue, sha: str, by: str) -> str:
    asked = f"Asked for by {md.escape(by, 60)}" if by else "Opened by trunkwatch by itself"
    return (
        f"Reverts #{int(pull['number'])} ({short(sha)}): trunkwatch found it broke"
        f" **{md.escape(issue.group, 80)}** on {md.escape(issue.branch, 100)}"
        f" ({md.link('alert issue', issue.url)}). {asked}.\n\n"
        "Review it like any other pull request: trunkwatch never merges."
    )


def reverted_comment(pull: PullRequest, record: Revert, issue: AlertIssue) -> str:
    author = login_of(pull.get("user"))
    hello = md.mention(author) if author else "Hello"
    return (
        f"{hello}, this pull request ({short(record.sha)}) broke"
        f" **{md.escape(issue.group, 80)}** on {md.escape(issue.branch, 100)}"
        f" ({md.link('alert issue', issue.url)}), and"
        f" {md.link(f'#{record.number}', record.url)} reverts it. Once it is merged, the"
        " change can come back in a new pull request with the failure fixed."
    )


async def open_revert(
    gh: GitHubAPI,
    records: RecordBook,
    issue: AlertIssue,
    pull: PullRequest,
    sha: str,
    by: str,
    now: float,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> Opened:
    """Open the pull request that reverts `pull` (once, whoever asks), label it and tell the
    reverted pull request. RevertRefused when it cannot be opened now."""
    number = int(pull["number"])
    record = await _claim(gh, records, issue, pull, sha, by, now)
    if record.state == OPENED:  # opened before, or found opened after a crash
        await _link(gh, issue, pull, record, policy, labels_known)
        return Opened(record, False)
    claims = records.at_once()  # each write its own transaction: seen at once by every replica
    try:
        made = await ci.revert_pull_request(
            gh,
            str(pull.get("node_id") or ""),
            revert_title(pull),
            revert_body(pull, issue, sha, by),
        )
    except (ci.RevertFailed, gidgethub.BadGraphQLRequest, gidgethub.BadRequest) as exc:
        record.state = f"{FAILED}: {str(exc)[:200]}"  # a person may ask again; auto does not
        await claims.put(record)
        log.warning("revert refused", extra={"repo": issue.repo, "pr": number, "error": str(exc)})
        raise RevertRefused(
            f"GitHub refused to revert #{number}: {md.escape(str(exc), 160)}"
        ) from None
    # Any other error leaves the claim: the pull request may exist; the next try looks first.
    record.number, record.url, record.state = int(made["number"]), str(made["url"]), OPENED
    await claims.put(record)
    log.info("revert opened", extra={"repo": issue.repo, "pr": number, "revert": record.number})
    await _link(gh, issue, pull, record, policy, labels_known)
    return Opened(record, True)


async def _claim(
    gh: GitHubAPI,
    records: RecordBook,
    issue: AlertIssue,
    pull: PullRequest,
    sha: str,
    by: str,
    now: float,
) -> Revert:
    """The pull request's `Revert` record: OPENED when it is reverted already, else a fresh
    claim, committed. RevertRefused while someone else is opening it."""
    number, repo = int(pull["number"]), issue.repo.lower()
    lease, holder = f"revert:{repo}#{number}", uuid.uuid4().hex
    store = records.store
    if not await store.take_lease(lease, holder, now, LEASE_SECONDS):
        raise RevertRefused(f"A revert of #{number} is being opened right now.")
    claims = records.at_once()
    try:
        existing = await claims.get(Revert, repo, number)
        if existing is not None and existing.state == OPENED:
            return existing
        if existing is not None and existing.state == CLAIMED:  # not known to be opened
            found = await find_revert_pr(gh, issue.repo, pull)
            if found is not None:
                existing.number, existing.url = int(found["number"]), str(found["html_url"])
                existing.state = OPENED
                await claims.put(existing)
                return existing
            if now - existing.at < STALE_CLAIM_SECONDS:
                raise RevertRefused(f"A revert of #{number} is being opened right now.")
        record = Revert(repo=repo, pr=number, alert=issue.alert, sha=sha, by=by, at=now)
        await claims.put(record)
        return record
    finally:
        await store.take_lease(lease, holder, now, 0)  # let it go


async def _link(
    gh: GitHubAPI,
    issue: AlertIssue,
    pull: PullRequest,
    record: Revert,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> None:
    """Label the revert pull request and tell the reverted one (both safe to repeat)."""
    await issue_calls.ensure_label(gh, issue.repo, REVERT_LABEL, labels_known)
    url_vars = repo_vars(issue.repo, number=record.number)
    await gh.post(ISSUE_LABELS_PATH, url_vars, data={"labels": [REVERT_LABEL]})
    text = reverted_comment(pull, record, issue)
    await issue_calls.comment_once(
        gh, issue.repo, record.pr, text, "revert", policy, revert=str(record.number)
    )


# --- by itself: `culprit.revert: auto` -----------------------------------------------------


async def auto(
    decision: Decision,
    gh: GitHubAPI,
    policy: AlertPolicy,
    records: RecordBook,
    now: float,
    labels_known: set[tuple[str, str]],
) -> list[Revert]:
    """Open a revert pull request for each confirmed culprit of the decision's alert that
    may be reverted without asking (`refusal`); the ones opened."""
    if policy.revert != AUTO or decision.kind is DecisionKind.CLOSE:
        return []
    confirmed = [b for b in decision.breakages if b.status is CulpritStatus.CONFIRMED]
    if not any(b.culprit for b in confirmed):
        return []
    issue = await alert_issue.load(records, decision.alert)
    if issue is None or issue.state != issue_calls.OPEN:  # nothing to link it from
        return []
    opened: list[Revert] = []
    for breakage in confirmed:
        try:
            made = await _auto_one(decision, breakage, gh, policy, records, issue, now)
        except gidgethub.BadRequest as exc:  # e.g. the culprit is no longer on the branch
            extra = {"alert": decision.alert, "status": exc.status_code, "reason": str(exc)}
            log.warning("no automatic revert", extra=extra)
            continue
        if made is None:
            continue
        try:
            done = await open_revert(
                gh,
                records,
                issue,
                made,
                breakage.culprit or "",
                "",
                now,
                policy,
                labels_known,
            )
        except RevertRefused as exc:
            log.info("no automatic revert", extra={"alert": decision.alert, "reason": str(exc)})
            continue
        if done.new:
            text = opened_comment(done.record, made)
            await issue_calls.comment_once(
                gh,
                issue.repo,
                issue.number,
                text,
                "revert",
                policy,
                revert=str(done.record.number),
            )
            opened.append(done.record)
    return opened


def opened_comment(record: Revert, pull: PullRequest) -> str:
    return (
        f"↩️ The culprit {short(record.sha)} is confirmed, so trunkwatch opened"
        f" {md.link(f'#{record.number}', record.url)} to revert #{record.pr}"
        f" ({md.escape(str(pull.get('title') or ''), 80)}). It is not merged: review it like"
        " any other pull request."
    )


async def _auto_one(
    decision: Decision,
    breakage: Breakage,
    gh: GitHubAPI,
    policy: AlertPolicy,
    records: RecordBook,
    issue: AlertIssue,
    now: float,
) -> PullRequest | None:
    """The culprit's pull request when it may be reverted without asking, else None (logged)."""
    sha = breakage.culprit
    if not sha:
        return None
    pull = None
    found = await suspects.pr_for_commit(gh, records.store, decision.repo, sha, _no_commits)
    if found is None:
        reason: str | None = "its pull request is not known"
    else:
        reason = await known_refusal(records.at_once(), decision.repo, found.number, policy, now)
        if reason is None:
            pull = await ci.pull_request(gh, decision.repo, found.number)
            if pull is None:
                reason = "its pull request is not known"
            else:
                reason = await refusal(gh, decision.repo, decision.branch, sha, pull, policy, now)
    if reason is not None:
        log.info(
            "no automatic revert", extra={"alert": decision.alert, "sha": sha, "reason": reason}
        )
        return None
    return pull


async def known_refusal(
    stored: RecordBook, repo: str, number: int, policy: AlertPolicy, now: float
) -> str | None:
    """What the store alone says against reverting #number now (no call to GitHub)."""
    if await stored.get(Revert, repo.lower(), number) is not None:
        return "trunkwatch reverts it already"
    if reverts_today(await stored.find(Revert, repo=repo.lower()), now) >= (
        policy.max_reverts_per_day
    ):
        return f"{policy.max_reverts_per_day} automatic reverts in the last 24 hours"
    return None


def reverts_today(reverts: Sequence[Revert], now: float) -> int:
    """Revert pull requests trunkwatch opened (or is opening) by itself in the last 24 h."""
    return sum(
        1
        for r in reverts
        if r.by == BY_TRUNKWATCH and r.state in (CLAIMED, OPENED) and now - r.at < DAY
    )


async def refusal(
    gh: GitHubAPI,
    repo: str,
    branch: str,
    sha: str,
    pull: PullRequest,
    policy: AlertPolicy,
    now: float,
) -> str | None:
    """Why the culprit's pull request must not be reverted without asking, or None: merged
    more than 24 hours ago, labelled `no_revert_label`, reverted already, or a later commit
    of the branch touches a file it changed (the revert could undo or conflict with it)."""
    merged = _merged_at(pull)
    if merged is None:
        return "its pull request is not merged"
    if now - merged >= DAY:
        return "its pull request was merged more than 24 hours ago"
    if policy.no_revert_label.lower() in _labels(pull):
        return f"its pull request is labelled {policy.no_revert_label!r}"
    if await find_revert_pr(gh, repo, pull) is not None:
        return "a pull request reverts it already"
    commit: Commit = await gh.getitem(COMMIT_PATH, repo_vars(repo, sha=sha))
    own = {str(f.get("filename")) for f in commit.get("files") or [] if isinstance(f, dict)}
    touched = own & await ci.files_changed(gh, repo, sha, branch)
    if touched:
        return "later commits change its files: " + ", ".join(sorted(touched)[:5])
    return None
