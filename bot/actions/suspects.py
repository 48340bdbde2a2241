"""Suspect pull requests: found for the alert's suspect commits, breakage by breakage.

A commit's pull request comes from the commit → pulls API, else from its message: the
`(#123)` suffix of a squash merge's subject, or a `Pull Request resolved: …/pull/123` line
(ghstack). The author to notify is always the PR's `user.login` from the API, never text
of the commit. At most `max_suspects` PRs are named per breakage; past that none of that
breakage's are. Labelling and telling them is `suspect_labels`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions.alert_text import CommitLookup, SuspectRow
from bot.actions.book import ActionStore, RecordBook
from bot.actions.issue_calls import repo_vars
from bot.actions.policy import AlertPolicy
from bot.github import pulls_for_commit
from bot.github.rest import Commit, PullRequest, login_of
from bot.records import SuspectPRs
from bot.tracker.model import Decision

log = logging.getLogger(__name__)

COMMIT_PR = "commit_pr"  # "repo@sha" → {"number": 123 or 0, "author": login, "url": …} (a cache)
# Before typed records (carried over at start): SuspectPRs and SuspectHold.
SUSPECTS = "alert_suspects"
PR_ALERTS = "suspect_pr_alerts"
MAX_COMMITS_RESOLVED = 50  # a longer range is too wide whatever its PRs
WHOLE = ""  # the alert as a whole, not one of its breakages

PULL_PATH = "/repos/{owner}/{repo}/pulls/{number}"
COMMIT_PATH = "/repos/{owner}/{repo}/commits/{sha}"

_SQUASH_SUFFIX = re.compile(r"\(#(\d+)\)\s*$")
_PR_RESOLVED = re.compile(r"^Pull Request resolved:\s*(\S+)/pull/(\d+)/?\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class SuspectPR:
    number: int
    author: str  # user.login from the pulls API
    url: str
    shas: tuple[str, ...] = ()
    breakages: tuple[str, ...] = ()  # the breakages (first failures) that suspect it


@dataclass(frozen=True, slots=True)
class Suspects:
    """The alert's suspect commits with their PRs, and the PRs to label.

    `too_wide` names the breakages (their first failures; "" for an alert without breakages)
    whose range is too wide to name suspects: they label none of their own."""

    rows: tuple[SuspectRow, ...] = ()
    prs: tuple[SuspectPR, ...] = ()
    too_wide: tuple[str, ...] = ()


def pr_number_from_message(message: str, repo: str) -> int | None:
    """The PR a commit message names: a squash merge's `(#123)`, or ghstack's
    `Pull Request resolved: https://github.com/owner/repo/pull/123` for this repository."""
    subject = message.split("\n", 1)[0]
    squash = _SQUASH_SUFFIX.search(subject)
    if squash:
        return int(squash.group(1))
    for match in _PR_RESOLVED.finditer(message):
        if match.group(1).lower().rstrip("/").endswith("/" + repo.lower()):
            return int(match.group(2))
    return None


async def get_pull(gh: GitHubAPI, repo: str, number: int) -> PullRequest | None:
    try:
        pull: PullRequest = await gh.getitem(PULL_PATH, repo_vars(repo, number=number))
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:  # an issue number, or a PR of another repository
            return None
        raise
    return pull


async def _message(gh: GitHubAPI, repo: str, sha: str, commits: CommitLookup) -> str:
    info = commits(sha)
    if info is not None and info.message:
        return info.message
    try:
        commit: Commit = await gh.getitem(COMMIT_PATH, repo_vars(repo, sha=sha))
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 422):
            return ""
        raise
    return str((commit.get("commit") or {}).get("message") or "")


async def pr_for_commit(
    gh: GitHubAPI, store: ActionStore, repo: str, sha: str, commits: CommitLookup
) -> SuspectPR | None:
    """The merged PR that brought `sha` in, remembered in the store once found."""
    cache_key = f"{repo}@{sha}"
    cached = await store.get_state(COMMIT_PR, cache_key)
    if isinstance(cached, dict):
        known = int(cached.get("number") or 0)
        return SuspectPR(known, cached["author"], cached["url"], (sha,)) if known else None
    pulls = await pulls_for_commit(gh, repo, sha)
    merged = [p for p in pulls if p.get("merged_at") or p.get("merge_commit_sha") == sha]
    pull = next((p for p in merged if p.get("merge_commit_sha") == sha), None)
    pull = pull or (merged[0] if merged else None)
    if pull is None:
        number = pr_number_from_message(await _message(gh, repo, sha, commits), repo)
        pull = await get_pull(gh, repo, number) if number else None
    found = None
    if pull is not None:
        login = login_of(pull.get("user"))
        found = SuspectPR(int(pull["number"]), login, str(pull.get("html_url") or ""), (sha,))
    entry = {"number": found.number, "author": found.author, "url": found.url} if found else {}
    await store.put_state(COMMIT_PR, cache_key, {"number": 0} | entry)
    return found


async def resolve(
    gh: GitHubAPI,
    records: RecordBook,
    decision: Decision,
    policy: AlertPolicy,
    commits: CommitLookup,
) -> Suspects:
    """The suspect commits' PRs, breakage by breakage: each breakage's suspects name its own
    PRs, `max_suspects` at most. A breakage with unknown suspects (no passing commit), or a
    range of more than `max_suspects` PRs, names none; the other breakages still do. A
    decision without breakages counts as one breakage, the alert as a whole ("")."""
    parts = [(b.first_failure, b.suspects, b.suspects_known) for b in decision.breakages]
    if not parts:
        parts = [(WHOLE, decision.suspects, decision.suspects_known)]
    rows: dict[str, SuspectRow] = {}
    prs: dict[int, SuspectPR] = {}
    too_wide: list[str] = []
    cleared: set[int] | None = None
    for breakage, shas, known in parts:
        if not known or not shas:
            for sha in shas:
                rows.setdefault(sha, SuspectRow(sha))
            continue
        if cleared is None:
            cleared = set((await load_record(records, decision.alert)).cleared)
        found, named, wide = await _range(gh, records, decision.repo, shas, policy, commits)
        rows.update((row.sha, row) for row in found)
        if wide:
            too_wide.append(breakage)
            continue
        for pr in named:
            if pr.number in cleared:
                continue
            earlier = prs.get(pr.number)
            if earlier is not None:
                shas_of_pr = (*earlier.shas, *pr.shas)
                pr = replace(pr, shas=shas_of_pr, breakages=(*earlier.breakages, breakage))
            else:
                pr = replace(pr, breakages=(breakage,))
            prs[pr.number] = pr
    order = {sha: i for i, sha in enumerate(decision.suspects)}
    shown = sorted(rows.values(), key=lambda row: order.get(row.sha, len(order)))
    return Suspects(tuple(shown), tuple(prs.values()), tuple(too_wide))


async def _range(
    gh: GitHubAPI,
    records: RecordBook,
    repo: str,
    shas: Sequence[str],
    policy: AlertPolicy,
    commits: CommitLookup,
) -> tuple[list[SuspectRow], list[SuspectPR], bool]:
    """One breakage's suspect commits with their PRs, the PRs, and whether the range is too
    wide to name any (no PR is looked up past the one too many)."""
    if len(shas) > MAX_COMMITS_RESOLVED:
        return [SuspectRow(sha) for sha in shas], [], True
    rows: list[SuspectRow] = []
    prs: dict[int, SuspectPR] = {}
    too_wide = False
    for sha in shas:
        found = None
        if not too_wide:
            found = await pr_for_commit(gh, records.store, repo, sha, commits)
        if found is None:
            rows.append(SuspectRow(sha))
            continue
        rows.append(SuspectRow(sha, found.number, found.url))
        earlier = prs.get(found.number)
        shas_of_pr = (*earlier.shas, sha) if earlier else (sha,)
        prs[found.number] = SuspectPR(found.number, found.author, found.url, shas_of_pr)
        too_wide = len(prs) > policy.max_suspects
    return rows, [] if too_wide else list(prs.values()), too_wide


async def load_record(records: RecordBook, alert: str) -> SuspectPRs:
    """What was done for the alert's suspect PRs (nothing yet: an empty record)."""
    return await records.get(SuspectPRs, alert) or SuspectPRs(alert)
