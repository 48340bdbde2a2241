"""The rules of "broken", written once, plainly: a reference for the incremental engine.

`judge` takes a branch's whole history (its commits in trunk order and every result on
them) and says, for each job key of a group: its state on each commit, its streak as of the
newest commit, and its blamelist; and for the group: whether it is broken and its suspects.
It recomputes everything from scratch on every call and is written to be read, not to be
fast. The properties in the tests check that the engine (`RepoTracker`) agrees with it at
every prefix of random live histories. Change a rule here first, then in the engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.tracker.jobkeys import key_for, rule_matches, shard_of
from bot.tracker.model import GroupRule, JobKey, JobResult, Outcome, State, outcome_of
from bot.tracker.results import OUTAGE_MIN_JOBS, fact_time

INFRA = "infra"  # a failure of the runner: counted apart, it neither starts nor extends a streak


@dataclass(frozen=True)
class KeyJudgement:
    states: tuple[State | str, ...]  # per commit, oldest first (State, or INFRA)
    streak: int
    blamelist: tuple[int, ...]  # commit indices, oldest first; () without a streak
    pending: tuple[int, ...]  # the blamelist's commits where the key is still running
    known: bool  # a passing commit bounds the blamelist


@dataclass(frozen=True)
class Failure:
    """What a failing commit says beside FAIL: the exact job names of the key that failed and
    passed there, how many had a result, and whether the newest failing job failed on two
    attempts there (its rerun failed again). A PENDING commit says which passed already."""

    failed: frozenset[str] = frozenset()
    passed: frozenset[str] = frozenset()
    names: int = 0  # the key's job names with a result there, pending ones too
    again: bool = False


def looks_real(failure: Failure) -> bool:
    """No chance failure: most of the key's jobs with a result failed, two at least; or the
    job failed again on its rerun (two chance failures of one job on one commit are rare)."""
    return failure.again or (len(failure.failed) >= 2 and 2 * len(failure.failed) > failure.names)


def looks_chance(first: Failure, above: Sequence[Failure]) -> bool:
    """A first failure that the breakage above it did not reach: a job that passed there
    failed on the next two commits with a result (chance, most likely, even if it failed
    again on a rerun: it is not this breakage's failure)."""
    return len(above) == 2 and bool(first.passed & above[0].failed & above[1].failed)


@dataclass(frozen=True)
class GroupJudgement:
    keys: dict[JobKey, KeyJudgement]
    broken: bool
    suspects: tuple[int, ...]  # commit indices, oldest first
    suspects_known: bool
    breakages: tuple[tuple[tuple[JobKey, ...], tuple[int, ...]], ...] = ()  # (keys, suspects)


def _attempt(r: JobResult) -> tuple[int, int, int, int]:
    """Later attempts sort higher; a completion sorts above its own announcement."""
    return (r.run_id, r.run_attempt, r.job_id, 0 if r.pending else 1)


def _alive(results: list[JobResult], expired: float) -> list[JobResult]:
    """Drop pending announcements that started before `expired` (they count for nothing)."""
    return [r for r in results if not (r.pending and (fact_time(r) or 0.0) < expired)]


def _code_failure(r: JobResult) -> bool:
    return not r.pending and not r.infra and outcome_of(r.conclusion) is Outcome.FAIL


def _name_state(
    attempts: list[JobResult], run: JobResult | None, own_jobs: bool = False
) -> tuple[State | str, str]:
    """One job name's state on a commit, and its runner type. `own_jobs`: the run's newest
    attempt has named jobs of its own (it reruns those; a job that passed is left alone)."""
    latest = max(attempts, key=_attempt)
    # The latest attempt of each run counts: a failure of one run stays a failure while a
    # newer run of the workflow is still going (a newer attempt of the same run hides it).
    earlier = [r for r in attempts if r.run_id < latest.run_id]
    if latest.pending and earlier and _code_failure(max(earlier, key=_attempt)):
        latest = max(earlier, key=_attempt)
    if run is not None and (run.run_id, run.run_attempt) > (latest.run_id, latest.run_attempt):
        passed = not latest.pending and outcome_of(latest.conclusion) is Outcome.PASS
        failed_before = run.run_id > latest.run_id and _code_failure(latest)
        if run.pending and not (own_jobs and passed) and not failed_before:
            return State.PENDING, ""
        if outcome_of(run.conclusion) is Outcome.PASS:
            return State.PASS, ""
    if latest.pending:
        return State.PENDING, ""
    outcome = outcome_of(latest.conclusion)
    if outcome is Outcome.FAIL:
        return (INFRA if latest.infra else State.FAIL), latest.runner
    return (State.PASS if outcome is Outcome.PASS else State.NONE), ""


def _cell(
    alive: list[JobResult],
    every: list[JobResult],
    key: JobKey,
    rule: GroupRule,
    shards: set[tuple[int, int]],
) -> tuple[State | str, set[str], Failure]:
    """The key's state on one commit (`alive`: its results but timed-out announcements;
    `every`: all of them) before outages are recognized; the runners of its failures and
    what a failure says beside them."""
    runs = [r for r in alive if r.workflow == key.workflow and not r.job]
    run = max(runs, key=_attempt) if runs else None
    green = run is not None and not run.pending and outcome_of(run.conclusion) is Outcome.PASS

    def ours(r: JobResult) -> bool:
        return (
            r.workflow == key.workflow
            and bool(r.job)
            and rule_matches(rule, r.workflow, r.job)
            and key_for(r.workflow, r.job, rule) == key
        )

    if not key.job:  # the whole run, when it has no job-level results
        if run is None or any(r.run_id == run.run_id for r in every if r.job):
            return (State.PASS if green else State.NONE), set(), Failure()
        if run.pending:
            return State.PENDING, set(), Failure()
        outcome = outcome_of(run.conclusion)
        if outcome is Outcome.NONE:
            return State.NONE, set(), Failure()
        if green:
            return State.PASS, set(), Failure()
        failed_runs = {
            (r.run_id, r.run_attempt)
            for r in every
            if r.workflow == key.workflow and not r.job and not r.pending and not r.infra
            and outcome_of(r.conclusion) is Outcome.FAIL
        }  # fmt: skip
        return State.FAIL, {run.runner}, Failure(again=len(failed_runs) >= 2)
    mine = [r for r in alive if ours(r)]
    if not mine:
        if run is not None and run.pending:
            return State.PENDING, set(), Failure()
        return (State.PASS if green else State.NONE), set(), Failure()
    names = sorted({r.job for r in mine})
    own_jobs = run is not None and any(
        r.job
        and r.workflow == key.workflow
        and (r.run_id, r.run_attempt) == (run.run_id, run.run_attempt)
        for r in every
    )
    states = {n: _name_state([r for r in mine if r.job == n], run, own_jobs) for n in names}
    failing = {runner for state, runner in states.values() if state is State.FAIL}
    if failing:
        failed = frozenset(n for n in names if states[n][0] is State.FAIL)
        ok = frozenset(n for n in names if states[n][0] is State.PASS)
        # (a job name that failed on two attempts, whichever failed last)
        tries = Counter(
            r.job
            for r in every
            if ours(r) and r.job in failed and not r.pending and not r.infra
            and outcome_of(r.conclusion) is Outcome.FAIL
        )  # fmt: skip
        again = max(tries.values(), default=0) >= 2
        return State.FAIL, failing, Failure(failed, ok, len(names), again)
    passed = [n for n in names if states[n][0] is State.PASS]
    if any(state is State.PENDING for state, _ in states.values()):
        return State.PENDING, set(), Failure(passed=frozenset(passed))
    if passed:
        seen = {shard for shard in map(shard_of, passed) if shard is not None}
        totals = {total for _, total in seen}
        complete = all(s in seen for s in shards if s[1] in totals)
        if green or not shards or complete or (run is not None and not run.pending):
            return State.PASS, set(), Failure()
        if run is not None:
            return State.PENDING, set(), Failure(passed=frozenset(passed))
        return State.NONE, set(), Failure()
    if any(state == INFRA for state, _ in states.values()):
        return INFRA, set(), Failure()
    return State.NONE, set(), Failure()


def _outages(on_commit: list[JobResult]) -> set[str]:
    """Runner types most of whose jobs failed on the commit."""
    by_name: dict[tuple[str, str], list[JobResult]] = {}
    for r in on_commit:
        if r.job:
            by_name.setdefault((r.workflow, r.job), []).append(r)
    latest: dict[tuple[str, str], JobResult] = {}
    for name, attempts in by_name.items():
        newest = max(attempts, key=_attempt)
        earlier = [r for r in attempts if r.run_id < newest.run_id]
        if newest.pending and earlier and _code_failure(max(earlier, key=_attempt)):
            newest = max(earlier, key=_attempt)  # (as `_name_state` reads it)
        latest[name] = newest
    ran: dict[str, list[bool]] = {}
    for r in latest.values():
        outcome = outcome_of(r.conclusion)
        if not r.pending and r.runner and outcome is not Outcome.NONE:
            ran.setdefault(r.runner, []).append(outcome is Outcome.FAIL)
    return {
        runner
        for runner, fails in ran.items()
        if len(fails) >= OUTAGE_MIN_JOBS and 2 * sum(fails) > len(fails)
    }


def key_states(
    order: Sequence[str], results: Sequence[JobResult], rule: GroupRule, now: float, timeout: float
) -> dict[JobKey, tuple[list[State | str], list[Failure]]]:
    """Each job key's state on each commit (oldest first), outages recognized, and what each
    failure says beside it."""
    every = [r for r in results if r.head_sha in order]
    alive = _alive(every, now - timeout)
    on = {sha: [r for r in every if r.head_sha == sha] for sha in order}
    alive_on = {sha: [r for r in alive if r.head_sha == sha] for sha in order}
    keys = {
        key_for(r.workflow, r.job, rule) for r in every if rule_matches(rule, r.workflow, r.job)
    }
    table: dict[JobKey, tuple[list[State | str], list[Failure]]] = {}
    for key in keys:
        shards = set()
        if not rule.split_shards:
            for r in every:
                if r.job and rule_matches(rule, r.workflow, r.job):
                    shard = shard_of(r.job)
                    if shard is not None and key_for(r.workflow, r.job, rule) == key:
                        shards.add(shard)
        cells = [_cell(alive_on[sha], on[sha], key, rule, shards) for sha in order]
        states: list[State | str] = [state for state, _, _ in cells]
        for i, (state, runners, _) in enumerate(cells):
            if state is not State.FAIL or not runners <= _outages(on[order[i]]):
                continue
            later = [s for s in states[i + 1 :] if s is not State.NONE]
            if later and later[0] is State.PASS:  # passed on the next commit with a result
                states[i] = INFRA
        table[key] = (states, [failure for _, _, failure in cells])
    return table


def streak_and_blame(
    states: Sequence[State | str], threshold: int = 1, failures: Sequence[Failure] = ()
) -> KeyJudgement:
    """Walk back from the newest commit with a result, skipping NONE and runner failures
    (and pending commits newer than the newest failure); count failures until a pass or a
    pending commit. The blamelist: after the last pass before the streak up to the first
    failure of the lowest `threshold` failures in a row after that pass, or of the lowest
    row with a failure that looks real on its own (`looks_real`: most shards, or failed
    again on a rerun), whichever comes first.
    (Fewer failures below a pending commit may be flakes or the breakage's start: until it
    reports, the culprit may be anywhere up to that real streak, and the pending commits in
    the range make the suspects provisional.) When that first failure looks like chance
    (`looks_chance`, next to the two failures above it), the blamelist goes on up to the next
    failure: the culprit may be that one or a commit between, where the job did not run; and
    unless it failed again on a rerun, it starts above it, where the jobs failing above last
    passed. So does a lower failure, below a pending commit, that failed once and looks like
    chance next to the two failures above it with a result; and a commit still running where
    a job passed that failed at the first failure and at the two failures above it."""
    counted = [i for i, s in enumerate(states) if s is not State.NONE and s != INFRA]
    while counted and states[counted[-1]] is State.PENDING:
        counted.pop()
    streak, first = 0, None
    for i in reversed(counted):
        if states[i] is not State.FAIL:
            break
        streak, first = streak + 1, i
    if first is None:
        return KeyJudgement(tuple(states), 0, (), (), True)
    passes = [i for i in counted if i < first and states[i] is State.PASS]
    low = passes[-1] + 1 if passes else 0
    row = 0
    for i in (i for i in counted if low <= i <= first):
        row = row + 1 if states[i] is State.FAIL else 0
        if row == 1:
            start = i
        real = bool(failures) and looks_real(failures[i])
        if row == threshold or real:
            first = start
            break
    high = first
    above = [i for i in counted if i > first][:2]
    failing_above = failures and all(states[i] is State.FAIL for i in above)
    if failing_above and looks_chance(failures[first], [failures[i] for i in above]):
        high = above[0]
        if not failures[first].again:  # failed once: the breakage's jobs last passed there
            low = first + 1
    # A lower failure, below a pending commit, that failed once and looks like chance next
    # to the two failures above it with a result: the breakage's jobs passed there, so the
    # blamelist starts above it, whatever runs between (a bisect run there would otherwise
    # widen the suspects back down to the last pass).
    for i in reversed([i for i in counted if low <= i < first]):
        if states[i] is not State.FAIL or not failures or failures[i].again:
            continue
        decided = [j for j in counted if j > i and states[j] is not State.PENDING][:2]
        if all(states[j] is State.FAIL for j in decided) and looks_chance(
            failures[i], [failures[j] for j in decided]
        ):
            low = i + 1
            break
    # A commit still running where a job passed that failed at the first failure and at the
    # two failures above it with a result: the breakage fails that job from its culprit on,
    # so the blamelist starts above it (a bisect run's other shards report over hours).
    decided = [j for j in counted if j >= first and states[j] is not State.PENDING][:3]
    if failures and len(decided) == 3 and all(states[j] is State.FAIL for j in decided):
        names = frozenset.intersection(*(failures[j].failed for j in decided))
        for i in reversed([i for i in counted if low <= i < first]):
            if states[i] is State.PENDING and failures[i].passed & names:
                low = i + 1
                break
    blamelist = tuple(range(low, high + 1))
    pending = tuple(i for i in blamelist if states[i] is State.PENDING)
    return KeyJudgement(tuple(states), streak, blamelist, pending, bool(passes))


def judge(
    order: Sequence[str],
    results: Sequence[JobResult],
    rule: GroupRule,
    now: float = 0.0,
    timeout: float = 6 * 3600.0,
) -> GroupJudgement:
    """The group on this branch as of its newest commit."""
    keys = {
        key: streak_and_blame(states, rule.threshold, failures)
        for key, (states, failures) in key_states(order, results, rule, now, timeout).items()
    }
    failing = {key: k for key, k in keys.items() if k.streak >= rule.threshold}
    broken = len(failing) >= rule.min_failing_jobs
    if not failing:
        return GroupJudgement(keys, broken, (), True)
    # Breakages: failing keys whose blamelists overlap, directly or through another key.
    parts: list[set[JobKey]] = [{key} for key in failing]
    merged = True
    while merged:
        merged = False
        for a in range(len(parts)):
            for b in range(a + 1, len(parts)):
                ours = set().union(*(failing[k].blamelist for k in parts[a]))
                theirs = set().union(*(failing[k].blamelist for k in parts[b]))
                if ours & theirs:
                    parts[a] |= parts.pop(b)
                    merged = True
                    break
            if merged:
                break
    breakages = []
    for part in parts:
        blamelists = [set(failing[k].blamelist) for k in part]
        suspects = set.intersection(*blamelists) or set().union(*blamelists)
        breakages.append((tuple(sorted(part)), tuple(sorted(suspects))))
    breakages.sort(key=lambda b: b[1])
    every = tuple(sorted({i for _, suspects in breakages for i in suspects}))
    known = all(k.known for k in failing.values())
    return GroupJudgement(keys, broken, every, known, tuple(breakages))
