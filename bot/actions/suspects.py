"""Suspect pull requests: found for the alert's suspect commits, labelled, told once.

A commit's pull request comes from the commit → pulls API, else from its message: the
`(#123)` suffix of a squash merge's subject, or a `Pull Request resolved: …/pull/123` line
(ghstack). The author to notify is always the PR's `user.login` from the API, never text
of the commit. At most `max_suspects` PRs are labelled per breakage; past that none of that
breakage's are.

What was done is kept in the store per alert, and every step checks GitHub before acting
again (labels are a set, comments carry a marker), so repeating an alert's actions is
harmless. Each breakage of an alert holds the label on its own PRs (`SuspectHold`); a PR
keeps its label until the last (alert, breakage) that suspects it lets go.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import issue_calls
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.alert_text import CommitLookup, SuspectRow
from bot.actions.issue_calls import repo_vars
from bot.actions.policy import AlertPolicy
from bot.github import pulls_for_commit
from bot.github.rest import Commit, PullRequest, login_of
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
WHOLE = ""  # a hold of the alert as a whole, not of one of its breakages

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


async def _get_pull(gh: GitHubAPI, repo: str, number: int) -> PullRequest | None:
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
    gh: GitHubAPI, store: Store, repo: str, sha: str, commits: CommitLookup
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
        login = login_of(pull.get("user"))
        found = SuspectPR(int(pull["number"]), login, str(pull.get("html_url") or ""), (sha,))
    entry = {"number": found.number, "author": found.author, "url": found.url} if found else {}
    await store.put_state(COMMIT_PR, cache_key, {"number": 0} | entry)
    return found


async def resolve(
    gh: GitHubAPI,
    store: Store | Records,
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
    records = records_of(store)
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
            cleared = set((await _load(records, decision.alert)).cleared)
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
    records: Records,
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


Hold = tuple[int, str]  # (PR, breakage) of one alert


async def _held(records: Records, repo: str, alert: str, done: SuspectPRs) -> set[Hold]:
    """The holds of this alert. A PR it labelled with no hold recorded (an older store) is
    held by the alert as a whole."""
    held = {(h.pr, h.breakage) for h in await records.find(SuspectHold, repo=repo, alert=alert)}
    holding = {pr for pr, _ in held}
    held |= {
        (int(key), WHOLE)
        for key, entry in done.prs.items()
        if entry.get("labelled") and int(key) not in holding
    }
    return held


async def _release(
    gh: GitHubAPI, records: Records, repo: str, hold: Hold, alert: str, label: str
) -> None:
    """Drop one (alert, breakage) hold on the PR's label; remove the label when nobody
    holds it any more."""
    number, breakage = hold
    others = [
        h
        for h in await records.find(SuspectHold, repo=repo, pr=number)
        if (h.alert, h.breakage) != (alert, breakage)
    ]
    if not others:
        try:
            await gh.delete(ISSUE_LABEL_PATH, repo_vars(repo, number=number, name=label))
        except gidgethub.BadRequest as exc:
            if exc.status_code != 404:  # already removed, by hand or by a previous attempt
                raise
    await records.remove(SuspectHold, repo, number, alert, breakage)


async def _hold(
    gh: GitHubAPI,
    records: Records,
    issue: AlertIssue,
    done: SuspectPRs,
    pr: SuspectPR,
    new: set[Hold],
    policy: AlertPolicy,
) -> None:
    """Label the PR for this alert (once), record its `new` holds, tell its author (once)."""
    entry = done.prs.setdefault(str(pr.number), {"author": pr.author, "url": pr.url})
    changed = bool(new)
    if not entry.get("labelled"):
        data = {"labels": [policy.suspect_label]}
        await gh.post(ISSUE_LABELS_PATH, repo_vars(issue.repo, number=pr.number), data=data)
        entry["labelled"] = changed = True
    for number, breakage in sorted(new):
        await records.put(SuspectHold(issue.repo, number, issue.alert, breakage))
    if changed:
        await records.put(done)
    if policy.suspect_comment and not entry.get("commented"):
        text = suspect_comment(pr, issue, policy)
        await issue_calls.comment_once(
            gh, issue.repo, pr.number, text, "suspect", policy, alert=issue.alert
        )
        entry["commented"] = True
        await records.put(done)


async def apply(
    gh: GitHubAPI,
    store: Store | Records,
    issue: AlertIssue,
    suspects: Suspects,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
    keep: Iterable[str] = (),
) -> list[int]:
    """Label and tell the suspect PRs; release the holds of breakages that suspect a PR no
    more (a breakage recovered, its range narrowed or grew too wide), but those of the
    breakages to `keep`. Returns the PRs that carry the label for this alert."""
    records = records_of(store)
    done = await _load(records, issue.alert)
    wanted = {pr.number: pr for pr in suspects.prs}
    holds = {(pr.number, b) for pr in suspects.prs for b in pr.breakages or (WHOLE,)}
    for key, entry in done.prs.items():
        if entry.get("manual") and int(key) not in done.cleared:
            wanted.setdefault(int(key), SuspectPR(int(key), entry["author"], entry["url"]))
            holds.add((int(key), WHOLE))
    held = await _held(records, issue.repo, issue.alert, done)
    if wanted:
        await issue_calls.ensure_label(gh, issue.repo, policy.suspect_label, labels_known)
    # New holds first: a PR that passes from one hold to another keeps its label throughout.
    for number, pr in wanted.items():
        new = {h for h in holds - held if h[0] == number}
        await _hold(gh, records, issue, done, pr, new, policy)
    kept = set(keep)
    stale = {hold for hold in held - holds if hold[1] not in kept}
    await _let_go(gh, records, issue.repo, issue.alert, stale, done, policy)
    return sorted(int(k) for k, entry in done.prs.items() if entry.get("labelled"))


async def _let_go(
    gh: GitHubAPI,
    records: Records,
    repo: str,
    alert: str,
    holds: set[Hold],
    done: SuspectPRs,
    policy: AlertPolicy,
) -> None:
    """Release these holds of the alert; a PR it no longer holds is labelled for it no more."""
    if not holds:
        return
    for hold in sorted(holds):
        await _release(gh, records, repo, hold, alert, policy.suspect_label)
    still = {h.pr for h in await records.find(SuspectHold, repo=repo, alert=alert)}
    for key, entry in done.prs.items():
        if entry.get("labelled") and int(key) not in still:
            entry["labelled"] = False
    await records.put(done)


async def release(
    gh: GitHubAPI,
    store: Store | Records,
    repo: str,
    alert: str,
    breakages: Iterable[str],
    policy: AlertPolicy,
) -> None:
    """These breakages of the alert recovered: release their holds (the PRs that another
    breakage or alert still suspects keep their label)."""
    records = records_of(store)
    done = await _load(records, alert)
    gone = set(breakages) - {WHOLE}
    held = await _held(records, repo, alert, done)
    await _let_go(gh, records, repo, alert, {h for h in held if h[1] in gone}, done, policy)


async def release_all(
    gh: GitHubAPI, store: Store | Records, repo: str, alert: str, policy: AlertPolicy
) -> None:
    """The alert is over: remove its suspect labels."""
    records = records_of(store)
    done = await _load(records, alert)
    await _let_go(gh, records, repo, alert, await _held(records, repo, alert, done), done, policy)


async def unsuspect(
    gh: GitHubAPI, store: Store | Records, repo: str, alert: str, number: int, policy: AlertPolicy
) -> bool:
    """`/trunkwatch unsuspect #N`: clear the PR for this alert (all its breakages) and remove
    its label. Returns False when the PR was not a suspect of the alert."""
    records = records_of(store)
    done = await _load(records, alert)
    entry = done.prs.get(str(number))
    if number not in done.cleared:
        done.cleared.append(number)
    held = {h for h in await _held(records, repo, alert, done) if h[0] == number}
    await _let_go(gh, records, repo, alert, held, done, policy)
    await records.put(done)
    return entry is not None


async def suspect(
    gh: GitHubAPI,
    store: Store | Records,
    issue: AlertIssue,
    number: int,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> SuspectPR | None:
    """`/trunkwatch suspect #N`: a person names a suspect; label and tell it like the others,
    held by the alert as a whole. None when #N is not a pull request of the repository."""
    pull = await _get_pull(gh, issue.repo, number)
    if pull is None:
        return None
    login = login_of(pull.get("user"))
    pr = SuspectPR(number, login, str(pull.get("html_url") or ""), ())
    records = records_of(store)
    done = await _load(records, issue.alert)
    if number in done.cleared:
        done.cleared.remove(number)
    entry = done.prs.setdefault(str(number), {})
    entry.update(author=pr.author, url=pr.url, manual=True)
    await records.put(done)
    await issue_calls.ensure_label(gh, issue.repo, policy.suspect_label, labels_known)
    await _hold(gh, records, issue, done, pr, {(number, WHOLE)}, policy)
    return pr
