"""The tracker's timers through the inbox: a result pending past `alerts.pending_timeout`
stops blocking a streak once the timer delivery is processed, exactly once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config.files import load_text
from bot.engine import Engine, RepoConfigLike
from bot.handlers import router
from bot.runtime.replay import FixedConfig
from bot.runtime.timers import enqueue_due
from bot.runtime.worker import Worker
from bot.store import open_store
from bot.store.base import Delivery
from bot.tracker.model import Decision, DecisionKind

REPO = "octo-org/octo-repo"
CONFIG = """
groups:
  ci: {workflows: ["trunk"], threshold: 3}
alerts:
  pending_timeout: 1h
"""


class Recorder:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    async def act(self, decisions: Any, gh: Any, config: RepoConfigLike, unit: Any) -> None:
        self.decisions.extend(decisions)


def sha(i: int) -> str:
    return f"{i + 1:040x}"


def at(minute: int) -> str:
    return f"2026-11-02T{minute // 60:02d}:{minute % 60:02d}:00Z"


def repository() -> dict[str, Any]:
    return {"full_name": REPO, "default_branch": "main"}


def push(commits: int) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": sha(commits - 1),
        "commits": [
            {"id": sha(i), "message": f"change {i}", "timestamp": at(i), "author": {"name": "a"}}
            for i in range(commits)
        ],
        "repository": repository(),
    }


def job(i: int, status: str, conclusion: str | None = None, minute: int = 0) -> dict[str, Any]:
    return {
        "action": status,
        "workflow_job": {
            "id": 100 + i,
            "run_id": 1000 + i,
            "run_attempt": 1,
            "workflow_name": "trunk",
            "head_branch": "main",
            "head_sha": sha(i),
            "html_url": f"https://github.com/{REPO}/actions/runs/{1000 + i}/job/{100 + i}",
            "status": status,
            "conclusion": conclusion,
            "created_at": at(minute),
            "started_at": at(minute),
            "completed_at": at(minute) if status == "completed" else None,
            "name": "test",
            "steps": [{"name": "Test", "number": 2, "conclusion": conclusion}],
            "labels": ["ubuntu-latest"],
        },
        "repository": repository(),
    }


async def test_a_timed_out_pending_result_is_decided_without_by_a_timer(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'timers.db'}")
    await store.open()
    try:
        configs = FixedConfig(load_text(CONFIG, "test"))
        engine = Engine(store, configs)
        sink = Recorder()
        worker = Worker(store, engine, router, sink, configs, max_attempts=1)
        deliveries = [
            ("push", push(5)),
            ("workflow_job", job(0, "completed", "success", minute=5)),
            ("workflow_job", job(2, "queued", minute=0)),
            *(("workflow_job", job(i, "completed", "failure", minute=20)) for i in (1, 3, 4)),
        ]
        for number, (event, payload) in enumerate(deliveries):
            body = json.dumps(payload).encode()
            await store.add_delivery(Delivery(f"d{number}", event, REPO, None, body, time.time()))
            await worker.drain()
        assert sink.decisions == []  # commit 2 is still running: no streak of 3

        before = datetime(2026, 11, 2, 0, 59, tzinfo=UTC).timestamp()
        assert await enqueue_due(engine, store, now=before) == 0
        after = datetime(2026, 11, 2, 1, 1, tzinfo=UTC).timestamp()
        assert await enqueue_due(engine, store, now=after) == 1
        assert await enqueue_due(engine, store, now=after) == 0  # one delivery per deadline
        await worker.drain()

        assert [d.kind for d in sink.decisions] == [DecisionKind.OPEN]
        assert sink.decisions[0].suspects == (sha(1),)
        assert engine.deadlines() == []
    finally:
        await store.close()


async def test_runner_failures_are_counted_apart_on_the_metrics(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from bot.web.metrics import Metrics

    store = open_store(f"sqlite:///{tmp_path / 'runners.db'}")
    await store.open()
    try:
        configs = FixedConfig(load_text(CONFIG, "test"))
        engine = Engine(store, configs)
        worker = Worker(store, engine, router, Recorder(), configs, max_attempts=1)
        lost = job(1, "completed", "failure", minute=20)
        lost["workflow_job"]["steps"] = [
            {"name": "Set up job", "number": 1, "conclusion": "failure"}
        ]
        deliveries = [
            ("push", push(3)),
            ("workflow_job", job(0, "completed", "success", minute=5)),
            ("workflow_job", lost),
            ("workflow_job", job(2, "completed", "failure", minute=30)),
        ]
        for number, (event, payload) in enumerate(deliveries):
            body = json.dumps(payload).encode()
            await store.add_delivery(Delivery(f"d{number}", event, REPO, None, body, time.time()))
            await worker.drain()
        text = generate_latest(Metrics(runner_failures=engine.runner_failures).registry).decode()
        assert 'trunkwatch_runner_failures{group="ci"} 1.0' in text
    finally:
        await store.close()
