"""Memory under hostile senders: `trunkwatch serve` as a child process, its peak RSS read from
/proc while unsigned, compressed and wrongly signed bodies of up to 20 MB are posted at it,
many at once (issue 12: four unsigned 194 KB gzip bodies used to take it to 749 MB)."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import aiohttp
import pytest

from bot.web.server import IN_FLIGHT_BYTES
from tests.conftest import ServeApp

SECRET = "edge-memory-secret"
BIG = 20 * 1024 * 1024
# The bodies held at once are bounded by the webhook's budget (IN_FLIGHT_BYTES, 32 MiB); the
# rest is aiohttp's per-connection buffers. On a ~60 MB process that keeps it near 100 MB.
GROWTH_CEILING_MB = IN_FLIGHT_BYTES / 2**20 + 16

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads RSS from /proc"
)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def hostile_post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> int | None:
    try:
        async with session.post(f"{url}/webhook", data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (TimeoutError, aiohttp.ClientError):
        return None  # the server closed a connection it would not read


async def test_memory_stays_bounded_whatever_unsigned_or_wrongly_signed_senders_do(
    serve_app: ServeApp,
) -> None:
    serve = serve_app(SECRET)
    await serve.start()
    assert serve.process is not None
    pid = serve.process.pid
    base = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    big = b'{"zeros": "' + b"0" * (BIG - 13) + b'"}'
    bomb = gzip.compress(b"[" * (200 * 1024 * 1024), compresslevel=9)  # ~200 KB → 200 MB
    wrong = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        before, _ = rss_mb(pid)
        statuses = await asyncio.gather(
            *[hostile_post(session, serve.url, big, base) for _ in range(16)],
            *[
                hostile_post(session, serve.url, bomb, base | {"Content-Encoding": "gzip"})
                for _ in range(8)
            ],
            *[
                hostile_post(session, serve.url, bomb, base | wrong | {"Content-Encoding": "gzip"})
                for _ in range(8)
            ],
            *[hostile_post(session, serve.url, big, base | wrong) for _ in range(16)],
        )
        current, peak = rss_mb(pid)
        # The App still takes a real delivery afterwards.
        delivery = {"event": "ping", "delivery_id": "p-1", "payload": {"zen": "ok"}}
        assert await serve.post(session, delivery) == 200
    serve.stop()
    assert all(status is None or 400 <= status < 500 or status == 503 for status in statuses)
    print(json.dumps({"rss_before_mb": before, "rss_after_mb": current, "peak_mb": peak}))
    assert peak - before < GROWTH_CEILING_MB, (before, current, peak)
