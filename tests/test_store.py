"""The store, against its interface: every backend must pass this same suite.

Backend specifics (where the database lives, how to look at it from outside the store) are
in the `Backend` helpers below; the tests themselves only speak `Store`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store import (
    Changes,
    Delivery,
    DeliveryStatus,
    Installation,
    SQLiteStore,
    Store,
    StoredCommit,
    StoreError,
    open_store,
)
from bot.store.codec import alert_from_json, alert_to_json
from bot.store.migrations import LATEST_VERSION
from bot.tracker.model import (
    AlertState,
    CloseReason,
    CommitInfo,
    FailingJob,
    JobKey,
    JobResult,
)

REPO = "pytorch/pytorch"
OTHER = "pytorch/vision"
NOW = 1_700_000_000.0
LEASE = 30.0


# --- backends ------------------------------------------------------------------------------
class Backend(Protocol):
    """A fresh database of one kind, and a way to look into it from outside the store."""

    async def open(self, *, schema_version: int | None = None) -> Store:
        """An opened store, its schema migrated to `schema_version` (default: the newest)."""

    def applied_versions(self) -> dict[int, float]:
        """Schema versions applied, with when, as another connection sees them."""

    def committed_delivery_ids(self) -> set[str]:
        """Delivery ids that another connection sees committed."""

    def pretend_version(self, version: int) -> None:
        """Record a schema version as applied, as a newer trunkwatch would have."""


class SQLiteBackend:
    """A fresh SQLite file under tmp_path, and plain sqlite3 connections to look at it."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "trunkwatch.db"

    async def open(self, *, schema_version: int | None = None) -> Store:
        store: Store
        if schema_version is None:
            store = open_store(f"sqlite:///{self.path}")
        else:
            store = SQLiteStore(self.path, migrate_to=schema_version)
        await store.open()
        return store

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        # A separate connection, as another process would have: it sees only committed data.
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def applied_versions(self) -> dict[int, float]:
        return dict(self._query("SELECT version, applied_at FROM schema_version"))

    def committed_delivery_ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT delivery_id FROM deliveries")}

    def pretend_version(self, version: int) -> None:
        conn = sqlite3.connect(self.path)
        with conn:
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
        conn.close()


BACKENDS: dict[str, Callable[[Path], Backend]] = {"sqlite": SQLiteBackend}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    store = await backend.open()
    yield store
    await store.close()


# --- builders ------------------------------------------------------------------------------
def delivery(delivery_id: str, repo: str = REPO, body: bytes = b"{}", at: float = NOW) -> Delivery:
    event = "installation" if repo == "" else "workflow_run"
    return Delivery(delivery_id, event, repo, 42, body, at)


def commit(sha: str, parent: str | None, branch: str = "main", repo: str = REPO) -> StoredCommit:
    info = CommitInfo(sha, f"Fix {sha} (#1{sha[-1]})", "alice", "2024-05-01T12:00:00Z", "u")
    return StoredCommit(repo, branch, info, parent)


def result(sha: str, job: str = "test (inductor, 1, 2)", **overrides: Any) -> JobResult:
    fields: dict[str, Any] = {
        "repo": REPO,
        "branch": "main",
        "head_sha": sha,
        "workflow": "inductor",
        "job": job,
        "run_id": 9_000_000_000 + sum(map(ord, sha)),  # GitHub ids outgrow 32 bits
        "run_attempt": 1,
        "conclusion": "failure",
        "job_id": 30_000_000_000 + len(job),
        "url": f"https://github.com/{REPO}/actions/runs/1/job/2",
        "completed_at": "2024-05-01T13:00:00Z",
        "delivery_id": "d-run",
    }
    fields.update(overrides)
    return JobResult(**fields)


def alert(alert_id: str = "pytorch/pytorch:main:inductor:1", **overrides: Any) -> AlertState:
    job = FailingJob(
        key=JobKey("inductor", "test (inductor)"),
        streak=3,
        first_failing_sha="c3",
        last_passing_sha=None,
        latest_failed_url="https://github.com/pytorch/pytorch/actions/runs/1/job/2",
        blamelist=("c2", "c3"),
    )
    fields: dict[str, Any] = {
        "alert": alert_id,
        "repo": REPO,
        "branch": "main",
        "group": "inductor",
        "seq": 1,
        "open": True,
        "opened_at": "c5",
        "jobs": (job,),
        "streak": 3,
        "suspects": ("c2", "c3"),
        "suspects_known": False,
    }
    fields.update(overrides)
    return AlertState(**fields)


def changes(
    commits: tuple[StoredCommit, ...] = (),
    results: tuple[JobResult, ...] = (),
    alerts: tuple[AlertState, ...] = (),
) -> Changes:
    out = Changes()
    out.commits.extend(commits)
    out.results.extend(results)
    out.alerts.extend(alerts)
    return out


async def claim(store: Store, at: float = NOW, worker: str = "w1") -> str | None:
    claimed = await store.claim_next(worker, at, LEASE)
    return None if claimed is None else claimed.delivery_id


# --- schema and migrations ---------------------------------------------------------------
async def test_a_new_database_gets_the_newest_schema(store: Store, backend: Backend) -> None:
    assert await store.schema_version() == LATEST_VERSION
    assert sorted(backend.applied_versions()) == list(range(1, LATEST_VERSION + 1))


async def test_an_old_database_is_migrated_and_keeps_its_data(backend: Backend) -> None:
    old = await backend.open(schema_version=1)
    assert await old.schema_version() == 1
    assert await old.add_delivery(delivery("d-old"))
    await old.save_changes(changes(commits=(commit("c1", None),)))
    await old.close()
    first_applied = backend.applied_versions()[1]

    new = await backend.open()
    try:
        assert await new.schema_version() == LATEST_VERSION
        applied = backend.applied_versions()
        assert sorted(applied) == list(range(1, LATEST_VERSION + 1))
        assert applied[1] == first_applied  # only the newer migrations ran
        assert (await new.get_delivery("d-old")) == delivery("d-old")
        assert await new.load_commits(REPO) == [commit("c1", None)]
        await new.save_installation(Installation(7, "pytorch", (REPO,)))
        assert await new.installation_for_repo(REPO) == 7
    finally:
        await new.close()


async def test_reopening_an_up_to_date_database_changes_nothing(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    before = backend.applied_versions()
    store = await backend.open()
    await store.close()
    assert backend.applied_versions() == before


async def test_a_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    backend.pretend_version(LATEST_VERSION + 1)
    with pytest.raises(StoreError, match="newer than this trunkwatch knows"):
        await backend.open()


async def test_a_closed_store_says_so(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.add_delivery(delivery("d-1"))
    with pytest.raises(StoreError, match="not open"):
        await store.load_commits(REPO)


# --- the inbox: dedupe and durability ----------------------------------------------------
async def test_a_repeated_delivery_id_is_refused_and_changes_nothing(store: Store) -> None:
    assert await store.add_delivery(delivery("d-1", body=b'{"first": true}'))
    assert not await store.add_delivery(delivery("d-1", body=b'{"second": true}'))
    stored = await store.get_delivery("d-1")
    assert stored is not None
    assert stored.body == b'{"first": true}'
    assert stored.status is DeliveryStatus.PENDING
    assert (await store.inbox_stats(NOW))[0] == 1


async def test_concurrent_adds_are_deduplicated_within_one_batch(store: Store) -> None:
    assert await store.add_delivery(delivery("d-0"))
    ids = [f"d-{n}" for n in range(40)] + [f"d-{n}" for n in range(10)]
    adds = [delivery(d, body=f'{{"n": {n}}}'.encode()) for n, d in enumerate(ids)]

    added = await asyncio.gather(*(store.add_delivery(d) for d in adds))

    new = [d for d, was_new in zip(adds, added, strict=True) if was_new]
    assert sorted(d.delivery_id for d in new) == sorted(f"d-{n}" for n in range(1, 40))
    for d in new:  # the copy that was accepted is the one kept
        assert await store.get_delivery(d.delivery_id) == d
    assert (await store.inbox_stats(NOW))[0] == 40


async def test_one_bad_delivery_does_not_fail_the_others_added_with_it(store: Store) -> None:
    bad = Delivery("d-bad", None, REPO, 42, b"{}", NOW)  # type: ignore[arg-type]
    good = [delivery(f"d-{n}") for n in range(5)]

    outcomes = await asyncio.gather(
        *(store.add_delivery(d) for d in [*good[:2], bad, *good[2:]]), return_exceptions=True
    )

    assert outcomes[:2] + outcomes[3:] == [True] * 5
    assert isinstance(outcomes[2], StoreError)
    assert await store.get_delivery("d-bad") is None
    assert (await store.inbox_stats(NOW))[0] == 5


async def test_an_added_delivery_is_committed_before_add_returns(
    store: Store, backend: Backend
) -> None:
    body = json.dumps({"action": "completed", "text": "naïve @alice"}).encode()
    await store.add_delivery(delivery("d-durable", body=body))
    assert "d-durable" in backend.committed_delivery_ids()
    stored = await store.get_delivery("d-durable")
    assert stored is not None
    assert stored.body == body


async def test_many_adds_do_not_block_the_event_loop(store: Store) -> None:
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        # Yields at every turn: it ticks whenever the loop is free, and only then.
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    body = b"x" * 16_384  # the size of a typical workflow_run payload
    added = await asyncio.gather(
        *(store.add_delivery(delivery(f"d-{n}", body=body)) for n in range(200))
    )
    finished = time.perf_counter()
    done.set()
    await ticking

    assert all(added)
    # Blocking writes leave the ticker a handful of turns; writes on another thread, thousands.
    assert len([t for t in ticks if started <= t <= finished]) >= 100
    assert max(b - a for a, b in pairwise(ticks)) < 0.1  # and was never held up for long


async def test_inbox_stats_count_unfinished_deliveries_and_the_oldest_age(store: Store) -> None:
    assert await store.inbox_stats(NOW) == (0, 0.0)
    await store.add_delivery(delivery("d-1", at=NOW - 60))
    await store.add_delivery(delivery("d-2", at=NOW - 10))
    assert await store.inbox_stats(NOW) == (2, 60.0)
    await claim(store)
    await store.complete("d-1", Changes())
    assert await store.inbox_stats(NOW) == (1, 10.0)


async def test_done_deliveries_can_be_forgotten_but_dead_ones_are_kept(store: Store) -> None:
    for name in ("d-done", "d-dead", "d-new"):
        await store.add_delivery(
            delivery(name, repo=name, at=NOW - (100 if name != "d-new" else 0))
        )
    await store.claim_next("w1", NOW, LEASE)
    await store.complete("d-done", Changes())
    await store.claim_next("w1", NOW, LEASE)
    await store.fail("d-dead", "boom", None)
    await store.claim_next("w1", NOW, LEASE)
    await store.complete("d-new", Changes())

    assert await store.prune_deliveries(received_before=NOW - 50) == 1
    assert await store.get_delivery("d-done") is None
    assert await store.get_delivery("d-dead") is not None
    assert await store.get_delivery("d-new") is not None


# --- the inbox: claiming -----------------------------------------------------------------
async def test_claims_follow_arrival_order_per_repo_and_run_repos_in_parallel(
    store: Store,
) -> None:
    for d in (
        delivery("a-1"),
        delivery("a-2"),
        delivery("i-1", repo=""),
        delivery("b-1", repo=OTHER),
        delivery("i-2", repo=""),
        delivery("b-2", repo=OTHER),
    ):
        await store.add_delivery(d)

    first = await store.claim_next("w1", NOW, LEASE)
    assert first is not None
    assert first.delivery_id == "a-1"
    assert first.status is DeliveryStatus.PROCESSING
    # a-2 waits for a-1; events without a repository do not wait for each other.
    assert [await claim(store) for _ in range(4)] == ["i-1", "b-1", "i-2", None]

    await store.complete("a-1", Changes())
    assert await claim(store) == "a-2"
    await store.complete("b-1", Changes())
    assert await claim(store) == "b-2"
    assert await claim(store) is None
    assert await store.get_delivery("a-1") == replace(delivery("a-1"), status=DeliveryStatus.DONE)


async def test_a_failed_delivery_blocks_its_repo_until_its_retry(store: Store) -> None:
    await store.add_delivery(delivery("a-1"))
    await store.add_delivery(delivery("a-2"))
    await store.add_delivery(delivery("b-1", repo=OTHER))
    assert await claim(store) == "a-1"
    await store.fail("a-1", "HTTP 502 from GitHub", retry_at=NOW + 60)

    assert await claim(store) == "b-1"
    await store.complete("b-1", Changes())
    assert await claim(store, at=NOW + 59) is None  # a-2 must not overtake a-1

    retried = await store.claim_next("w2", NOW + 60, LEASE)
    assert retried is not None
    assert (retried.delivery_id, retried.attempts) == ("a-1", 1)
    assert retried.last_error == "HTTP 502 from GitHub"
    await store.complete("a-1", Changes())
    assert await claim(store, at=NOW + 60) == "a-2"


async def test_an_expired_lease_can_be_claimed_again(store: Store) -> None:
    await store.add_delivery(delivery("a-1"))
    assert await claim(store, at=NOW, worker="crashed") == "a-1"
    assert await claim(store, at=NOW + LEASE - 1, worker="w2") is None
    assert await claim(store, at=NOW + LEASE, worker="w2") == "a-1"


async def test_a_delivery_that_keeps_failing_is_kept_dead_with_its_error(store: Store) -> None:
    await store.add_delivery(delivery("a-1"))
    await store.add_delivery(delivery("a-2"))
    at = NOW
    for attempt in range(1, 3):
        assert await claim(store, at=at) == "a-1"
        at += 10
        await store.fail("a-1", f"attempt {attempt} failed", retry_at=at)
    assert await claim(store, at=at) == "a-1"
    await store.fail("a-1", "KeyError: 'head_sha'", retry_at=None)

    dead = await store.get_delivery("a-1")
    assert dead is not None
    assert (dead.status, dead.attempts, dead.last_error) == (
        DeliveryStatus.DEAD,
        3,
        "KeyError: 'head_sha'",
    )
    assert [d.delivery_id for d in await store.dead_deliveries()] == ["a-1"]
    assert await claim(store, at=at) == "a-2"  # a dead delivery no longer blocks its repo
    assert (await store.inbox_stats(at))[0] == 1


async def test_unknown_deliveries_cannot_be_completed_or_failed(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.complete("nope", Changes())
    with pytest.raises(StoreError):
        await store.fail("nope", "boom", None)


async def test_a_late_failure_does_not_reopen_a_finished_delivery(store: Store) -> None:
    await store.add_delivery(delivery("a-1"))
    await claim(store, worker="slow")
    await claim(store, at=NOW + LEASE, worker="fast")
    await store.complete("a-1", Changes())
    await store.fail("a-1", "the slow worker gave up", retry_at=NOW + 100)
    done = await store.get_delivery("a-1")
    assert done is not None
    assert done.status is DeliveryStatus.DONE


# --- completing: changes written atomically ----------------------------------------------
async def test_complete_writes_the_changes_and_finishes_the_delivery(store: Store) -> None:
    await store.add_delivery(delivery("d-1"))
    await claim(store)
    written = changes((commit("c1", "c0"),), (result("c1"),), (alert(),))
    await store.complete("d-1", written)

    assert await store.load_commits(REPO) == written.commits
    assert await store.load_results(REPO) == written.results
    assert await store.load_alerts(REPO) == written.alerts
    finished = await store.get_delivery("d-1")
    assert finished is not None
    assert finished.status is DeliveryStatus.DONE


async def test_a_failing_complete_writes_nothing_and_the_delivery_stays_claimable(
    store: Store,
) -> None:
    await store.add_delivery(delivery("d-1"))
    await claim(store)
    broken = changes(
        (commit("c1", "c0"),),
        (result("c1"),),
        # The last write violates NOT NULL: everything before it must be undone.
        (alert(), alert(alert_id=None)),  # type: ignore[arg-type]
    )
    with pytest.raises(StoreError):
        await store.complete("d-1", broken)

    assert await store.load_commits(REPO) == []
    assert await store.load_results(REPO) == []
    assert await store.load_alerts(REPO) == []
    still = await store.get_delivery("d-1")
    assert still is not None
    assert still.status is DeliveryStatus.PROCESSING
    assert await claim(store, at=NOW + LEASE, worker="w2") == "d-1"
    await store.complete("d-1", changes((commit("c1", "c0"),)))
    assert len(await store.load_commits(REPO)) == 1


# --- trunk facts ---------------------------------------------------------------------------
async def test_commits_come_back_in_recording_order_per_branch(store: Store) -> None:
    main = [commit("c3", "c2"), commit("c1", None), commit("c2", "c1")]
    release = [commit("r1", "c1", branch="release/2.4")]
    other = [commit("o1", None, repo=OTHER)]
    await store.save_changes(changes((main[0], release[0], main[1], other[0], main[2])))

    assert await store.load_commits(REPO, "main") == main
    assert await store.load_commits(REPO, "release/2.4") == release
    assert await store.load_commits(REPO) == [main[0], release[0], main[1], main[2]]
    assert await store.load_commits(OTHER) == other


async def test_results_and_alerts_round_trip_exactly(store: Store) -> None:
    results = (
        result("c1"),
        result("c1", job="", job_id=0, conclusion=None, url="", completed_at=""),
        result("c1", run_attempt=2, conclusion="success"),
        result("c2", repo=OTHER),
    )
    alerts = (
        alert(),
        alert(
            alert_id="pytorch/pytorch:main:inductor:0",
            seq=0,
            open=False,
            closed_at="c9",
            reason=CloseReason.FLAKY,
            jobs=(),
            suspects=(),
            suspects_known=True,
            last_green="c0",
        ),
        alert(alert_id="vision:1", repo=OTHER, group="vision `@team`"),
    )
    await store.save_changes(changes(results=results, alerts=alerts))

    assert await store.load_results(REPO) == list(results[:3])
    assert await store.load_results(OTHER) == [results[3]]
    assert await store.load_alerts(REPO) == [alerts[1], alerts[0]]  # by branch, group, seq
    assert await store.load_alerts(OTHER) == [alerts[2]]


async def test_saving_the_same_facts_again_changes_nothing(store: Store) -> None:
    facts = changes((commit("c1", "c0"), commit("c2", "c1")), (result("c1"),), (alert(),))
    await store.save_changes(facts)
    await store.save_changes(facts)

    assert await store.load_commits(REPO) == facts.commits
    assert await store.load_results(REPO) == facts.results
    assert await store.load_alerts(REPO) == facts.alerts


async def test_saving_again_updates_in_place(store: Store) -> None:
    await store.save_changes(
        changes((commit("c1", "c0"), commit("c2", "c1")), (result("c1"),), (alert(),))
    )
    closed = alert(open=False, closed_at="c7", reason=CloseReason.RECOVERED)
    rerun = result("c1", conclusion="success", delivery_id="d-again")
    known_less = StoredCommit(REPO, "main", CommitInfo("c1"), None)
    await store.save_changes(changes((known_less,), (rerun,), (closed,)))

    # What was known of a commit is not forgotten by a sparser record; it keeps its place.
    assert await store.load_commits(REPO) == [commit("c1", "c0"), commit("c2", "c1")]
    assert await store.load_results(REPO) == [rerun]
    assert await store.load_alerts(REPO) == [closed]


async def test_prune_drops_old_commits_of_one_branch_with_their_results(store: Store) -> None:
    main = [commit(f"c{n}", f"c{n - 1}") for n in range(1, 6)]
    on_release = commit("c1", None, branch="release")
    unplaced = result("x9")  # a result whose commit's place is not known yet
    await store.save_changes(
        changes(
            (*main, on_release),
            (*(result(c.commit.sha) for c in main), result("c1", branch="release"), unplaced),
        )
    )

    assert await store.prune(REPO, "main", ["c4", "c5"]) == 3

    assert await store.load_commits(REPO, "main") == main[3:]
    assert await store.load_commits(REPO, "release") == [on_release]
    assert sorted((r.branch, r.head_sha) for r in await store.load_results(REPO)) == [
        ("main", "c4"),
        ("main", "c5"),
        ("main", "x9"),
        ("release", "c1"),
    ]
    assert await store.prune(REPO, "main", ["c4", "c5"]) == 0


# --- installations and state ---------------------------------------------------------------
async def test_installations_are_saved_replaced_and_deleted(store: Store) -> None:
    pytorch = Installation(7, "pytorch", (REPO, OTHER))
    alice = Installation(8, "alice", ("alice/dotfiles",))
    await store.save_installation(pytorch)
    await store.save_installation(alice)
    assert await store.installations() == [pytorch, alice]
    assert await store.installation_for_repo(OTHER) == 7
    assert await store.installation_for_repo("nobody/nothing") is None

    narrowed = Installation(7, "pytorch", (REPO,))
    await store.save_installation(narrowed)
    assert await store.installations() == [narrowed, alice]
    assert await store.installation_for_repo(OTHER) is None

    await store.save_installation(Installation(7, "pytorch", (REPO,), suspended=True))
    assert await store.installation_for_repo(REPO) is None  # a suspended one cannot act

    await store.delete_installation(7)
    assert await store.installations() == [alice]
    assert await store.installation_for_repo(REPO) is None


async def test_state_holds_json_values_per_namespace(store: Store) -> None:
    assert await store.get_state("alert_issue", REPO) is None
    value = {"number": 123, "labels": ["ci: alert"], "open": True, "ratio": 0.5}
    await store.put_state("alert_issue", REPO, value)
    await store.put_state("job_events", REPO, True)
    assert await store.get_state("alert_issue", REPO) == value
    assert await store.get_state("job_events", REPO) is True

    await store.put_state("alert_issue", REPO, [1, 2])
    assert await store.get_state("alert_issue", REPO) == [1, 2]
    await store.put_state("alert_issue", REPO, None)
    assert await store.get_state("alert_issue", REPO) is None
    assert await store.get_state("job_events", REPO) is True


# --- the codec and the URL ---------------------------------------------------------------
_text = st.text(max_size=12)
_failing_jobs = st.builds(
    FailingJob,
    key=st.builds(JobKey, _text, _text),
    streak=st.integers(0, 10**6),
    first_failing_sha=_text,
    last_passing_sha=st.none() | _text,
    latest_failed_url=_text,
    blamelist=st.lists(_text, max_size=4).map(tuple),
)
_alerts = st.builds(
    AlertState,
    alert=_text,
    repo=_text,
    branch=_text,
    group=_text,
    seq=st.integers(0, 10**6),
    open=st.booleans(),
    opened_at=_text,
    closed_at=st.none() | _text,
    reason=st.none() | st.sampled_from(CloseReason),
    jobs=st.lists(_failing_jobs, max_size=3).map(tuple),
    streak=st.integers(0, 10**6),
    suspects=st.lists(_text, max_size=4).map(tuple),
    suspects_known=st.booleans(),
    last_green=st.none() | _text,
)


@given(_alerts)
def test_alerts_survive_the_json_round_trip(state: AlertState) -> None:
    assert alert_from_json(json.loads(json.dumps(alert_to_json(state)))) == state


def test_malformed_alert_json_is_an_error() -> None:
    data = alert_to_json(alert())
    data["jobs"][0]["streak"] = "3"
    with pytest.raises(ValueError, match="streak"):
        alert_from_json(data)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///trunkwatch.db", "trunkwatch.db"),
        ("sqlite:///data/trunkwatch.db", "data/trunkwatch.db"),
        ("sqlite:////var/lib/trunkwatch/trunkwatch.db", "/var/lib/trunkwatch/trunkwatch.db"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_their_file(url: str, path: str) -> None:
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path


def test_postgresql_urls_are_not_supported_yet() -> None:
    with pytest.raises(ValueError, match="PostgreSQL support is not built yet"):
        open_store("postgresql://trunkwatch@db/trunkwatch")


@pytest.mark.parametrize("url", ["mysql://db/x", "trunkwatch.db", "sqlite://", "sqlite:///"])
def test_other_urls_are_refused_naming_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:////absolute/path\.db"):
        open_store(url)


async def test_an_in_memory_store_works() -> None:
    store = open_store("sqlite://:memory:")
    await store.open()
    try:
        assert await store.add_delivery(delivery("d-1"))
        assert await claim(store) == "d-1"
    finally:
        await store.close()
