"""`trunkwatch backtest` against the simulated GitHub seeded with a generated history, beside
`trunkwatch replay` of the same history's deliveries: same alerts? how many calls? and the
second run's calls (should be none).

`--history trunksim` uses the busy trunk of `bot/sim/trunksim/` instead (live arrival order,
pending runs and jobs, late deliveries): replay then sees the deliveries in the order they
arrived, the backtest in trunk order with every run finished, and the two may differ.

    python bench/backtest.py [--commits 1000] [--history generated|trunksim]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.backtest.backtest import Backtest, Report
from bot.backtest.cache import PageCache
from bot.config import load_default
from bot.github.client import CallStats, GitHubClient
from bot.runtime.replay import replay
from bot.sim.history import EPOCH, INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario
from bot.sim.simulated_github import SimulatedGitHub

INSTALLATION = 7


def trunk(commits: int) -> Scenario:
    """The shipped example's three workflows, with a breakage of each watched group every
    200 commits, flaky jobs rerun to green and runner outages."""
    return Scenario(
        commits=commits,
        failures={
            ("inductor", INDUCTOR_JOBS[1]): {
                i for s in range(40, commits, 200) for i in range(s, s + 5)
            },
            ("trunk", TRUNK_JOBS[0]): {
                i for s in range(140, commits, 200) for i in range(s, s + 4)
            },
        },
        flakes={
            ("inductor", INDUCTOR_JOBS[3]): set(range(2, commits, 9)),
            ("trunk", TRUNK_JOBS[2]): set(range(5, commits, 13)),
        },
        infra_blips=set(range(17, commits, 97)),
    )


async def backtest(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, cache: Path, since: datetime
) -> tuple[Report, float]:
    token, _ = sim.issue_token(INSTALLATION)
    stats = CallStats()
    gh = GitHubClient(
        session,
        "trunkwatch-bench",
        oauth_token=token,
        base_url=sim.base_url,
        cache=PageCache(cache / "pages"),
        stats=stats,
    )
    started = time.perf_counter()
    report = await Backtest(gh, stats, "pytorch/pytorch", load_default(), cache, since=since).run(
        io.StringIO()
    )
    return report, time.perf_counter() - started


def decisions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "delivery_id"} for r in records]


def in_trunk_order(deliveries: list[dict[str, Any]], shas: list[str]) -> list[dict[str, Any]]:
    """The finished runs and jobs of a history, commit by commit in trunk order after the
    commit's push (what a backtest sees), without the pending ones."""
    place = {sha: i for i, sha in enumerate(shas)}
    keyed: list[tuple[int, int, int, dict[str, Any]]] = []
    for n, d in enumerate(deliveries):
        payload = d["payload"]
        if d["event"] == "push":
            keyed.append((min(place[c["id"]] for c in payload["commits"]), 0, n, d))
            continue
        fact = payload.get(d["event"]) or {}
        if fact.get("status") == "completed" and fact.get("head_sha") in place:
            keyed.append((place[fact["head_sha"]], 1, n, d))
    return [d for *_, d in sorted(keyed, key=lambda k: k[:3])]


def lifecycle(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each alert's group and jobs when it opened, and how it ended, in order."""
    return sorted(
        (r["action"], r["group"], tuple(r.get("jobs", ())), r.get("reason") or "")
        for r in records
        if r["action"] in ("open_alert", "close_alert")
    )


async def main(commits: int, history: str) -> int:
    if history == "trunksim":
        from bot.sim import trunksim

        busy = trunksim.Trunk(trunksim.Knobs(commits=commits))
        deliveries = [d for _, d in busy.deliveries()]
        since = trunksim.EPOCH - timedelta(days=1)
        ordered = in_trunk_order(deliveries, busy.shas)
    else:
        deliveries = list(Generator(trunk(commits)).deliveries())
        since = EPOCH - timedelta(days=1)
        ordered = []
    sim = SimulatedGitHub()
    sim.add_installation(INSTALLATION)
    sim.seed_deliveries(deliveries)
    await sim.start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "history.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in deliveries))
        started = time.perf_counter()
        expected = (await replay(path, load_default(), io.StringIO(), as_json=True)).records
        replay_s = time.perf_counter() - started
        path.write_text("".join(json.dumps(d) + "\n" for d in ordered))
        trunk_ordered = (await replay(path, load_default(), io.StringIO(), as_json=True)).records
        async with aiohttp.ClientSession() as session:
            first, first_s = await backtest(sim, session, tmp / "cache", since)
            second, second_s = await backtest(sim, session, tmp / "cache", since)
    await sim.stop()
    runs = len(sim.repos["pytorch/pytorch"].runs)
    opened = sum(r["action"] == "open_alert" for r in expected)
    print(f"history: {commits:,} commits, {runs:,} runs, {len(deliveries):,} deliveries")
    print(
        f"replay of the deliveries:  {len(expected)} actions ({opened} alerts) in {replay_s:.1f} s"
    )
    print(
        f"backtest, first run:       {len(first.records)} actions in {first_s:.1f} s,"
        f" {first.calls} API calls (budget {first.budget}); jobs listed for"
        f" {first.runs_with_jobs} of {first.runs} runs; complete: {first.complete}"
    )
    print(
        f"backtest, second run:      {len(second.records)} actions in {second_s:.1f} s,"
        f" {second.calls} API calls"
    )
    same = decisions(first.records) == decisions(expected) == decisions(second.records)
    print(f"same actions as replay (delivery ids aside): {same}")
    if not same:
        alerts = sum(r["action"] == "open_alert" for r in first.records)
        print(
            f"alerts: replay {opened}, backtest {alerts}; same alerts and endings:"
            f" {lifecycle(first.records) == lifecycle(expected)}"
        )
    if ordered:
        alerts = sum(r["action"] == "open_alert" for r in trunk_ordered)
        print(
            f"replay of the finished runs and jobs in trunk order: {alerts} alerts;"
            f" same alerts and endings as the backtest:"
            f" {lifecycle(first.records) == lifecycle(trunk_ordered)}"
        )
    return 0 if same and second.calls == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--history", choices=["generated", "trunksim"], default="generated")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.commits, args.history)))
