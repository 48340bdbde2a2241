"""`trunkwatch replay`'s throughput and memory, beside the tracker alone (the ceiling).

A generated history in the shape of a busy trunk (about 100 jobs over four workflows, one
`workflow_job` delivery per job and attempt, reruns for flakes and runner outages, a few
real breakages) is written to a JSONL file, then measured in one run:

1. the tracker alone: the same facts, parsed beforehand, applied to a `RepoTracker`
   (no payloads, no handlers, no store): what replay could reach at best;
2. `trunkwatch replay` of the file (reading and parsing the lines included);
3. peak memory of a replay of a much longer history (default 1,000,000 deliveries),
   in a child process so that its peak is its own.

    python bench/replay.py [--commits 1000] [--long-deliveries 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.config import load_default
from bot.events import parse_push, parse_workflow_job, parse_workflow_run
from bot.runtime.replay import replay
from bot.sim.history import Generator, Scenario
from bot.tracker import RepoTracker
from bot.tracker.model import JobResult, Push

WORKFLOWS = {
    "inductor": 30,
    "trunk": 40,
    "pull": 26,
    "lint": 4,
}


def busy_trunk(commits: int) -> Scenario:
    """About 112 deliveries per commit: 1 push, 100 jobs, 4 runs, and reruns."""
    workflows = {
        name: tuple(
            f"{name}-build / test (suite{i % 7}, {i}, {n}, linux.4xlarge)" for i in range(n)
        )
        for name, n in WORKFLOWS.items()
    }
    breakages = range(50, commits, 300)  # a real breakage of 5 commits every 300
    return Scenario(
        commits=commits,
        workflows=workflows,
        failures={
            ("trunk", workflows["trunk"][3]): {i for s in breakages for i in range(s, s + 5)},
            ("inductor", workflows["inductor"][7]): {
                i for s in breakages for i in range(s + 100, s + 104)
            },
        },
        # A flaky job fails once and passes on its rerun, on every third commit.
        flakes={("pull", workflows["pull"][k]): set(range(k, commits, 3)) for k in range(9)},
        infra_blips=set(range(17, commits, 97)),  # every job of the commit fails once
    )


def write_history(path: Path, scenario: Scenario, limit: int | None = None) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for delivery in Generator(scenario).deliveries():
            out.write(json.dumps(delivery) + "\n")
            count += 1
            if limit is not None and count >= limit:
                break
    return count


def facts(path: Path) -> Iterator[Push | JobResult]:
    """The facts the handlers would hand the tracker (job results from `workflow_job`;
    a run's own result from `workflow_run`), parsed ahead of the measurement."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record: dict[str, Any] = json.loads(line)
            payload, delivery_id = record["payload"], record["delivery_id"]
            if record["event"] == "push":
                pushed = parse_push(payload, delivery_id)
                if pushed is not None:
                    yield pushed.push
            elif record["event"] == "workflow_job":
                yield parse_workflow_job(payload, delivery_id).result
            elif record["event"] == "workflow_run":
                yield parse_workflow_run(payload).as_result(delivery_id)


def tracker_alone(path: Path) -> tuple[float, int, int]:
    config = load_default().tracker_config("main")
    parsed = list(facts(path))
    tracker = RepoTracker("pytorch/pytorch", config, [])
    decisions = 0
    started = time.perf_counter()
    for fact in parsed:
        decisions += len(tracker.apply(fact))
    return time.perf_counter() - started, len(parsed), decisions


def replayed(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    sink = asyncio.run(replay(path, load_default(), io.StringIO(), as_json=True))
    return time.perf_counter() - started, len(sink.records)


LONG_REPLAY = """
import asyncio, io, json, resource, sys, time
from bench.replay import busy_trunk
from bot.actions.dryrun import DryRunSink
from bot.config import load_default
from bot.sim.history import Generator
from bot.runtime.replay import RecordedDelivery, Replayer

async def main(limit):
    replayer = Replayer(load_default(), DryRunSink(io.StringIO(), as_json=True))
    started = time.perf_counter()
    for n, d in enumerate(Generator(busy_trunk(limit // 100)).deliveries()):
        if n >= limit:
            break
        # Through JSON text, as from a file, so that no string is shared with the generator.
        d = json.loads(json.dumps(d))
        await replayer.feed(RecordedDelivery(d["event"], d["delivery_id"], d["payload"]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(replayer.processed, time.perf_counter() - started, rss, len(replayer.sink.records))

asyncio.run(main(int(sys.argv[1])))
"""


LONG_TRACKER = """
import json, resource, sys, time
from bench.replay import busy_trunk
from bot.config import load_default
from bot.events import parse_push, parse_workflow_job, parse_workflow_run
from bot.sim.history import Generator
from bot.tracker import RepoTracker

def main(limit):
    tracker = RepoTracker("pytorch/pytorch", load_default().tracker_config("main"), [])
    decisions = 0
    started = time.perf_counter()
    for n, d in enumerate(Generator(busy_trunk(limit // 100)).deliveries()):
        if n >= limit:
            break
        d = json.loads(json.dumps(d))
        payload, event = d["payload"], d["event"]
        if event == "push":
            fact = parse_push(payload, d["delivery_id"]).push
        elif event == "workflow_job":
            fact = parse_workflow_job(payload, d["delivery_id"]).result
        else:
            fact = parse_workflow_run(payload).as_result(d["delivery_id"])
        decisions += len(tracker.apply(fact))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(limit, time.perf_counter() - started, rss, decisions)

main(int(sys.argv[1]))
"""


def long_run(program: str, deliveries: int) -> tuple[int, float, int, int]:
    """(deliveries, seconds, peak RSS in KiB, actions) of a child process running `program`
    over a long generated history, fed as it is generated (no 1.5 GB file)."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", program, str(deliveries)],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]), int(out[3])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--long-deliveries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "history.jsonl"
        deliveries = write_history(path, busy_trunk(args.commits))
        size = path.stat().st_size / 2**20
        print(f"history: {args.commits:,} commits, {deliveries:,} deliveries ({size:,.0f} MiB)")
        alone_s, n_facts, decisions = tracker_alone(path)
        replay_s, actions = replayed(path)
        print(
            f"tracker alone (ceiling):  {n_facts / alone_s:>9,.0f} facts/s"
            f"      ({n_facts:,} facts, {decisions} decisions, {alone_s:.1f} s)"
        )
        print(
            f"trunkwatch replay:        {deliveries / replay_s:>9,.0f} deliveries/s"
            f" ({actions} actions, {replay_s:.1f} s)"
        )
        print(f"replay / tracker alone:   {alone_s / replay_s:.2f}")
        if args.long_deliveries:
            for name, program in (("tracker alone", LONG_TRACKER), ("replay", LONG_REPLAY)):
                count, seconds, rss, long_actions = long_run(program, args.long_deliveries)
                print(
                    f"{count:,} deliveries, {name + ':':<14} peak RSS {rss / 1024:>5,.0f} MiB"
                    f" ({seconds:.0f} s including generating them, {long_actions} decisions)"
                )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process's own peak RSS: {own:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
