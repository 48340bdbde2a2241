"""The workflows a generated trunk runs: builds and their sharded test suites, by name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    """One build and its sharded test suites, on one runner type."""

    build: str
    tests: tuple[tuple[str, int], ...]  # (config, shards)
    runner: str

    def jobs(self) -> list[str]:
        names = [f"{self.build} / build"]
        for config, shards in self.tests:
            names += [
                f"{self.build} / test ({config}, {k}, {shards}, {self.runner})"
                for k in range(1, shards + 1)
            ]
        return names


WORKFLOWS: dict[str, tuple[Suite, ...]] = {
    "trunk": (
        Suite("linux-jammy-py3.10-gcc11", (("default", 5), ("distributed", 3)), "linux.4xlarge"),
        Suite("linux-jammy-cuda12.8-py3.10", (("default", 5), ("nogpu", 2)), "linux.g5.4xlarge"),
        Suite("win-vs2022-cpu-py3", (("default", 3),), "windows.4xlarge"),
    ),
    "inductor": (
        Suite(
            "linux-jammy-cuda12.8-sm86",
            (("inductor_torchbench", 4), ("inductor_huggingface", 3), ("inductor_timm", 3)),
            "linux.g5.4xlarge",
        ),
        Suite("linux-jammy-cpu-py3.10", (("inductor_cpu", 6),), "linux.8xlarge"),
    ),
    "rocm": (Suite("linux-jammy-rocm-py3.10", (("default", 6), ("distributed", 2)), "linux.rocm"),),
    "pull": (
        Suite("linux-jammy-py3.10-clang15", (("default", 6), ("crossref", 2)), "linux.2xlarge"),
        Suite("linux-jammy-py3.10-gcc11-debug", (("default", 6),), "linux.2xlarge"),
        Suite("macos-py3-arm64", (("default", 3),), "macos-m1"),
    ),
    "lint": (Suite("lintrunner", (), "linux.2xlarge"),),
}

# The configuration the benchmark scores with: one group per workflow, the defaults else.
CONFIG = """
groups:
  trunk: {workflows: ["trunk"]}
  inductor: {workflows: ["inductor"]}
  rocm: {workflows: ["rocm"]}
  pull: {workflows: ["pull"]}
  lint: {workflows: ["lint"]}
"""


def normalized(job: str) -> str:
    """A job's key as the default rules make it (shard numbers dropped)."""
    head, sep, rest = job.partition(" (")
    if not sep:
        return job
    items = [item.strip() for item in rest.rstrip(")").split(",")]
    if len(items) >= 3 and items[1].isdigit() and items[2].isdigit():
        items = [items[0], *items[3:]]
    return f"{head} ({', '.join(items)})"
