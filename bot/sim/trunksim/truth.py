"""A generated trunk's truth: when its pushes land, its real breakages, its runner outages."""

from __future__ import annotations

import random

from bot.sim.trunksim.model import Breakage, Knobs
from bot.sim.trunksim.workflows import Suite, normalized


def schedule(knobs: Knobs) -> tuple[list[list[int]], list[float]]:
    """The pushes (the commits each holds) and the minute each commit was pushed, from
    their own random stream, so that the rest of the plan does not move them."""
    rng = random.Random(f"{knobs.seed}/pushes")
    pushes: list[list[int]] = []
    pushed_at = [0.0] * knobs.commits
    now, index = 0.0, 0
    low, high = knobs.stack
    while index < knobs.commits:
        size = min(rng.randint(low, high), knobs.commits - index)
        now += rng.expovariate(1 / knobs.push_gap_minutes)
        commits = list(range(index, index + size))
        pushes.append(commits)
        for i in commits:
            pushed_at[i] = now
        index += size
    return pushes, pushed_at


def breakages(knobs: Knobs, rng: random.Random, pushed_at: list[float]) -> list[Breakage]:
    """The real breakages: spread out, and in turn over the workflows (one per group at a
    time), each a suite, a build or a few scattered jobs."""
    k, n = knobs, knobs.commits
    found: list[Breakage] = []
    spacing = max(1, (n - 90) // max(1, k.breakages))
    slots = [30 + i * spacing + rng.randrange(max(1, spacing - 45)) for i in range(k.breakages)]
    kinds = ("suite", "build", "scattered")
    groups = sorted(w for w in k.workflows if w != "lint")
    rng.shuffle(groups)
    for number, culprit in enumerate(slots):
        kind = kinds[number % 3]
        workflow = groups[number % len(groups)]
        suite = rng.choice(k.workflows[workflow])
        if kind == "suite" and suite.tests:
            config, shards = rng.choice(suite.tests)
            jobs = {
                f"{suite.build} / test ({config}, {s}, {shards}, {suite.runner})"
                for s in range(1, shards + 1)
            }
        elif kind == "build" or not suite.tests:
            kind, jobs = "build", {f"{suite.build} / build"}
        else:
            every = [j for s in k.workflows[workflow] for j in s.jobs() if "/ build" not in j]
            jobs = set(rng.sample(every, min(3, len(every))))
        fix = _fix(knobs, rng, pushed_at, culprit)
        keys = frozenset(f"{workflow} / {normalized(j)}" for j in jobs)
        found.append(Breakage(kind, workflow, culprit, fix, frozenset(jobs), keys))
        if k.overlap and fix - culprit > 20:
            found.append(_second(knobs, rng, pushed_at, found[-1], suite))
    return found


def _second(
    knobs: Knobs, rng: random.Random, pushed_at: list[float], first: Breakage, suite: Suite
) -> Breakage:
    """Another breakage of the same group from a later culprit while `first` is red:
    a test suite of another build (or another suite of the same), disjoint jobs."""
    culprit = rng.randint(first.culprit + 10, first.fix - 10)
    others = [s for s in knobs.workflows[first.workflow] if s is not suite and s.tests]
    pick = rng.choice(others) if others else suite
    config, shards = rng.choice(pick.tests)
    jobs = {
        f"{pick.build} / test ({config}, {n}, {shards}, {pick.runner})"
        for n in range(1, shards + 1)
    } - first.jobs
    if first.kind == "build":  # its tests are skipped while its build fails
        jobs = {j for j in jobs if not j.startswith(f"{suite.build} /")}
    keys = frozenset(f"{first.workflow} / {normalized(j)}" for j in jobs)
    fix = _fix(knobs, rng, pushed_at, culprit)
    return Breakage("suite", first.workflow, culprit, fix, frozenset(jobs), keys)


def _fix(knobs: Knobs, rng: random.Random, pushed_at: list[float], culprit: int) -> int:
    n = knobs.commits
    if knobs.fix_commits is not None:
        return min(n, culprit + rng.randint(*knobs.fix_commits))
    when = pushed_at[culprit] + rng.uniform(*knobs.fix_minutes)
    later = (i for i in range(culprit + 1, n) if pushed_at[i] >= when)
    return next(later, n)


def outages(knobs: Knobs, rng: random.Random) -> dict[int, tuple[str, bool]]:
    """commit → (runner type, whether its jobs fail before their first step)."""
    runners = sorted({s.runner for suites in knobs.workflows.values() for s in suites})
    picks = rng.sample(range(5, knobs.commits - 5), knobs.outages)
    return {i: (rng.choice(runners), rng.random() < 0.5) for i in picks}
