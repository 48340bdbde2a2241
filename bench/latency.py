"""Latency from the delivery that makes a streak real to the alert issue on GitHub.

The alert is decided on the delivery itself (no polling): this measures how long after that
delivery is posted the issue exists on the (simulated) GitHub. Measured in the same run for
(1) `trunkwatch serve` as a process, on SQLite: the signed delivery is verified, written to
the inbox and answered 202, claimed by the worker, the tracker decides, and the sink files
the issue (title, body, labels; then assigns, labels and comments on the suspect); and
(2) the peer: a bare aiohttp receiver that files an issue on the same simulated GitHub as
soon as the delivery arrives (one POST with a ready installation token), the least any App
must do. Each round starts both afresh and replays the built-in history
(`bot.sim.history.default_scenario`) up to the delivery that tips its first streak over, which a
replay of the same history names; only that last delivery is timed.

    python bench/latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config.files import load_text
from bot.github import GitHubApp
from bot.runtime.replay import RecordedDelivery, Replayer
from bot.sim.demo import default_config_text, post
from bot.sim.devserver import ServeProcess, free_port, serve_env
from bot.sim.history import Generator, default_scenario
from bot.sim.quality import Recorder
from bot.sim.simulated_github import SimulatedGitHub
from bot.sim.simulated_github.keys import generate_private_key_pem
from bot.tracker.model import DecisionKind

SECRET = "bench-secret"
APP_ID = 1


async def tipping(deliveries: list[dict[str, Any]]) -> int:
    """The position of the delivery on which the first alert opens (by a replay)."""
    recorder = Recorder()
    replayer = Replayer(load_text(default_config_text(), "bench"), recorder)
    for delivery in deliveries:
        await replayer.feed(
            RecordedDelivery(delivery["event"], delivery["delivery_id"], delivery["payload"])
        )
    opened = next(d for _, _, d in recorder.taken if d.kind is DecisionKind.OPEN)
    return next(i for i, d in enumerate(deliveries) if d["delivery_id"] == opened.delivery_id)


def seeded(key: str) -> tuple[SimulatedGitHub, list[dict[str, Any]], str]:
    scenario = default_scenario()
    history = Generator(scenario)
    sim = SimulatedGitHub(app_id=APP_ID, app_key=key, app_slug="trunkwatch")
    sim.add_installation(scenario.installation_id, account=scenario.repo.split("/")[0])
    sim.add_repo(scenario.repo, default_branch=scenario.branch)
    sim.set_file(scenario.repo, ".github/trunkwatch.yml", default_config_text())
    for index in range(scenario.commits):
        sim.add_commit(
            scenario.repo,
            history.commit_sha(index),
            history.message(index),
            history.author(index),
            pr=history.pr_number(index),
        )
    deliveries = [d for i in range(scenario.commits) for d in history.commit_deliveries(i)]
    return sim, deliveries, scenario.repo


async def until(check: Any, within: float = 30.0, every: float = 0.001) -> float:
    """Poll `check()` until it is true; the moment it was seen so."""
    deadline = time.perf_counter() + within
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("not within the time allowed")
        await asyncio.sleep(every)
    return time.perf_counter()


def open_deliveries(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'processing')"
        ).fetchone()
    return int(count)


async def app_round(key: str, deliveries: list[dict[str, Any]], at: int, tmp: Path) -> float:
    sim, _, repo = seeded(key)
    await sim.start()
    key_path = tmp / "app.pem"
    key_path.write_text(key)
    db = tmp / f"latency-{time.monotonic_ns()}.db"
    env = serve_env(APP_ID, key_path, SECRET, sim.base_url, db, "warning")
    serve = ServeProcess(env, tmp / "serve.log")
    try:
        await serve.start()
        async with aiohttp.ClientSession() as session:
            for delivery in deliveries[:at]:
                await post(session, serve.url, SECRET, delivery)
            await until(lambda: open_deliveries(db) == 0, every=0.02)
            assert not sim.issues(repo), "an issue before the tipping delivery"
            started = time.perf_counter()
            await post(session, serve.url, SECRET, deliveries[at])
            filed = await until(lambda: bool(sim.issues(repo)))
        return filed - started
    finally:
        serve.stop()
        await sim.stop()


async def peer_round(key: str, deliveries: list[dict[str, Any]], at: int) -> float:
    """A receiver that files an issue the moment the tipping delivery arrives."""
    sim, _, repo = seeded(key)
    await sim.start()
    app = GitHubApp(APP_ID, key, base_url=sim.base_url)
    gh = await app.installation_client(default_scenario().installation_id)
    tip = deliveries[at]["delivery_id"]

    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("X-GitHub-Delivery") == tip:
            await gh.post(f"/repos/{repo}/issues", data={"title": "broken", "body": "."})
        return web.Response(status=202)

    server = web.Application()
    server.router.add_post("/webhook", webhook)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}"
            for delivery in deliveries[:at]:
                await post(session, url, SECRET, delivery)
            started = time.perf_counter()
            await post(session, url, SECRET, deliveries[at])
            filed = await until(lambda: bool(sim.issues(repo)))
        return filed - started
    finally:
        await runner.cleanup()
        await app.close()
        await sim.stop()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    key = generate_private_key_pem()
    _, deliveries, _ = seeded(key)
    at = await tipping(deliveries)
    print(f"built-in history: {len(deliveries)} deliveries; the first alert opens on #{at + 1}")
    app_ms: list[float] = []
    peer_ms: list[float] = []
    with tempfile.TemporaryDirectory() as name:
        for round_ in range(args.rounds):  # alternated, so that neither gets a quieter part
            peer_ms.append(1000 * await peer_round(key, deliveries, at))
            app_ms.append(1000 * await app_round(key, deliveries, at, Path(name)))
            print(f"round {round_ + 1}: trunkwatch {app_ms[-1]:.0f} ms, peer {peer_ms[-1]:.0f} ms")
    app_median, peer_median = statistics.median(app_ms), statistics.median(peer_ms)
    print(
        f"delivery to issue, median of {args.rounds}: trunkwatch serve {app_median:.0f} ms"
        f" (worst {max(app_ms):.0f} ms), peer {peer_median:.0f} ms;"
        f" ratio {app_median / peer_median:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
