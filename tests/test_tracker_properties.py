"""Properties of the tracker that must hold whatever order the facts arrive in.

Why the live run is not compared decision by decision for *any* permutation: a live tracker
decides on the facts it has. When a fact that rewrites history arrives late (a rerun that
passes, a pass that fills a gap inside a streak, a second job failing on the same commit),
the earlier decision cannot be taken back: an alert opened on a partial history is updated
or withdrawn, never un-sent, and its OPEN said what was known then. So:

- (a) the *history* decides: any permutation of the facts, loaded and evaluated together,
  gives exactly the same decisions and alert states; a live run in any order ends with the
  same open alert (jobs, streaks, suspects) as that; and a live run whose facts arrive with
  pushes late, early, out of order or repeated gives the same OPEN/CLOSE decisions (same
  `at`, `delivery_id`, suspects) and final alerts as the history. UPDATEs differ in number
  across orders because each one reports the newest commit *as of its arrival*: one fact at
  a time gives one UPDATE per changed streak, a batch of them gives one.
- (b) a fact applied twice changes nothing;
- (c) a job that fails once and passes on a rerun never opens an alert;
- (d) a restart (load + evaluate with the alert states recorded so far) then the remaining
  facts gives exactly the decisions of an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.tracker import RepoTracker
from bot.tracker.model import (
    AlertState,
    CommitInfo,
    Decision,
    DecisionKind,
    GroupRule,
    JobResult,
    Push,
    TrackerConfig,
)

REPO = "pytorch/pytorch"
NULL = "0" * 40
NAMES = (
    "linux-jammy-rocm-py3.10 / build",
    "linux-jammy-rocm-py3.10 / test (default, 1, 2, linux.rocm.gpu.2)",
    "linux-jammy-rocm-py3.10 / test (default, 2, 2, linux.rocm.gpu.2)",
    "inductor / test (inductor_torchbench, 1, 1, linux.g5.4xlarge)",
)
CONCLUSIONS = ("success", "success", "failure", "failure", "timed_out", "cancelled", "skipped")
FAST = settings(max_examples=150, deadline=None)

Fact = Push | JobResult


@dataclass(frozen=True)
class Scenario:
    config: TrackerConfig
    pushes: tuple[Push, ...]
    results: tuple[JobResult, ...]

    @property
    def facts(self) -> list[Fact]:
        return [*self.pushes, *self.results]


def sha(i: int) -> str:
    return f"{i + 1:040x}"


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    reruns: bool = True,
    names: tuple[str, ...] = NAMES,
    run_level: bool = True,
    simple_config: bool = False,
) -> Scenario:
    n = draw(st.integers(2, 9))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1)))
    pushes = []
    for first, end in zip([0, *cuts], [*cuts, n], strict=True):
        commits = tuple(
            CommitInfo(sha(i), timestamp=f"2025-01-01T00:00:{i:02d}Z") for i in range(first, end)
        )
        before = sha(first - 1) if first else NULL
        pushes.append(
            Push(REPO, "main", before, sha(end - 1), commits, delivery_id=f"push-{first}")
        )
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    results: list[JobResult] = []
    for i in range(n):
        for job_id, name in enumerate(chosen):
            attempts = draw(st.lists(st.sampled_from(CONCLUSIONS), max_size=2 if reruns else 1))
            for attempt, conclusion in enumerate(attempts, 1):
                results.append(
                    JobResult(
                        REPO,
                        "main",
                        sha(i),
                        "trunk",
                        name,
                        100 + i,
                        attempt,
                        conclusion,
                        job_id,
                        delivery_id=f"d-{i}-{job_id}-{attempt}",
                    )
                )
        if run_level and draw(st.booleans()):
            conclusion = draw(st.sampled_from(("success", "failure")))
            run = 100 + i if draw(st.booleans()) else 500 + i  # with or without job results
            results.append(
                JobResult(
                    REPO, "main", sha(i), "trunk", "", run, 1, conclusion, delivery_id=f"run-{i}"
                )
            )
    if simple_config:
        threshold, minimum, recovery = draw(st.integers(1, 3)), 1, 1
    else:
        threshold = draw(st.integers(1, 3))
        minimum = draw(st.integers(1, 2))
        recovery = draw(st.integers(1, 2))
    config = TrackerConfig(
        groups=(
            GroupRule("all", threshold=threshold, min_failing_jobs=minimum),
            GroupRule("rocm", jobs=("*rocm*",), threshold=threshold),
        ),
        recovery_passes=recovery,
    )
    return Scenario(config, tuple(pushes), tuple(results))


def live(config: TrackerConfig, facts: list[Fact]) -> tuple[RepoTracker, list[Decision]]:
    tracker = RepoTracker(REPO, config)
    decisions: list[Decision] = []
    for fact in facts:
        decisions += tracker.apply(fact)
    return tracker, decisions


def batch(config: TrackerConfig, facts: list[Fact]) -> tuple[RepoTracker, list[Decision]]:
    tracker = RepoTracker(REPO, config)
    tracker.load(
        [f for f in facts if isinstance(f, Push)], [f for f in facts if isinstance(f, JobResult)]
    )
    return tracker, tracker.evaluate()


def triples(pushes: list[Push]) -> list[tuple[str, CommitInfo, str | None]]:
    """Pushes as the store keeps their commits."""
    out: list[tuple[str, CommitInfo, str | None]] = []
    for p in pushes:
        parent: str | None = p.before
        for c in p.commits:
            out.append((p.branch, c, parent))
            parent = c.sha
    return out


def open_or_close(decisions: list[Decision]) -> list[tuple[object, ...]]:
    """OPEN and CLOSE decisions per alert (groups decide independently of each other)."""
    chosen = sorted(
        (d for d in decisions if d.kind is not DecisionKind.UPDATE),
        key=lambda d: (d.alert, d.kind is DecisionKind.CLOSE),
    )
    return [
        (
            d.kind,
            d.alert,
            d.at,
            d.delivery_id,
            d.suspects,
            d.suspects_known,
            d.reason,
            d.recovered_by,
        )
        for d in chosen
    ]


def open_content(alerts: list[AlertState]) -> list[tuple[object, ...]]:
    return [
        (
            a.branch,
            a.group,
            [(j.key, j.streak) for j in a.jobs],
            a.suspects,
            a.suspects_known,
            a.last_green,
        )
        for a in alerts
        if a.open
    ]


# -- (a) order independence ------------------------------------------------------------------


@FAST
@given(st.data())
def test_any_permutation_evaluated_together_decides_the_same(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    shuffled = data.draw(st.permutations(scenario.facts))
    reference, expected = batch(scenario.config, scenario.facts)
    tracker, decisions = batch(scenario.config, shuffled)
    assert decisions == expected
    assert tracker.alerts() == reference.alerts()


@FAST
@given(st.data())
def test_a_live_run_in_any_order_ends_with_the_same_open_alert(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(simple_config=True))
    shuffled = data.draw(st.permutations(scenario.facts))
    reference, _ = batch(scenario.config, scenario.facts)
    tracker, _ = live(scenario.config, shuffled)
    assert open_content(tracker.alerts()) == open_content(reference.alerts())


@st.composite
def deliveries(draw: st.DrawFn, scenario: Scenario) -> list[Fact]:
    """Results in trunk order; each push early, late (after its commits' results), out of
    order with its neighbours, or repeated: never after results of a later push."""
    slots: list[tuple[float, int, Fact]] = []
    for n, result in enumerate(scenario.results):
        slots.append((int(result.head_sha, 16), n, result))
    for n, p in enumerate(scenario.pushes):
        first, last = int(p.commits[0].sha, 16), int(p.commits[-1].sha, 16)
        previous = int(scenario.pushes[n - 1].commits[0].sha, 16) if n else 0
        when = draw(st.floats(min_value=previous - 0.5, max_value=last + 0.5))
        slots.append((max(when, first - 1.5) if when < first - 0.5 else when, -1, p))
        if draw(st.integers(0, 4)) == 0:
            slots.append((draw(st.floats(min_value=last + 0.5, max_value=99)), -1, p))
    for n, result in enumerate(scenario.results):
        if draw(st.integers(0, 6)) == 0:
            slots.append((int(result.head_sha, 16) + 0.25, n, result))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    return [fact for _, _, fact in slots]


@FAST
@given(st.data())
def test_late_early_and_repeated_pushes_decide_as_the_history_does(data: st.DataObject) -> None:
    # One job key, one attempt per commit: no fact here rewrites what an earlier one said.
    scenario = data.draw(scenarios(reruns=False, names=NAMES[:1], run_level=False))
    order = data.draw(deliveries(scenario))
    reference, expected = batch(scenario.config, scenario.facts)
    tracker, decisions = live(scenario.config, order)
    assert open_or_close(decisions) == open_or_close(expected)
    assert open_content(tracker.alerts()) == open_content(reference.alerts())
    assert [(a.alert, a.open, a.reason) for a in tracker.alerts()] == [
        (a.alert, a.open, a.reason) for a in reference.alerts()
    ]


# -- (b) repeats --------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_a_fact_applied_twice_changes_nothing(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    shuffled = data.draw(st.permutations(scenario.facts))
    tracker = RepoTracker(REPO, scenario.config)
    for fact in shuffled:
        tracker.apply(fact)
        before = tracker.alerts()
        assert tracker.apply(fact) == []
        assert tracker.alerts() == before
    again = data.draw(st.sampled_from(shuffled))
    before = tracker.alerts()
    assert tracker.apply(again) == []
    assert tracker.alerts() == before


# -- (c) flakes -----------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_a_job_that_fails_once_and_passes_on_rerun_never_alerts(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 8))
    names = data.draw(st.lists(st.sampled_from((NAMES[0], NAMES[3])), min_size=1, unique=True))
    threshold = data.draw(st.integers(2, 4))
    facts: list[Fact] = [
        Push(REPO, "main", NULL, sha(n - 1), tuple(CommitInfo(sha(i)) for i in range(n)))
    ]
    flaky_at = {name: data.draw(st.integers(0, n - 1)) for name in names}
    for i in range(n):
        for job_id, name in enumerate(names):
            attempts = ["failure", "success"] if flaky_at[name] == i else ["success"]
            for attempt, conclusion in enumerate(attempts, 1):
                facts.append(
                    JobResult(
                        REPO,
                        "main",
                        sha(i),
                        "trunk",
                        name,
                        100 + i,
                        attempt,
                        conclusion,
                        job_id,
                        delivery_id=f"d-{i}-{job_id}-{attempt}",
                    )
                )
    config = TrackerConfig(groups=(GroupRule("all", threshold=threshold),))
    tracker, decisions = live(config, data.draw(st.permutations(facts)))
    assert decisions == []
    assert sum(j.flakes for j in tracker.group_status("main", "all").jobs) == len(names)


# -- (d) restarts ---------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_a_restart_decides_exactly_what_a_live_run_does(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    shuffled = data.draw(st.permutations(scenario.facts))
    cut = data.draw(st.integers(0, len(shuffled)))
    tracker = RepoTracker(REPO, scenario.config)
    decisions: list[Decision] = []
    recorded: list[AlertState] = []
    for n, fact in enumerate(shuffled):
        if n == cut:
            recorded = tracker.alerts()
        decisions += tracker.apply(fact)
    if cut == len(shuffled):
        recorded = tracker.alerts()
    prefix_decisions = live(scenario.config, shuffled[:cut])[1]

    restarted = RepoTracker(REPO, scenario.config, recorded)
    prefix = shuffled[:cut]
    restarted.load(
        triples([f for f in prefix if isinstance(f, Push)]),
        [f for f in prefix if isinstance(f, JobResult)],
    )
    assert restarted.evaluate() == []
    rest: list[Decision] = []
    for fact in shuffled[cut:]:
        rest += restarted.apply(fact)
    assert prefix_decisions + rest == decisions
    assert restarted.alerts() == tracker.alerts()
