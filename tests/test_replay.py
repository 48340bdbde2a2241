"""`trunkwatch replay`: recorded deliveries in, the actions the App would take out."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_default
from bot.runtime.replay import ReplayError, replay
from bot.sim.history import INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario, default_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "inductor-breakage.jsonl"
BROKEN_KEY = (
    "inductor / linux-jammy-cuda12.8-py3.10-gcc9-sm86"
    " / test (inductor_torchbench, linux.g5.4xlarge)"
)


def write(path: Path, deliveries: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in deliveries))
    return path


async def run(path: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    await replay(path, load_default(), out, as_json=True)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def lifecycle(actions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a person sees of each alert whatever the arrival order: that it opened, for which
    jobs, and how it ended (its last close: a recovered alert whose culprit settles after it
    closed is closed again, naming the culprit, when results come after the recovery).
    (Which commit's result tipped it over, and what a closed alert knew when it closed,
    depend on what had arrived by then: see the README.)"""
    ended = {a["alert"]: a for a in actions if a["action"] == "close_alert"}
    return sorted(
        (a["action"], a["alert"], a["group"], tuple(a.get("jobs", ())), a.get("reason"))
        for a in [*(a for a in actions if a["action"] == "open_alert"), *ended.values()]
    )


def test_the_shipped_example_is_the_generated_history() -> None:
    lines = EXAMPLE.read_text().splitlines()
    assert [json.loads(line) for line in lines] == json.loads(
        json.dumps(list(Generator(default_scenario()).deliveries()))
    )


async def test_a_three_commit_inductor_breakage_opens_one_alert_naming_job_and_culprit() -> None:
    actions = await run(EXAMPLE)
    gen = Generator(default_scenario())
    opened = [a for a in actions if a["action"] == "open_alert"]
    assert len(opened) == 1, actions
    alert = opened[0]
    assert (alert["repo"], alert["branch"], alert["group"]) == (
        "pytorch/pytorch",
        "main",
        "inductor",
    )
    assert alert["jobs"] == [BROKEN_KEY]
    assert alert["streak"] == 3
    assert alert["suspects"] == [gen.commit_sha(6)]  # the commit that broke it
    assert alert["last_green"] == gen.commit_sha(5)
    assert alert["at"] == gen.commit_sha(8)  # the third failing commit
    # The flaky timm shard (commit 8), the flaky trunk job and the runner outage: nothing.
    assert {a["group"] for a in actions} == {"inductor"}
    closed = [a for a in actions if a["action"] == "close_alert"]
    assert [(c["alert"], c["reason"], c["recovered_by"]) for c in closed] == [
        (alert["alert"], "recovered", gen.commit_sha(10))
    ]
    updates = [a for a in actions if a["action"] == "update_alert"]
    assert [u["streak"] for u in updates] == [4]  # commit 9 failed too; commit 10 fixed it


@pytest.mark.parametrize("seed", range(1, 11))
async def test_shuffled_deliveries_give_the_same_alerts(tmp_path: Path, seed: int) -> None:
    deliveries = list(Generator(default_scenario()).deliveries())
    reference = lifecycle(await run(write(tmp_path / "ordered.jsonl", deliveries)))
    random.Random(seed).shuffle(deliveries)
    assert lifecycle(await run(write(tmp_path / "shuffled.jsonl", deliveries))) == reference


async def test_a_job_that_fails_once_and_passes_on_rerun_prints_nothing(tmp_path: Path) -> None:
    scenario = Scenario(commits=8, flakes={("inductor", INDUCTOR_JOBS[0]): {2, 3, 4, 5}})
    assert await run(write(tmp_path / "flaky.jsonl", list(Generator(scenario).deliveries()))) == []


async def test_an_outage_that_hits_every_job_once_prints_nothing(tmp_path: Path) -> None:
    scenario = Scenario(commits=6, infra_blips={1, 2, 3})
    assert await run(write(tmp_path / "blip.jsonl", list(Generator(scenario).deliveries()))) == []


async def test_repeated_deliveries_change_nothing(tmp_path: Path) -> None:
    deliveries = list(Generator(default_scenario()).deliveries())
    once = await run(write(tmp_path / "once.jsonl", deliveries))
    twice = await run(write(tmp_path / "twice.jsonl", deliveries + deliveries[::3]))
    assert twice == once


async def test_a_run_without_job_events_counts_at_workflow_level(tmp_path: Path) -> None:
    scenario = Scenario(
        commits=6, workflows={"trunk": TRUNK_JOBS}, failures={("trunk", TRUNK_JOBS[0]): {2, 3, 4}}
    )
    runs_only = [d for d in Generator(scenario).deliveries() if d["event"] != "workflow_job"]
    actions = await run(write(tmp_path / "runs.jsonl", runs_only))
    assert [(a["action"], a["jobs"]) for a in actions if a["action"] == "open_alert"] == [
        ("open_alert", ["trunk"])
    ]


async def test_a_line_that_is_not_a_delivery_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"event": "push", "delivery_id": "a", "payload": {}}\n{"event": "push"}\n')
    with pytest.raises(ReplayError, match=r"bad.jsonl:2: 'delivery_id'"):
        await run(path)


def trunkwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_command_line_prints_readable_actions() -> None:
    result = trunkwatch("replay", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("open_alert    pytorch/pytorch main [inductor] streak 3")
    assert "inductor_torchbench" in lines[0]
    assert lines[-1].startswith("close_alert   pytorch/pytorch main [inductor] recovered")


def test_command_line_json_and_errors(tmp_path: Path) -> None:
    result = trunkwatch("replay", str(EXAMPLE), "--json")
    assert [json.loads(line)["action"] for line in result.stdout.splitlines()] == [
        "open_alert",
        "update_alert",
        "close_alert",
    ]
    missing = trunkwatch("replay", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad_config = tmp_path / "trunkwatch.yml"
    bad_config.write_text("groups:\n  inductor:\n    threshold: three\n")
    rejected = trunkwatch("replay", str(EXAMPLE), "--config", str(bad_config))
    assert rejected.returncode == 2 and ":3:" in rejected.stderr and "three" in rejected.stderr
    bad_config.write_text("groups:\n  inductor:\n    treshold: 3\n")  # unknown: a warning
    warned = trunkwatch("replay", str(EXAMPLE), "--config", str(bad_config))
    assert warned.returncode == 0 and warned.stdout
    assert "warning:" in warned.stderr and ":3:" in warned.stderr and "treshold" in warned.stderr
