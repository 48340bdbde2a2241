"""Suspect pull requests: found for the alert's suspect commits, labelled, told once.

A commit's pull request comes from the commit → pulls API, else from its message: the
`(#123)` suffix of a squash merge's subject, or a `Pull Request resolved: …/pull/123` line
(ghstack). The author to notify is always the PR's `user.login` from the API, never text
of the commit. At most `max_suspects` PRs are labelled; past that none are.

What was done is kept in the store per alert, and every step checks GitHub before acting
again (labels are a set, comments carry a marker), so repeating an alert's actions is
harmless. A PR suspected by two alerts keeps its label until both are done with it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import gidgethub

from bot.actions import alert_issue as issues
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue, CommitLookup, SuspectRow, repo_vars
from bot.actions.policy import AlertPolicy
from bot.github import pulls_for_commit
from bot.store.base import Store
from bot.store.record_view import Records, records_of
from bot.store.records import SuspectHold, SuspectPRs
from bot.tracker.model import Decision

log = logging.getLogger(__name__)

COMMIT_PR = "commit_pr"  # "repo@sha" → {"number": 123 or 0, "author": login, "url": …} (a cache)
# Before typed records (carried over at start): SuspectPRs and SuspectHold.
SUSPECTS = "alert_suspects"
PR_ALERTS = "suspect_pr_alerts"
MAX_COMMITS_RESOLVED = 50  # a longer range is too wide whatever its PRs

PULL_PATH = "/repos/{owner}/{repo}/pulls/{number}"
COMMIT_PATH = "/repos/{owner}/{repo}/commits/{sha}"
ISSUE_LABELS_PATH = "/repos/{owner}/{repo}/issues/{number}/labels"
ISSUE_LABEL_PATH = "/repos/{owner}/{repo}/issues/{number}/labels/{name}"

_SQUASH_SUFFIX = re.compile(r"\(#(\d+)\)\s*$")
_PR_RESOLVED = re.compile(r"^Pull Request resolved:\s*(\S+)/pull/(\d+)/?\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class SuspectPR:
    number: int
    author: str  # user.login from the pulls API
    url: str
    shas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Suspects:
    """The alert's suspect commits with their PRs, and the PRs to label."""

    rows: tuple[SuspectRow, ...] = ()
    prs: tuple[SuspectPR, ...] = ()
    too_wide: bool = False


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


async def _get_pull(gh: Any, repo: str, number: int) -> dict[str, Any] | None:
    try:
        pull: dict[str, Any] = await gh.getitem(PULL_PATH, repo_vars(repo, number=number))
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:  # an issue number, or a PR of another repository
            return None
        raise
    return pull


async def _message(gh: Any, repo: str, sha: str, commits: CommitLookup) -> str:
    info = commits(sha)
    if info is not None and info.message:
        return info.message
    try:
        commit = await gh.getitem(COMMIT_PATH, repo_vars(repo, sha=sha))
    except gidgethub.BadRequest as exc:
        if exc.status_code in (404, 422):
            return ""
        raise
    return str((commit.get("commit") or {}).get("message") or "")


async def pr_for_commit(
    gh: Any, store: Store, repo: str, sha: str, commits: CommitLookup
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
        pull = await _get_pull(gh, repo, number) if number else None
    found = None
    if pull is not None:
        login = str((pull.get("user") or {}).get("login") or "")
        found = SuspectPR(int(pull["number"]), login, str(pull.get("html_url") or ""), (sha,))
    entry = {"number": found.number, "author": found.author, "url": found.url} if found else {}
    await store.put_state(COMMIT_PR, cache_key, {"number": 0} | entry)
    return found


async def resolve(
    gh: Any, store: Store | Records, decision: Decision, policy: AlertPolicy, commits: CommitLookup
) -> Suspects:
    """The suspect commits' PRs. Unknown suspects (no passing commit) and ranges that span
    more than `max_suspects` PRs name none to label."""
    shas = decision.suspects
    if not decision.suspects_known or not shas:
        return Suspects(rows=tuple(SuspectRow(sha) for sha in shas))
    if len(shas) > MAX_COMMITS_RESOLVED:
        return Suspects(rows=tuple(SuspectRow(sha) for sha in shas), too_wide=True)
    records = records_of(store)
    cleared = set((await _load(records, decision.alert)).cleared)
    rows: list[SuspectRow] = []
    prs: dict[int, SuspectPR] = {}
    too_wide = False
    for sha in shas:
        found = None
        if not too_wide:
            found = await pr_for_commit(gh, records.store, decision.repo, sha, commits)
        if found is None:
            rows.append(SuspectRow(sha))
            continue
        rows.append(SuspectRow(sha, found.number, found.url))
        earlier = prs.get(found.number)
        shas_of_pr = (*earlier.shas, sha) if earlier else (sha,)
        prs[found.number] = SuspectPR(found.number, found.author, found.url, shas_of_pr)
        too_wide = len(prs) > policy.max_suspects
    if too_wide:
        return Suspects(rows=tuple(rows), too_wide=True)
    return Suspects(tuple(rows), tuple(pr for n, pr in prs.items() if n not in cleared))


async def _load(records: Records, alert: str) -> SuspectPRs:
    return await records.get(SuspectPRs, alert) or SuspectPRs(alert)


def suspect_comment(pr: SuspectPR, issue: AlertIssue, policy: AlertPolicy) -> str:
    commits = f" ({', '.join(f'`{sha[:7]}`' for sha in pr.shas)})" if pr.shas else ""
    return (
        f"{md.mention(pr.author) if pr.author else 'Hello'}, this pull request{commits} is a"
        f" suspect in a trunk breakage: **{md.escape(issue.group, 80)}** jobs have been failing"
        f" on {md.escape(issue.branch, 100)} since it was merged. Details: "
        f"{md.link('alert issue', issue.url)}.\n\n"
        f"If it is not the cause, comment `{md.one_line(policy.commands_prefix, 40)} unsuspect"
        f" #{pr.number}` on the alert issue to clear it and remove the label."
    )


async def _label(gh: Any, records: Records, repo: str, number: int, alert: str, label: str) -> None:
    await gh.post(ISSUE_LABELS_PATH, repo_vars(repo, number=number), data={"labels": [label]})
    await records.put(SuspectHold(repo, number, alert))


async def _unlabel(
    gh: Any, records: Records, repo: str, number: int, alert: str, label: str
) -> None:
    """Drop this alert's hold on the PR's label; remove the label when nobody holds it."""
    others = [h for h in await records.find(SuspectHold, repo=repo, pr=number) if h.alert != alert]
    if not others:
        try:
            await gh.delete(ISSUE_LABEL_PATH, repo_vars(repo, number=number, name=label))
        except gidgethub.BadRequest as exc:
            if exc.status_code != 404:  # already removed, by hand or by a previous attempt
                raise
    await records.remove(SuspectHold, repo, number, alert)


async def apply(
    gh: Any,
    store: Store | Records,
    issue: AlertIssue,
    suspects: Suspects,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> list[int]:
    """Label and tell the suspect PRs; release PRs that are suspects no more. Returns the
    PRs that carry the label for this alert."""
    records = records_of(store)
    done = await _load(records, issue.alert)
    wanted = {pr.number: pr for pr in suspects.prs}
    for key, entry in done.prs.items():
        if entry.get("manual") and int(key) not in done.cleared:
            wanted.setdefault(int(key), SuspectPR(int(key), entry["author"], entry["url"]))
    for key, entry in done.prs.items():
        if entry.get("labelled") and int(key) not in wanted:
            await _unlabel(gh, records, issue.repo, int(key), issue.alert, policy.suspect_label)
            entry["labelled"] = False
            await records.put(done)
    if wanted:
        await issues.ensure_label(gh, issue.repo, policy.suspect_label, labels_known)
    for number, pr in wanted.items():
        entry = done.prs.setdefault(str(number), {"author": pr.author, "url": pr.url})
        if not entry.get("labelled"):
            await _label(gh, records, issue.repo, number, issue.alert, policy.suspect_label)
            entry["labelled"] = True
            await records.put(done)
        if policy.suspect_comment and not entry.get("commented"):
            text = suspect_comment(pr, issue, policy)
            await issues.comment_once(
                gh, issue.repo, number, text, "suspect", policy, alert=issue.alert
            )
            entry["commented"] = True
            await records.put(done)
    return sorted(int(k) for k, entry in done.prs.items() if entry.get("labelled"))


async def release_all(
    gh: Any, store: Store | Records, repo: str, alert: str, policy: AlertPolicy
) -> None:
    """The alert is over: remove its suspect labels."""
    records = records_of(store)
    done = await _load(records, alert)
    for key, entry in done.prs.items():
        if entry.get("labelled"):
            await _unlabel(gh, records, repo, int(key), alert, policy.suspect_label)
            entry["labelled"] = False
            await records.put(done)


async def unsuspect(
    gh: Any, store: Store | Records, repo: str, alert: str, number: int, policy: AlertPolicy
) -> bool:
    """`/trunkwatch unsuspect #N`: clear the PR for this alert and remove its label.
    Returns False when the PR was not a suspect of the alert."""
    records = records_of(store)
    done = await _load(records, alert)
    entry = done.prs.get(str(number))
    if number not in done.cleared:
        done.cleared.append(number)
    if entry is not None and entry.get("labelled"):
        await _unlabel(gh, records, repo, number, alert, policy.suspect_label)
        entry["labelled"] = False
    await records.put(done)
    return entry is not None


async def suspect(
    gh: Any,
    store: Store | Records,
    issue: AlertIssue,
    number: int,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> SuspectPR | None:
    """`/trunkwatch suspect #N`: a person names a suspect; label and tell it like the others.
    None when #N is not a pull request of the repository."""
    pull = await _get_pull(gh, issue.repo, number)
    if pull is None:
        return None
    login = str((pull.get("user") or {}).get("login") or "")
    pr = SuspectPR(number, login, str(pull.get("html_url") or ""), ())
    records = records_of(store)
    done = await _load(records, issue.alert)
    if number in done.cleared:
        done.cleared.remove(number)
    entry = done.prs.setdefault(str(number), {})
    entry.update(author=pr.author, url=pr.url, manual=True)
    await records.put(done)
    still = tuple(
        SuspectPR(int(key), str(e.get("author", "")), str(e.get("url", "")))
        for key, e in done.prs.items()
        if e.get("labelled")
    )
    await apply(gh, records, issue, Suspects(prs=still), policy, labels_known)
    return pr
