"""A delivery that got its 202 is never lost: `serve` killed with SIGKILL mid-stream, restarted,
processes every acknowledged delivery exactly once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bot.sim.history import Generator, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import INSTALLATION_ID, ServeApp

SECRET = "durability-secret"
DEFAULT_CONFIG = (
    Path(__file__).resolve().parents[1] / "bot" / "defaults" / "trunkwatch.yml"
).read_text()


def inbox(db: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT delivery_id, status, attempts FROM deliveries")
        }


def alerts(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT alert, open, reason FROM alerts"))


def processed_log_counts(log: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "delivery processed":
            counts[entry["delivery_id"]] += 1
    return counts


async def test_sigkill_mid_stream_loses_no_acknowledged_delivery(
    sim: SimulatedGitHub, serve_app: ServeApp, tmp_path: Path
) -> None:
    scenario = default_scenario()
    scenario.installation_id = INSTALLATION_ID
    deliveries = list(Generator(scenario).deliveries())
    sim.add_repo(scenario.repo, default_branch=scenario.branch)
    sim.set_file(scenario.repo, ".github/trunkwatch.yml", DEFAULT_CONFIG)
    db = tmp_path / "trunkwatch.db"
    serve = serve_app(SECRET)
    await serve.start()
    acknowledged: set[str] = set()
    unanswered: list[dict[str, Any]] = []
    kill_at = len(deliveries) // 2
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        # Eight at a time, as GitHub does; the kill lands while a batch is in flight.
        for start in range(0, len(deliveries), 8):
            batch = deliveries[start : start + 8]
            tasks = [asyncio.create_task(serve.post(session, d)) for d in batch]
            if start <= kill_at < start + 8:
                await asyncio.sleep(0.005)
                serve.kill()
            statuses = await asyncio.gather(*tasks)
            for delivery, status in zip(batch, statuses, strict=True):
                if status == 202:
                    acknowledged.add(delivery["delivery_id"])
                elif status is None:
                    unanswered.append(delivery)
                else:
                    raise AssertionError(f"{delivery['delivery_id']}: {status}")
            if serve.process and serve.process.poll() is not None:
                break
        sent = start + 8
        assert serve.process is not None and serve.process.returncode == -9
        # GitHub redelivers what got no answer; the rest of the stream follows.
        await serve.start()
        redeliver = unanswered + deliveries[sent:] + deliveries[:4]
        for delivery in redeliver:
            status = await serve.post(session, delivery)
            assert status in (200, 202), (delivery["delivery_id"], status)
            if status == 202:
                acknowledged.add(delivery["delivery_id"])
    await serve.drained([d["delivery_id"] for d in deliveries])
    serve.stop()
    rows = inbox(db)
    assert set(rows) == {d["delivery_id"] for d in deliveries}
    assert acknowledged <= set(rows)
    with sqlite3.connect(db) as conn:
        errors = list(
            conn.execute("SELECT delivery_id, last_error FROM deliveries WHERE status != 'done'")
        )
    assert {status for status, _ in rows.values()} == {"done"}, errors
    counts = processed_log_counts(serve.log_path)
    assert max(counts.values()) == 1  # none processed twice
    # A delivery completed in the instant before the kill may miss its log line, no more.
    assert len(set(rows) - set(counts)) <= 1
    # The same breakage, recognised once: one alert, opened and closed on recovery.
    assert alerts(db) == [(f"{scenario.repo}:main:inductor:1", 0, "recovered")]
