"""Webhook ingest: signed ~20 KB `workflow_run` deliveries at concurrency 32.

Measured in the same run against (1) `trunkwatch serve` on SQLite — verifying the signature,
writing each delivery durably to the inbox before its 202, with the worker processing them
meanwhile — and (2) the peer: a bare aiohttp app that only reads the body and answers 202.
Prints req/s, p50/p99 latency and the ratio.

    python bench/ingest.py [--requests 4000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from bot.devserver import ServeProcess, free_port
from bot.history import Generator, default_scenario
from bot.server import signature_for
from bot.simulated_github import SimulatedGitHub
from bot.simulated_github.keys import generate_private_key_pem

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


def report(name: str, elapsed: float, latencies: list[float]) -> float:
    rate = len(latencies) / elapsed
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    print(f"{name:<26} {rate:8,.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    return rate


async def main_async(requests: int, concurrency: int) -> None:
    size = len(json.dumps(payload(0)))
    kb = size / 1024
    print(f"{requests} signed workflow_run deliveries of {kb:.1f} KB, concurrency {concurrency}")
    key = generate_private_key_pem()
    sim = SimulatedGitHub(app_id=1, app_key=key)
    sim.add_installation(INSTALLATION)
    sim.add_repo(REPO)
    sim.set_file(REPO, ".github/trunkwatch.yml", DEFAULT_CONFIG.read_text())
    await sim.start()
    with tempfile.TemporaryDirectory() as tmp:
        key_path = Path(tmp) / "app.pem"
        key_path.write_text(key)
        serve = ServeProcess(
            {
                "GITHUB_APP_ID": "1",
                "GITHUB_PRIVATE_KEY_PATH": str(key_path),
                "GITHUB_WEBHOOK_SECRET": SECRET,
                "GITHUB_API_URL": sim.base_url,
                "TRUNKWATCH_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "LOG_LEVEL": "warning",
            },
            Path(tmp) / "serve.log",
        )
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])  # noqa: ASYNC220
        try:
            await serve.start()
            bare_url = f"http://127.0.0.1:{port}"
            await wait_up(bare_url)
            rates = {}
            # Alternate the two, twice, so neither gets the quieter half of the run.
            for round_ in range(2):
                for name, url in (
                    ("bare aiohttp (peer)", bare_url),
                    ("trunkwatch serve", serve.url),
                ):
                    elapsed, latencies = await load(url, requests // 2, concurrency, warmup=100)
                    rates.setdefault(name, []).append(
                        report(f"{name} [{round_ + 1}]", elapsed, latencies)
                    )
            ratio = statistics.mean(rates["trunkwatch serve"]) / statistics.mean(
                rates["bare aiohttp (peer)"]
            )
            print(f"ratio trunkwatch/peer: {ratio:.2f}")
        finally:
            serve.stop()
            bare.terminate()
            bare.wait()
            await sim.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main_async(args.requests, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
