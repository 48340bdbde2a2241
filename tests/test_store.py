"""The store, against its interface: every backend must pass this same suite.

Backend specifics (where the database lives, how to look at it from outside the store) are
in the `Backend` helpers below; the tests themselves only speak `Store`.

PostgreSQL: `TRUNKWATCH_TEST_POSTGRES` names a server database (default: the local `test`)
from which each test creates a database of its own, dropped after. When the server cannot be
reached, the PostgreSQL tests are skipped, or fail when `CI` is set.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store import (
    Changes,
    Delivery,
    DeliveryStatus,
    Installation,
    PostgresStore,
    SQLiteStore,
    Store,
    StoredCommit,
    StoreError,
    open_store,
)
from bot.store.codec import alert_from_json, alert_to_json
from bot.store.migrations import LATEST_VERSION
from bot.store.postgres_rows import redact
from bot.tracker.model import (
    AlertState,
    Breakage,
    CloseReason,
    CommitInfo,
    CulpritStatus,
    Evidence,
    FailingJob,
    JobKey,
    JobResult,
    Probe,
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


T = TypeVar("T")

POSTGRES_DSN = os.environ.get(
    "TRUNKWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a loop of its own, in another thread: how the Backend's
    plain methods look at PostgreSQL from outside the store and the test's event loop."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(lambda: asyncio.run(make())).result()


@functools.cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        await conn.close()

    try:
        blocking(probe)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"PostgreSQL at {redact(POSTGRES_DSN)} (TRUNKWATCH_TEST_POSTGRES): {exc!r}"
    return None


class PostgresBackend:
    """A database of its own on the test server, created now and dropped by `drop`."""

    def __init__(self) -> None:
        self.name = f"trunkwatch_test_{uuid.uuid4().hex[:16]}"
        server = urllib.parse.urlsplit(POSTGRES_DSN)
        self.dsn = urllib.parse.urlunsplit(server._replace(path=f"/{self.name}"))
        blocking(lambda: self._on_server(f'CREATE DATABASE "{self.name}"'))

    def drop(self) -> None:
        blocking(lambda: self._on_server(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def open(self, *, schema_version: int | None = None) -> Store:
        store: Store
        if schema_version is None:
            store = open_store(self.dsn)
        else:
            store = PostgresStore(self.dsn, migrate_to=schema_version)
        await store.open()
        return store

    @staticmethod
    async def _on_server(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async def query() -> list[tuple[Any, ...]]:
            # A separate connection, as another replica would have: it sees only commits.
            conn = await asyncpg.connect(self.dsn)
            try:
                return [tuple(row) for row in await conn.fetch(sql, *params)]
            finally:
                await conn.close()

        return blocking(query)

    def applied_versions(self) -> dict[int, float]:
        return dict(self._query("SELECT version, applied_at FROM schema_version"))

    def committed_delivery_ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT delivery_id FROM deliveries")}

    def pretend_version(self, version: int) -> None:
        self._query("INSERT INTO schema_version VALUES ($1, $2)", version, time.time())


def fresh_postgres() -> Iterator[PostgresBackend]:
    reason = postgres_unreachable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    backend = PostgresBackend()
    try:
        yield backend
    finally:
        backend.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "postgresql":
        yield from fresh_postgres()
    else:
        yield SQLiteBackend(tmp_path)


@pytest.fixture
def postgres() -> Iterator[PostgresBackend]:
    """For the tests of what only a shared database does: several replicas at once."""
    yield from fresh_postgres()


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
    # (How long the loop is held up at most: bench/bounds.py.)
    assert len([t for t in ticks if started <= t <= finished]) >= 100


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
    assert await store.load_results_for(REPO, ["c1", "nope"]) == list(results[:3])
    assert await store.load_results_for(REPO, []) == []
    assert await store.load_results_for(OTHER, ["c1"]) == []
    assert await store.load_alerts(REPO) == [alerts[1], alerts[0]]  # by branch, group, seq
    assert await store.load_alerts(OTHER) == [alerts[2]]
    assert await store.open_alerts() == sorted(
        [alerts[0], alerts[2]], key=lambda a: (a.repo, a.branch, a.group, a.seq)
    )


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


# --- repository versions -------------------------------------------------------------------
async def test_every_write_of_a_repos_facts_bumps_its_version_once(store: Store) -> None:
    assert await store.repo_version(REPO) == 0
    await store.save_changes(
        changes((commit("c1", "c0"), commit("o1", None, repo=OTHER)), (result("c1"),))
    )
    assert (await store.repo_version(REPO), await store.repo_version(OTHER)) == (1, 1)
    await store.save_changes(changes(alerts=(alert(),)))
    assert (await store.repo_version(REPO), await store.repo_version(OTHER)) == (2, 1)

    await store.add_delivery(delivery("d-1"))
    await store.add_delivery(delivery("d-2"))
    await claim(store)
    await store.complete("d-1", Changes())  # wrote nothing
    assert await store.repo_version(REPO) == 2
    await claim(store)
    await store.complete("d-2", changes((commit("c2", "c1"),)))
    assert await store.repo_version(REPO) == 3

    assert await store.prune(REPO, "main", ["c1", "c2"]) == 0
    assert await store.repo_version(REPO) == 3
    assert await store.prune(REPO, "main", ["c2"]) == 1
    assert await store.repo_version(REPO) == 4


async def test_a_failed_write_does_not_bump_the_version(store: Store) -> None:
    await store.add_delivery(delivery("d-1"))
    await claim(store)
    broken = changes((commit("c1", "c0"),), alerts=(alert(alert_id=None),))  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.complete("d-1", broken)
    with pytest.raises(StoreError):
        await store.save_changes(broken)
    assert await store.repo_version(REPO) == 0


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
_keys = st.builds(JobKey, _text, _text)
_breakages = st.builds(
    Breakage,
    jobs=st.lists(_keys, max_size=3).map(tuple),
    suspects=st.lists(_text, max_size=4).map(tuple),
    first_failure=_text,
    suspects_known=st.booleans(),
    status=st.sampled_from(CulpritStatus),
    culprit=st.none() | _text,
    evidence=st.lists(
        st.builds(Evidence, _text, _keys, st.lists(_text, max_size=3).map(tuple), _text),
        max_size=2,
    ).map(tuple),
    wanted=st.lists(
        st.builds(Probe, _text, _text, _text, _text, st.integers(0, 2**40), st.integers(0, 9)),
        max_size=2,
    ).map(tuple),
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
    pending=st.lists(_text, max_size=2).map(tuple),
    provisional=st.booleans(),
    breakages=st.lists(_breakages, max_size=2).map(tuple),
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


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://trunkwatch:s3cret@db:5432/trunkwatch",
        "postgres://trunkwatch:s3cret@db:5432/trunkwatch",
        "postgresql+asyncpg://trunkwatch:s3cret@db:5432/trunkwatch",
    ],
)
def test_postgresql_urls_open_a_postgres_store(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.dsn == "postgresql://trunkwatch:s3cret@db:5432/trunkwatch"
    assert "s3cret" not in repr(store)


async def test_an_unreachable_postgres_is_a_store_error() -> None:
    store = PostgresStore("postgresql://nobody:s3cret@127.0.0.1:1/nothing")
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1/nothing") as raised:
        await store.open()
    assert "s3cret" not in str(raised.value)


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


# --- several replicas on one PostgreSQL database -------------------------------------------
async def replicas(postgres: PostgresBackend, count: int = 2) -> list[Store]:
    """Stores with pools of their own, as separate `serve` processes would have."""
    return [await postgres.open() for _ in range(count)]


async def close_all(stores: list[Store]) -> None:
    await asyncio.gather(*(store.close() for store in stores))


async def test_replicas_starting_at_once_apply_each_migration_once(
    postgres: PostgresBackend,
) -> None:
    stores = [PostgresStore(postgres.dsn) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert [await store.schema_version() for store in stores] == [LATEST_VERSION] * 4
        assert sorted(postgres.applied_versions()) == list(range(1, LATEST_VERSION + 1))
    finally:
        await close_all(list(stores))


async def test_concurrent_claims_hand_out_one_delivery_per_repo_and_none_twice(
    postgres: PostgresBackend,
) -> None:
    stores = await replicas(postgres)
    try:
        repos = [f"org/repo-{n}" for n in range(6)]
        for k in range(3):
            for repo in repos:
                await stores[k % 2].add_delivery(delivery(f"{repo}#{k}", repo=repo))
        for k in range(4):
            await stores[k % 2].add_delivery(delivery(f"installation#{k}", repo=""))

        claimed = await asyncio.gather(
            *(stores[n % 2].claim_next(f"w{n}", NOW, LEASE) for n in range(40))
        )

        ids = [d.delivery_id for d in claimed if d is not None]
        assert sorted(ids) == sorted(
            [f"{repo}#0" for repo in repos] + [f"installation#{k}" for k in range(4)]
        )
    finally:
        await close_all(stores)


async def test_an_expired_claim_is_taken_over_by_exactly_one_replica(
    postgres: PostgresBackend,
) -> None:
    stores = await replicas(postgres)
    try:
        await stores[0].add_delivery(delivery("a-1"))
        assert await claim(stores[0], worker="died") == "a-1"
        takeovers = await asyncio.gather(
            *(claim(stores[n % 2], at=NOW + LEASE, worker=f"w{n}") for n in range(20))
        )
        assert [t for t in takeovers if t is not None] == ["a-1"]
    finally:
        await close_all(stores)


async def test_replicas_working_the_inbox_never_process_one_repo_at_once(
    postgres: PostgresBackend,
) -> None:
    stores = await replicas(postgres)
    repos = [f"org/repo-{n}" for n in range(4)]
    arrivals: dict[str, list[str]] = {repo: [] for repo in repos}
    for k in range(6):  # one wave per position, so each repository's order is known
        wave = [(repo, f"{repo}#{k}") for repo in repos]
        await asyncio.gather(
            *(
                stores[n % 2].add_delivery(delivery(d, repo=repo))
                for n, (repo, d) in enumerate(wave)
            )
        )
        for repo, d in wave:
            arrivals[repo].append(d)
    total = sum(map(len, arrivals.values()))
    busy: set[str] = set()
    handed: dict[str, list[str]] = {repo: [] for repo in repos}
    finished: list[str] = []

    async def worker(store: Store, name: str) -> None:
        while len(finished) < total:
            claimed = await store.claim_next(name, NOW, LEASE)
            if claimed is None:
                await asyncio.sleep(0.001)
                continue
            assert claimed.repo not in busy, f"{claimed.delivery_id} while its repo is busy"
            busy.add(claimed.repo)
            handed[claimed.repo].append(claimed.delivery_id)
            await asyncio.sleep(0.002)  # the work, while the other workers keep claiming
            busy.discard(claimed.repo)  # before complete: the next claim may follow it at once
            await store.complete(claimed.delivery_id, Changes())
            finished.append(claimed.delivery_id)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker(stores[n % 2], f"w{n}") for n in range(8))), timeout=60
        )
        assert sorted(finished) == sorted(d for ds in arrivals.values() for d in ds)
        assert handed == arrivals
    finally:
        await close_all(stores)


async def test_concurrent_writes_of_one_repo_from_two_replicas_all_land(
    postgres: PostgresBackend,
) -> None:
    stores = await replicas(postgres)
    try:
        writes = [
            changes((commit(f"c{n}", None, branch=f"b{n % 3}"),), (result(f"c{n}"),))
            for n in range(20)
        ]
        await asyncio.gather(*(stores[n % 2].save_changes(w) for n, w in enumerate(writes)))
        assert await stores[0].repo_version(REPO) == 20
        assert await stores[1].repo_version(REPO) == 20
        assert sorted(c.commit.sha for c in await stores[1].load_commits(REPO)) == sorted(
            f"c{n}" for n in range(20)
        )
        assert len(await stores[0].load_results(REPO)) == 20
    finally:
        await close_all(stores)


async def test_release_claims_leaves_other_replicas_live_claims_alone(
    postgres: PostgresBackend,
) -> None:
    stores = await replicas(postgres)
    try:
        now = time.time()
        await stores[0].add_delivery(delivery("live", repo="org/live"))
        await stores[0].add_delivery(delivery("expired", repo="org/expired"))
        assert await claim(stores[0], at=now, worker="alive") == "live"
        assert await claim(stores[0], at=now - 2 * LEASE, worker="died") == "expired"

        assert await stores[1].release_claims() == 1

        live, expired = (
            await stores[1].get_delivery("live"),
            await stores[1].get_delivery("expired"),
        )
        assert live is not None and expired is not None
        assert (live.status, expired.status) == (DeliveryStatus.PROCESSING, DeliveryStatus.PENDING)
        assert await claim(stores[1], at=now, worker="w2") == "expired"
    finally:
        await close_all(stores)


# --- recovering missed deliveries: the lease, the cursor, the redeliveries asked for ----------


async def test_a_lease_is_held_by_one_holder_until_it_expires_or_is_handed_back(
    store: Store,
) -> None:
    assert await store.take_lease("scan", "a", NOW, 60)
    assert not await store.take_lease("scan", "b", NOW + 30, 60)
    assert await store.take_lease("scan", "a", NOW + 30, 60)  # its holder renews it
    assert await store.take_lease("scan", "b", NOW + 91, 60)  # expired
    assert await store.take_lease("scan", "b", NOW + 92, 0)  # handed back
    assert await store.take_lease("scan", "a", NOW + 92, 60)


async def test_the_hook_cursor_and_the_redeliveries_asked_for_are_kept(store: Store) -> None:
    assert await store.hook_cursor() == 0
    await store.save_hook_cursor(2**40, NOW)
    await store.save_hook_cursor(2**41, NOW)
    assert await store.hook_cursor() == 2**41
    await store.add_delivery(delivery("g-1"))
    assert await store.known_deliveries(["g-1", "g-2"]) == {"g-1"}
    await store.record_redelivery("g-2", 10, NOW)
    await store.record_redelivery("g-2", 12, NOW)
    assert await store.redeliveries_asked(["g-1", "g-2"]) == {"g-2": (12, 2)}
