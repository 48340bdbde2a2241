"""Replay without the inbox decides exactly what the App decides behind its webhook."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.actions.dryrun import DryRunSink
from bot.config import load_default, load_file
from bot.engine import Engine
from bot.handlers import EVENTS, router
from bot.runtime.replay import FixedConfig, RecordedDelivery, Replayer, replay
from bot.runtime.worker import Worker
from bot.sim.history import INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario
from bot.store import open_store
from bot.store.memory import MemoryStore
from bot.tracker.model import CommitInfo, JobResult
from bot.web.server import make_app, signature_for

SECRET = "replay-speed-secret"
ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def eventful() -> list[dict[str, Any]]:
    """Two breakages of different groups, flakes, outages, and some repeated deliveries."""
    scenario = Scenario(
        commits=40,
        failures={
            ("inductor", INDUCTOR_JOBS[1]): set(range(6, 12)),
            ("trunk", TRUNK_JOBS[0]): set(range(20, 25)) | set(range(30, 36)),
        },
        flakes={("inductor", INDUCTOR_JOBS[3]): set(range(2, 40, 5))},
        infra_blips={15, 16},
    )
    deliveries = list(Generator(scenario).deliveries())
    return deliveries + random.Random(3).sample(deliveries, 40)


async def through_the_server(
    deliveries: list[dict[str, Any]], tmp_path: Path, aiohttp_client: ClientMaker
) -> list[dict[str, Any]]:
    """Each delivery POSTed, signed, to /webhook; the worker drains the inbox after each."""
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    await store.open()
    configs = FixedConfig(load_default())
    sink = DryRunSink(io.StringIO(), as_json=True)
    worker = Worker(store, Engine(store, configs), router, sink, configs, max_attempts=1)
    client = await aiohttp_client(make_app(SECRET, store, EVENTS))
    for delivery in deliveries:
        body = json.dumps(delivery["payload"]).encode()
        response = await client.post(
            "/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": delivery["event"],
                "X-GitHub-Delivery": delivery["delivery_id"],
                "X-Hub-Signature-256": signature_for(SECRET, body),
            },
        )
        assert response.status in (200, 202)
        await worker.drain()
    await store.close()
    return sink.records


async def test_replay_decides_what_the_app_behind_its_webhook_decides(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    deliveries = eventful()
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in deliveries))
    replayed = (await replay(path, load_default(), io.StringIO(), as_json=True)).records
    served = await through_the_server(deliveries, tmp_path, aiohttp_client)
    assert {r["group"] for r in served if r["action"] == "open_alert"} == {"inductor", "trunk"}
    assert replayed == served


async def test_a_long_history_keeps_only_what_retention_keeps(tmp_path: Path) -> None:
    config_path = tmp_path / "trunkwatch.yml"
    config_path.write_text(
        "groups:\n  trunk:\n    workflows: [trunk]\nalerts:\n  retention_commits: 20\n"
    )
    scenario = Scenario(
        commits=150,
        workflows={"trunk": TRUNK_JOBS},
        failures={("trunk", TRUNK_JOBS[1]): set(range(120, 125))},
    )
    sink = DryRunSink(io.StringIO(), as_json=True)
    replayer = Replayer(load_file(config_path), sink)
    for d in Generator(scenario).deliveries():
        await replayer.feed(RecordedDelivery(d["event"], d["delivery_id"], d["payload"]))
    replayer.drop_retired()
    commits = await replayer.store.load_commits("pytorch/pytorch")
    assert 20 <= len(commits) <= 22 + 2  # the retention, plus the tracker's pruning slack
    newest = Generator(scenario).commit_sha(149)
    assert commits[-1].commit.sha == newest
    kept = {c.commit.sha for c in commits}
    results = await replayer.store.load_results("pytorch/pytorch")
    assert results and {r.head_sha for r in results} <= kept
    # The alert still opened and closed: pruning the store changed no decision.
    actions = [r["action"] for r in sink.records]
    assert actions[0] == "open_alert" and actions[-1] == "close_alert"


async def test_a_delivery_that_fails_is_reported_and_the_rest_still_decide(
    tmp_path: Path,
) -> None:
    deliveries = eventful()
    broken = dict(
        deliveries[5],
        payload={"action": "completed", "repository": {"full_name": "pytorch/pytorch"}},
    )
    sink = DryRunSink(io.StringIO(), as_json=True)
    replayer = Replayer(load_default(), sink)
    for d in [*deliveries[:5], broken, *deliveries[6:]]:
        await replayer.feed(RecordedDelivery(d["event"], d["delivery_id"], d["payload"]))
    assert [(d.delivery_id, error.split(":")[0]) for d, error in replayer.dead] == [
        (broken["delivery_id"], "PayloadError")
    ]
    assert {r["group"] for r in sink.records if r["action"] == "open_alert"} == {
        "inductor",
        "trunk",
    }


async def test_the_memory_store_hands_out_one_delivery_per_repo_in_arrival_order() -> None:
    from bot.store.base import Changes, Delivery, StoredCommit

    store = MemoryStore()
    await store.open()
    for n, repo in enumerate(["o/a", "o/a", "o/b"]):
        assert await store.add_delivery(Delivery(f"d{n}", "push", repo, 1, b"{}", float(n)))
    assert not await store.add_delivery(Delivery("d0", "push", "o/a", 1, b"{}", 9.0))
    first = await store.claim_next("w", 10.0, 60.0)
    second = await store.claim_next("w", 10.0, 60.0)
    assert (first and first.delivery_id, second and second.delivery_id) == ("d0", "d2")
    assert await store.claim_next("w", 10.0, 60.0) is None  # o/a is busy with d0
    changes = Changes()
    changes.commits.append(StoredCommit("o/a", "main", CommitInfo(sha="c1"), None))
    await store.complete("d0", changes)
    assert await store.repo_version("o/a") == 1
    await store.fail("d2", "boom", None)
    assert [d.delivery_id for d in await store.dead_deliveries()] == ["d2"]
    third = await store.claim_next("w", 10.0, 60.0)
    assert third is not None and third.delivery_id == "d1"
    assert await store.inbox_stats(10.0) == (1, 9.0)
    assert await store.prune("o/a", "main", []) == 1
    assert await store.repo_version("o/a") == 2 and await store.load_commits("o/a") == []
    failed = JobResult("o/a", "main", "c2", "trunk", "build", 5, 1, "failure", job_id=9)
    again = Changes()
    again.results += [failed, dataclasses.replace(failed, conclusion="success")]
    await store.save_changes(again)
    assert [r.conclusion for r in await store.load_results("o/a")] == ["success"]
    await store.put_state("ns", "k", {"a": [1]})
    assert await store.get_state("ns", "k") == {"a": [1]}
