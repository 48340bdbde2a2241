"""Job keys: shard numbers dropped, group membership by case-sensitive globs."""

from __future__ import annotations

import pytest

from bot.tracker.jobkeys import (
    key_for,
    normalize_job_name,
    rule_matches,
    shard_of,
    watches_workflow,
)
from bot.tracker.model import GroupRule, JobKey


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        (
            "test (inductor_torchbench, 2, 4, linux.g5.4xlarge)",
            "test (inductor_torchbench, linux.g5.4xlarge)",
        ),
        (
            "linux-jammy-rocm-py3.10 / test (default, 1, 6, linux.rocm.gpu.2)",
            "linux-jammy-rocm-py3.10 / test (default, linux.rocm.gpu.2)",
        ),
        ("linux-jammy-rocm-py3.10 / build", "linux-jammy-rocm-py3.10 / build"),
        ("test (default, 1, linux.2xlarge)", "test (default, 1, linux.2xlarge)"),
        ("test (3, 5)", "test ()"),
        ("lint", "lint"),
        ("", ""),
        ("a (x, 1, 2) / b (y, 3, 4, z)", "a (x) / b (y, z)"),
    ],
)
def test_normalize_drops_the_shard_pair(name: str, normalized: str) -> None:
    assert normalize_job_name(name) == normalized


def test_split_shards_keeps_the_name() -> None:
    name = "test (default, 1, 6, linux.rocm.gpu.2)"
    assert normalize_job_name(name, split_shards=True) == name


def test_key_for_merges_shards_unless_the_rule_splits_them() -> None:
    merged = GroupRule("g")
    split = GroupRule("g", split_shards=True)
    assert key_for("trunk", "test (default, 1, 2, x)", merged) == JobKey(
        "trunk", "test (default, x)"
    )
    assert key_for("trunk", "test (default, 2, 2, x)", merged) == key_for(
        "trunk", "test (default, 1, 2, x)", merged
    )
    assert key_for("trunk", "test (default, 1, 2, x)", split) != key_for(
        "trunk", "test (default, 2, 2, x)", split
    )


@pytest.mark.parametrize(
    ("rule", "workflow", "job", "matches"),
    [
        (GroupRule("g"), "trunk", "build", True),
        (GroupRule("g"), "trunk", "", True),
        (GroupRule("g", workflows=("inductor*",)), "inductor-periodic", "x", True),
        (GroupRule("g", workflows=("inductor*",)), "trunk", "x", False),
        (GroupRule("g", workflows=("inductor*",)), "Inductor", "x", False),
        (GroupRule("g", jobs=("*inductor*",)), "trunk", "test (inductor, 1, 2)", True),
        (GroupRule("g", jobs=("*inductor*",)), "trunk", "", False),
        (GroupRule("g", jobs=("*inductor*",)), "trunk", "test (INDUCTOR)", False),
        (GroupRule("g", exclude_jobs=("*unstable*",)), "trunk", "test (unstable)", False),
        (
            GroupRule("g", jobs=("*unstable*",), exclude_jobs=("*unstable*",)),
            "trunk",
            "unstable",
            False,
        ),
    ],
)
def test_rule_matches(rule: GroupRule, workflow: str, job: str, matches: bool) -> None:
    assert rule_matches(rule, workflow, job) is matches


def test_watches_workflow() -> None:
    rule = GroupRule("g", workflows=("pull", "trunk"))
    assert watches_workflow(rule, "trunk")
    assert not watches_workflow(rule, "periodic")


@pytest.mark.parametrize(
    ("name", "shard"),
    [
        ("test (default, 2, 6, linux.rocm.gpu.2)", (2, 6)),
        ("a / test (inductor, 1, 1, x)", (1, 1)),
        ("build", None),
        ("test (default, x)", None),
    ],
)
def test_shard_of(name: str, shard: tuple[int, int] | None) -> None:
    assert shard_of(name) == shard
