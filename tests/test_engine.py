"""The engine keeps the store as small as the trackers: old commits are pruned."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from bot.config import load_default
from bot.engine import Engine, RepoConfigLike
from bot.handlers import router
from bot.runtime.replay import FixedConfig
from bot.runtime.worker import Worker
from bot.sim.history import Generator, Scenario
from bot.store import open_store
from bot.store.base import Delivery
from bot.tracker.model import Decision, TrackerConfig


class SmallRetention:
    """The built-in configuration, keeping only `keep` commits per branch."""

    def __init__(self, keep: int) -> None:
        self._config = load_default()
        self._keep = keep

    def tracker_config(self, default_branch: str) -> TrackerConfig:
        config = self._config.tracker_config(default_branch)
        return dataclasses.replace(config, retention_commits=self._keep)


class Recorder:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    async def act(self, decisions: Any, gh: Any, config: RepoConfigLike, unit: Any) -> None:
        self.decisions.extend(decisions)


async def test_commits_beyond_the_retention_window_leave_the_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'prune.db'}")
    await store.open()
    try:
        configs = FixedConfig(SmallRetention(10))
        engine = Engine(store, configs)
        worker = Worker(store, engine, router, Recorder(), configs, max_attempts=1)
        scenario = Scenario(commits=30, workflows={"trunk": ("build",)})
        for delivery in Generator(scenario).deliveries():
            await store.add_delivery(
                Delivery(
                    delivery["delivery_id"],
                    delivery["event"],
                    scenario.repo,
                    None,
                    json.dumps(delivery["payload"]).encode(),
                    time.time(),
                )
            )
            await worker.drain()
        assert len(await store.load_commits(scenario.repo)) == 30
        removed = await engine.prune()
        kept = await store.load_commits(scenario.repo)
        tracker = engine.loaded(scenario.repo)
        assert tracker is not None
        assert [c.commit.sha for c in kept] == [c.sha for c in tracker.trunk("main")]
        assert removed == 30 - len(kept) and 10 <= len(kept) < 30
        newest = Generator(scenario).commit_sha(29)
        assert kept[-1].commit.sha == newest
        # Results of pruned commits went with them.
        shas = {c.commit.sha for c in kept}
        assert {r.head_sha for r in await store.load_results(scenario.repo)} <= shas
    finally:
        await store.close()
