"""Typed records (`bot.records`): every kind kept exactly on every backend, written with
the delivery that made them, carried over from the old key/value state, and escalations that
fire once with two replicas on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.actions import escalation
from bot.actions.policy import AlertPolicy
from bot.github import GitHubClient
from bot.records import (
    ACKED,
    PENDING,
    Ack,
    AlertIssue,
    ConfigReport,
    Escalation,
    Mute,
    Snooze,
    SuspectHold,
    SuspectPRs,
)
from bot.sim.simulated_github import SimulatedGitHub
from bot.store.base import Changes, Delivery, Store
from bot.store.carry_over import carry_state_over
from bot.store.memory import MemoryStore
from bot.store.record_view import Records
from tests.test_store import Backend, PostgresBackend, SQLiteBackend, fresh_postgres

REPO = "pytorch/pytorch"


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":  # replay's and backtest's store keeps them alike
        memory = MemoryStore()
        await memory.open()
        yield memory
        return
    backends: Iterator[Backend] = (
        fresh_postgres() if request.param == "postgresql" else iter([SQLiteBackend(tmp_path)])
    )
    opened = await next(backends).open()
    yield opened
    await opened.close()
    next(backends, None)  # drops a PostgreSQL database


@pytest.fixture
def postgres() -> Iterator[PostgresBackend]:
    yield from fresh_postgres()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "postgresql":
        yield from fresh_postgres()
    else:
        yield SQLiteBackend(tmp_path)


def execute(backend: Backend, sql: str) -> None:
    """A statement from outside the store, committed (as an older trunkwatch wrote rows)."""
    if isinstance(backend, SQLiteBackend):
        with sqlite3.connect(backend.path) as conn:
            conn.execute(sql)
        conn.close()
    else:
        assert isinstance(backend, PostgresBackend)
        backend._query(sql)


EXAMPLES: list[Any] = [
    AlertIssue(
        alert="a1",
        repo=REPO,
        branch="main",
        group="inductor",
        number=2**40,
        url="https://github.com/pytorch/pytorch/issues/12",
        owners=["alice", "@pytorch/team"],
        opened_at=1700000000.5,
        jobs=["inductor / test"],
        suspects=["c2", "c3"],
        previous={"number": 3, "url": "u"},
    ),
    Escalation("a1", REPO, 12, 1000.0, 90.0, ["erin"], None, acked_by="bob"),
    SuspectPRs("a1", {"12": {"author": "bob", "labelled": True}}, [13]),
    SuspectHold(REPO, 12, "a1"),
    Mute(REPO, "inductor", 99.5, "alice"),
    Snooze(REPO, "main", "inductor", 99.5, "alice", until_green=True, alert="a1"),
    Ack("a1", "alice", 10.25),
    ConfigReport(REPO, "open", "abc", 7),
]


async def save(store: Store, *records: Any) -> None:
    changes = Changes()
    changes.records.extend(records)
    await store.save_changes(changes)


async def test_every_kind_of_record_comes_back_as_it_was_written(store: Store) -> None:
    await save(store, *EXAMPLES)
    for record in EXAMPLES:
        key = [getattr(record, name) for name in record.KEY]
        assert await store.get_record(type(record), *key) == record
    assert await store.find_records(SuspectHold, repo=REPO, pr=12) == [EXAMPLES[3]]
    assert await store.find_records(AlertIssue, repo=REPO, number=2**40) == [EXAMPLES[0]]
    await save(store, replace(EXAMPLES[4], until=200.0))
    assert (await store.get_record(Mute, REPO, "inductor")) == replace(EXAMPLES[4], until=200.0)


async def test_a_delivery_sees_its_own_writes_and_commits_them_with_its_completion(
    store: Store,
) -> None:
    await store.add_delivery(Delivery("d1", "push", REPO, 1, b"{}", 1.0))
    await save(store, Ack("a1", "alice", 1.0), Mute(REPO, "g", 5.0, "alice"))
    changes = Changes()
    records = Records(store, changes)
    await records.put(Ack("a2", "bob", 2.0))
    await records.remove(Ack, "a1")
    assert await records.get(Ack, "a1") is None
    assert await records.get(Ack, "a2") == Ack("a2", "bob", 2.0)
    assert await records.find(Ack) == [Ack("a2", "bob", 2.0)]
    assert await store.get_record(Ack, "a1") is not None  # nothing written yet
    assert await store.get_record(Ack, "a2") is None
    await store.complete("d1", changes)
    assert await store.find_records(Ack) == [Ack("a2", "bob", 2.0)]


async def test_old_key_value_state_is_carried_over_once(store: Store) -> None:
    await store.put_state(
        "alert_issue",
        "a1",
        {
            "alert": "a1",
            "repo": REPO,
            "branch": "main",
            "group": "inductor",
            "number": 12,
            "url": "u",
            "state": "open",
            "owners": ["alice"],
        },
    )
    await store.put_state("alert_by_issue", f"{REPO}#12", "a1")
    escalation = {
        "alert": "a1",
        "repo": REPO,
        "number": 12,
        "due": 5.0,
        "after": 3.0,
        "owners": ["erin"],
        "installation": 7,
        "state": "acked",
        "acked_by": "bob",
        "app_slug": "trunkwatch",
        "prefix": "/trunkwatch",
    }
    await store.put_state("alert_escalation", "a1", escalation)
    await store.put_state("alert_escalation", "pending", ["a1"])
    await store.put_state("suspect_pr_alerts", f"{REPO}#12", ["a1", "a2"])
    await store.put_state(
        "alert_suspects", "a1", {"prs": {"12": {"labelled": True}}, "cleared": []}
    )
    await store.put_state("command_mute", f"{REPO}\ninductor", {"until": 9.0, "by": "al"})
    await store.put_state(
        "command_snooze",
        f"{REPO}\nmain\ninductor",
        {"until": 9.0, "by": "al", "until_green": True, "alert": "a1"},
    )
    await store.put_state("command_ack", "a1", {"by": "bob", "at": 4.0})
    await store.put_state("config_report", REPO, {"state": "closed", "number": 3})
    await store.put_state("alert_latest", f"{REPO}\nmain\ninductor", {"number": 12})

    assert await carry_state_over(store) == 9
    assert await carry_state_over(store) == 0
    issue = await store.get_record(AlertIssue, "a1")
    assert issue is not None and (issue.number, issue.owners) == (12, ["alice"])
    found = await store.get_record(Escalation, "a1")
    assert found is not None and (found.state, found.acked_by, found.installation) == (
        ACKED,
        "bob",
        7,
    )
    assert {h.alert for h in await store.find_records(SuspectHold, repo=REPO, pr=12)} == {
        "a1",
        "a2",
    }
    assert (await store.get_record(SuspectPRs, "a1")) == SuspectPRs(
        "a1", {"12": {"labelled": True}}, []
    )
    assert await store.get_record(Mute, REPO, "inductor") == Mute(REPO, "inductor", 9.0, "al")
    snooze = await store.get_record(Snooze, REPO, "main", "inductor")
    assert snooze is not None and snooze.until_green
    assert await store.get_record(Ack, "a1") == Ack("a1", "bob", 4.0)
    assert await store.get_record(ConfigReport, REPO) == ConfigReport(REPO, "closed", "", 3)
    for namespace in ("alert_issue", "alert_escalation", "command_ack", "alert_latest"):
        assert await store.state_items(namespace) == []


async def test_holds_and_issues_kept_before_breakages_are_migrated(backend: Backend) -> None:
    old = await backend.open(schema_version=7)
    await old.close()
    execute(backend, f"INSERT INTO suspect_holds VALUES ('{REPO}', 12, 'a1')")
    execute(
        backend,
        "INSERT INTO alert_issues VALUES ('a1', 'r', 'main', 'inductor', 5, 'u', 'open', '',"
        " '[]', 1.0, '[\"j\"]', '[]', 'h', 0, NULL)",
    )

    store = await backend.open()
    try:
        # Held by the alert as a whole, as before; a breakage's hold is one more.
        assert await store.find_records(SuspectHold, repo=REPO, pr=12) == [
            SuspectHold(REPO, 12, "a1", "")
        ]
        await save(store, SuspectHold(REPO, 12, "a1", "c0ffee"))
        holds = await store.find_records(SuspectHold, repo=REPO, pr=12)
        assert [h.breakage for h in holds] == ["", "c0ffee"]
        issue = await store.get_record(AlertIssue, "a1")
        assert issue is not None and issue.jobs == ["j"] and issue.breakages is None
        await save(store, replace(issue, breakages=[{"id": "c0ffee", "jobs": ["j"]}]))
        again = await store.get_record(AlertIssue, "a1")
        assert again is not None and again.breakages == [{"id": "c0ffee", "jobs": ["j"]}]
    finally:
        await store.close()


async def test_due_escalations_are_claimed_once(store: Store) -> None:
    await save(store, *(Escalation(f"a{i}", REPO, i, float(i), 1.0, ["e"], 7) for i in range(6)))
    await save(store, Escalation("acked", REPO, 99, 0.0, 1.0, ["e"], 7, state=ACKED))
    first = await store.claim_escalations(now=3.0, seconds=60, limit=10)
    assert [e.alert for e in first] == ["a0", "a1", "a2", "a3"]
    assert await store.claim_escalations(now=3.0, seconds=60, limit=10) == []
    later = await store.claim_escalations(now=100.0, seconds=60, limit=10)  # claims lapsed
    assert [e.alert for e in later] == ["a0", "a1", "a2", "a3", "a4", "a5"]
    assert all(e.state == PENDING for e in later)


async def test_two_replicas_fire_every_escalation_once(
    postgres: PostgresBackend, sim: SimulatedGitHub, gh: GitHubClient
) -> None:
    """Issue 9: two replicas each scheduled 40 escalations; with the old shared index only
    43-46 of the 80 were left to fire. Here all 80 fire, each with one comment."""
    replicas = [await postgres.open(), await postgres.open()]
    sim.add_repo(REPO)
    policy = AlertPolicy(
        group="inductor",
        escalate_after=timedelta(minutes=1).total_seconds(),
        escalation_owners=("erin",),
    )
    issues = []
    for index in range(80):
        number = sim.add_issue(REPO, f"alert {index}", author="trunkwatch[bot]").number
        issues.append(AlertIssue(f"a{index}", REPO, "main", "inductor", number, f"u/{number}"))

    async def client_for(installation: int) -> GitHubClient:
        return gh

    try:
        await asyncio.gather(
            *(
                escalation.schedule(Records(replicas[index % 2]), issue, policy, 0.0, 7)
                for index, issue in enumerate(issues)
            )
        )
        fired = await asyncio.gather(
            *(
                escalation.check_escalations(Records(replica), client_for, 120.0)
                for replica in replicas
            )
        )
        assert sum(fired) == 80
        for issue in issues:
            assert len(sim.comments(REPO, issue.number)) == 1
        assert await escalation.check_escalations(Records(replicas[0]), client_for, 500.0) == 0
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))
