"""Two time bounds the tests do not assert with a stopwatch (the machine is shared and noisy),
each measured here beside a peer in the same run:

1. The event loop while 200 deliveries of 16 KB are added to the SQLite inbox at once: its
   longest stall and how many turns it got, beside the same rows inserted with sqlite3 on the
   loop itself (what blocking writes would do). tests/test_store.py checks that the loop gets
   turns; the stall was bounded there at 100 ms.
2. Refusing a YAML alias bomb (9 levels of 9 aliases: 387,420,489 strings if expanded): how
   long the refusal takes, beside loading the built-in configuration. tests/test_config.py
   checks the refusal; its time was bounded there at 200 ms.

    python bench/bounds.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from itertools import pairwise
from pathlib import Path

from bot.config import ConfigInvalid, load_default, load_text
from bot.store import open_store
from bot.store.base import Delivery

ADDS = 200
BODY = b"x" * 16_384  # the size of a typical workflow_run payload


async def loop_turns(work: Callable[[], Awaitable[object]]) -> tuple[float, int]:
    """The loop's longest stall (seconds) while `work` runs, and how many turns it got."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await work()
    ticks.append(time.perf_counter())
    done.set()
    await ticking
    return max(b - a for a, b in pairwise(ticks)), len(ticks)


def delivery(n: int) -> Delivery:
    return Delivery(f"d-{n}", "workflow_run", "o/r", 42, BODY, time.time())


async def store_adds(path: Path) -> tuple[float, int]:
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        return await loop_turns(
            lambda: asyncio.gather(*(store.add_delivery(delivery(n)) for n in range(ADDS)))
        )
    finally:
        await store.close()


async def blocking_inserts(path: Path) -> tuple[float, int]:
    """The peer: the same rows, each committed by sqlite3 on the loop's own thread."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, body BLOB)")

    async def insert(n: int) -> None:
        conn.execute("INSERT INTO deliveries VALUES (?, ?)", (f"d-{n}", BODY))

    try:
        return await loop_turns(lambda: asyncio.gather(*(insert(n) for n in range(ADDS))))
    finally:
        conn.close()


def alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines)


def refuse(text: str) -> float:
    started = time.perf_counter()
    try:
        load_text(text, ".github/trunkwatch.yml")
    except ConfigInvalid:
        return time.perf_counter() - started
    raise AssertionError("the alias bomb was accepted")


def load_builtin() -> float:
    started = time.perf_counter()
    load_default()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


async def main(rounds: int) -> None:
    stalls: dict[str, list[float]] = {"store": [], "peer": []}
    turns: dict[str, list[int]] = {"store": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):  # alternated, so that both meet the same noise
            for name, measure in (("store", store_adds), ("peer", blocking_inserts)):
                stall, count = await measure(Path(tmp) / f"{name}-{round_}.db")
                stalls[name].append(stall)
                turns[name].append(count)
    store, peer = (statistics.median(stalls[name]) for name in ("store", "peer"))
    print(f"event loop during {ADDS} adds of {len(BODY) // 1024} KB, median of {rounds} rounds:")
    print(
        f"  inbox (store thread)       longest stall {ms(store)}, "
        f"{statistics.median(turns['store']):>6,.0f} turns"
    )
    print(
        f"  sqlite3 on the loop (peer) longest stall {ms(peer)}, "
        f"{statistics.median(turns['peer']):>6,.0f} turns"
    )
    print(f"  stall ratio inbox / peer: {store / peer:.2f}   (the old test bound: 100 ms)")

    bomb = alias_bomb()
    refused = statistics.median(refuse(bomb) for _ in range(rounds))
    builtin = statistics.median(load_builtin() for _ in range(rounds))
    print(f"YAML alias bomb refused in   {ms(refused)}   (the old test bound: 200 ms)")
    print(f"built-in config loaded in    {ms(builtin)}   (peer)")
    print(f"  ratio refusal / built-in load: {refused / builtin:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
