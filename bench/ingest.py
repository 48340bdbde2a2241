"""Webhook ingest: signed ~20 KB `workflow_run` deliveries at concurrency 32.

Measured in the same run against (1) `trunkwatch serve` on SQLite — verifying the signature,
writing each delivery durably to the inbox before its 202, with the worker processing them
meanwhile — and (2) the peer: a bare aiohttp app that only reads the body and answers 202.
Prints req/s, p50/p99 latency and the ratio, and which load generator measured them.

The load generator is `wrk` (Debian: `apt-get install wrk`) with a Lua script that gives each
request its own `X-GitHub-Delivery`; without wrk, a Python (aiohttp) client, which saturates
before a fast server does: its figures are a floor, and the output says which was used.

    python bench/ingest.py [--seconds 10] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bot.sim.devserver import ServeProcess, free_port, serve_env
from bot.sim.history import Generator, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.sim.simulated_github.keys import generate_private_key_pem
from bot.web.server import signature_for

SECRET = "bench-secret"
REPO = "pytorch/pytorch"
INSTALLATION = 4242
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "bot" / "defaults" / "trunkwatch.yml"

BARE_APP = textwrap.dedent(
    """
    import sys
    from aiohttp import web

    async def webhook(request):
        await request.read()
        return web.Response(status=202)

    app = web.Application(client_max_size=26 * 1024 * 1024)
    app.router.add_post("/webhook", webhook)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


def payload(index: int) -> dict[str, Any]:
    """A successful trunk run, padded with the repository objects a real one carries."""
    generator = Generator(default_scenario())
    body = generator.run_payload(index % 12, "trunk", 1, "success")
    repository = body["repository"]
    for name in (
        "archive",
        "assignees",
        "blobs",
        "branches",
        "collaborators",
        "comments",
        "commits",
        "compare",
        "contents",
        "contributors",
        "deployments",
        "downloads",
        "events",
        "forks",
        "git_commits",
        "git_refs",
        "git_tags",
        "hooks",
        "issue_comment",
        "issue_events",
        "issues",
        "keys",
        "labels",
        "languages",
        "merges",
        "milestones",
        "notifications",
        "pulls",
        "releases",
        "stargazers",
        "statuses",
        "subscribers",
        "subscription",
        "tags",
        "teams",
        "trees",
    ):
        repository[f"{name}_url"] = f"https://api.github.com/repos/{REPO}/{name}{{/sha}}"
    body["workflow_run"]["head_repository"] = dict(repository)
    body["workflow_run"]["repository"] = dict(repository)
    actor = {"login": "pytorchmergebot", "id": 97764156, "type": "User", "site_admin": False}
    for name in ("avatar", "html", "followers", "following", "gists", "starred", "repos"):
        actor[f"{name}_url"] = f"https://api.github.com/users/pytorchmergebot/{name}"
    body["workflow_run"]["actor"] = body["workflow_run"]["triggering_actor"] = actor
    body["workflow_run"]["head_commit"] = {
        "id": body["workflow_run"]["head_sha"],
        "message": "",
        "author": {"name": "Alice", "email": "alice@example.com"},
    }
    # A real PyTorch commit message is long (the PR description); fill up to ~20 KB.
    size = len(json.dumps(body))
    body["workflow_run"]["head_commit"]["message"] = "Summary line\n\n" + "x" * max(
        0, 20_480 - size
    )
    return body


async def load(url: str, requests: int, concurrency: int, warmup: int) -> tuple[float, list[float]]:
    bodies = []
    for i in range(requests + warmup):
        data = json.dumps(payload(i)).encode()
        bodies.append(data)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests + warmup):
        queue.put_nowait(i)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = bodies[i]
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature_for(SECRET, body),
            }
            started = time.perf_counter()
            async with session.post(f"{url}/webhook", data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            if i >= warmup:
                latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm-up requests run first (the queue hands out indexes in order).
        started = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if set(statuses) != {202}:
        raise RuntimeError(f"unexpected answers: {statuses}")
    return elapsed * requests / (requests + warmup), latencies


WRK_SCRIPT = """
local body = io.open(os.getenv("INGEST_BODY"), "rb"):read("*a")
local base = {
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = "workflow_run",
  ["X-Hub-Signature-256"] = os.getenv("INGEST_SIGNATURE"),
}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
local n = 0
function request()
  n = n + 1
  local headers = {}
  for k, v in pairs(base) do headers[k] = v end
  headers["X-GitHub-Delivery"] = os.getenv("INGEST_RUN") .. "-" .. thread_id .. "-" .. n
  return wrk.format("POST", "/webhook", headers, body)
end
"""
_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_load(url: str, seconds: int, concurrency: int, tmp: Path) -> tuple[float, float, float]:
    """(req/s, p50 ms, p99 ms) measured by wrk; every answer must be a 2xx."""
    body = json.dumps(payload(0)).encode()
    (tmp / "body.json").write_bytes(body)
    (tmp / "ingest.lua").write_text(WRK_SCRIPT)
    env = {
        "INGEST_BODY": str(tmp / "body.json"),
        "INGEST_SIGNATURE": signature_for(SECRET, body),
        "INGEST_RUN": uuid.uuid4().hex,
        "PATH": "/usr/bin:/bin",
    }
    threads = min(2, concurrency)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(tmp / "ingest.lua"),
            url + "/webhook",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    failed = _WRK_NON_2XX.search(out)
    if failed:
        raise RuntimeError(f"{failed.group(1)} answers were not 2xx:\n{out}")
    rate = _WRK_RATE.search(out)
    percentiles = {p: float(v) * _UNIT_MS[u] for p, v, u in _WRK_PERCENTILE.findall(out)}
    if rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(rate.group(1)), percentiles["50"], percentiles["99"]


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not come up")


async def measure(
    name: str, url: str, args: argparse.Namespace, tmp: Path
) -> tuple[float, float, float]:
    if shutil.which("wrk"):
        rate, p50, p99 = await asyncio.to_thread(wrk_load, url, args.seconds, args.concurrency, tmp)
    else:
        elapsed, latencies = await load(url, args.requests, args.concurrency, warmup=100)
        rate = len(latencies) / elapsed
        cuts = statistics.quantiles(latencies, n=100)
        p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    print(f"{name:<26} {rate:8,.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms", flush=True)
    return rate, p50, p99


async def main_async(args: argparse.Namespace) -> None:
    size = len(json.dumps(payload(0)))
    generator = (
        f"wrk ({args.seconds} s per measurement, Lua script varying X-GitHub-Delivery)"
        if shutil.which("wrk")
        else f"Python aiohttp client ({args.requests} requests; wrk not installed)"
    )
    print(
        f"signed workflow_run deliveries of {size / 1024:.1f} KB,"
        f" {args.concurrency} connections; load generator: {generator}"
    )
    key = generate_private_key_pem()
    sim = SimulatedGitHub(app_id=1, app_key=key)
    sim.add_installation(INSTALLATION)
    sim.add_repo(REPO)
    sim.set_file(REPO, ".github/trunkwatch.yml", DEFAULT_CONFIG.read_text())
    await sim.start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key_path = tmp / "app.pem"
        key_path.write_text(key)
        db = tmp / "bench.db"
        env = serve_env(1, key_path, SECRET, sim.base_url, db, "warning")
        serve = ServeProcess(env, tmp / "serve.log")
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])  # noqa: ASYNC220
        try:
            await serve.start()
            bare_url = f"http://127.0.0.1:{port}"
            await wait_up(bare_url)
            results: dict[str, list[tuple[float, float, float]]] = {}
            # Alternate the two so that neither gets the quieter part of the run.
            for round_ in range(args.rounds):
                for name, url in (
                    ("bare aiohttp (peer)", bare_url),
                    ("trunkwatch serve", serve.url),
                ):
                    measured = await measure(f"{name} [{round_ + 1}]", url, args, tmp)
                    results.setdefault(name, []).append(measured)
            ceiling = await inbox_alone(tmp, args.seconds / 2, args.concurrency)
            print(f"{'inbox alone (no HTTP)':<26} {ceiling:8,.0f} adds/s", flush=True)
            serve_rate = statistics.mean(r[0] for r in results["trunkwatch serve"])
            peer_rate = statistics.mean(r[0] for r in results["bare aiohttp (peer)"])
            worst_p99 = max(r[2] for r in results["trunkwatch serve"])
            print(
                f"ratio trunkwatch/peer: {serve_rate / peer_rate:.2f}"
                f" (mean req/s {serve_rate:,.0f} / {peer_rate:,.0f});"
                f" trunkwatch's worst p99 {worst_p99:.1f} ms"
            )
            print(f"inbox after the run: {inbox_counts(db)}")
        finally:
            serve.stop()
            bare.terminate()
            bare.wait()
            await sim.stop()


async def inbox_alone(tmp: Path, seconds: float, concurrency: int) -> float:
    """`add_delivery` of the same bodies straight into a SQLite store, `concurrency` at a
    time: what the inbox can take on this disk, with no HTTP in front (adds/s)."""
    from bot.store import open_store
    from bot.store.base import Delivery

    body = json.dumps(payload(0)).encode()
    store = open_store(f"sqlite:///{tmp / 'inbox-alone.db'}")
    await store.open()
    added = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal added
        while time.perf_counter() < deadline:
            delivery = Delivery(uuid.uuid4().hex, "workflow_run", REPO, 1, body, time.time())
            await store.add_delivery(delivery)
            added += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await store.close()
    return added / elapsed


def inbox_counts(db: Path) -> dict[str, int]:
    """Deliveries in the inbox by status: each one answered 202 is there."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
    return {str(status): int(count) for status, count in rows}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="per measurement (wrk)")
    parser.add_argument("--requests", type=int, default=2000, help="per measurement (no wrk)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
