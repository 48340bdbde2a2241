"""Suspect pull requests labelled and told once, for as long as a breakage suspects them.

What was done is kept in the store per alert, and every step checks GitHub before acting
again (labels are a set, comments carry a marker), so repeating an alert's actions is
harmless. Each breakage of an alert holds the label on its own PRs (`SuspectHold`); a PR
keeps its label until the last (alert, breakage) that suspects it lets go. Which PRs are
suspects is `suspects`.
"""

from __future__ import annotations

from collections.abc import Iterable

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import issue_calls
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.book import RecordBook
from bot.actions.issue_calls import repo_vars
from bot.actions.policy import AlertPolicy
from bot.actions.suspects import WHOLE, SuspectPR, Suspects, get_pull, load_record
from bot.github.rest import login_of
from bot.records import SuspectHold, SuspectPRs

ISSUE_LABELS_PATH = "/repos/{owner}/{repo}/issues/{number}/labels"
ISSUE_LABEL_PATH = "/repos/{owner}/{repo}/issues/{number}/labels/{name}"


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


async def _held(records: RecordBook, repo: str, alert: str, done: SuspectPRs) -> set[Hold]:
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
    gh: GitHubAPI, records: RecordBook, repo: str, hold: Hold, alert: str, label: str
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
    records: RecordBook,
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
    records: RecordBook,
    issue: AlertIssue,
    found: Suspects,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
    keep: Iterable[str] = (),
) -> list[int]:
    """Label and tell the suspect PRs; release the holds of breakages that suspect a PR no
    more (a breakage recovered, its range narrowed or grew too wide), but those of the
    breakages to `keep`. Returns the PRs that carry the label for this alert."""
    done = await load_record(records, issue.alert)
    wanted = {pr.number: pr for pr in found.prs}
    holds = {(pr.number, b) for pr in found.prs for b in pr.breakages or (WHOLE,)}
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
    records: RecordBook,
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
    records: RecordBook,
    repo: str,
    alert: str,
    breakages: Iterable[str],
    policy: AlertPolicy,
) -> None:
    """These breakages of the alert recovered: release their holds (the PRs that another
    breakage or alert still suspects keep their label)."""
    done = await load_record(records, alert)
    gone = set(breakages) - {WHOLE}
    held = await _held(records, repo, alert, done)
    await _let_go(gh, records, repo, alert, {h for h in held if h[1] in gone}, done, policy)


async def release_all(
    gh: GitHubAPI, records: RecordBook, repo: str, alert: str, policy: AlertPolicy
) -> None:
    """The alert is over: remove its suspect labels."""
    done = await load_record(records, alert)
    await _let_go(gh, records, repo, alert, await _held(records, repo, alert, done), done, policy)


async def unsuspect(
    gh: GitHubAPI, records: RecordBook, repo: str, alert: str, number: int, policy: AlertPolicy
) -> bool:
    """`/trunkwatch unsuspect #N`: clear the PR for this alert (all its breakages) and remove
    its label. Returns False when the PR was not a suspect of the alert."""
    done = await load_record(records, alert)
    entry = done.prs.get(str(number))
    if number not in done.cleared:
        done.cleared.append(number)
    held = {h for h in await _held(records, repo, alert, done) if h[0] == number}
    await _let_go(gh, records, repo, alert, held, done, policy)
    await records.put(done)
    return entry is not None


async def suspect(
    gh: GitHubAPI,
    records: RecordBook,
    issue: AlertIssue,
    number: int,
    policy: AlertPolicy,
    labels_known: set[tuple[str, str]],
) -> SuspectPR | None:
    """`/trunkwatch suspect #N`: a person names a suspect; label and tell it like the others,
    held by the alert as a whole. None when #N is not a pull request of the repository."""
    pull = await get_pull(gh, issue.repo, number)
    if pull is None:
        return None
    login = login_of(pull.get("user"))
    pr = SuspectPR(number, login, str(pull.get("html_url") or ""), ())
    done = await load_record(records, issue.alert)
    if number in done.cleared:
        done.cleared.remove(number)
    entry = done.prs.setdefault(str(number), {})
    entry.update(author=pr.author, url=pr.url, manual=True)
    await records.put(done)
    await issue_calls.ensure_label(gh, issue.repo, policy.suspect_label, labels_known)
    await _hold(gh, records, issue, done, pr, {(number, WHOLE)}, policy)
    return pr
