"""Generated trunk histories: deliveries in GitHub's webhook shapes, for the example file,
`trunkwatch demo`, the tests and the benchmarks.

A scenario is a run of commits on one branch; each commit gets a `push`, then for each
workflow one `workflow_job` delivery per job (reruns as further attempts) and one
`workflow_run` delivery. Breakages, flakes and infrastructure blips are described by which
job fails on which commits.

`python -m bot.sim.history --out examples/inductor-breakage.jsonl` writes the shipped example.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

INDUCTOR_JOBS = (
    "linux-jammy-cuda12.8-py3.10-gcc9-sm86 / test (inductor_torchbench, 1, 2, linux.g5.4xlarge)",
    "linux-jammy-cuda12.8-py3.10-gcc9-sm86 / test (inductor_torchbench, 2, 2, linux.g5.4xlarge)",
    "linux-jammy-cuda12.8-py3.10-gcc9-sm86 / test (inductor_huggingface, 1, 1, linux.g5.4xlarge)",
    "linux-jammy-cuda12.8-py3.10-gcc9-sm86 / test (inductor_timm, 1, 2, linux.g5.4xlarge)",
    "linux-jammy-cuda12.8-py3.10-gcc9-sm86 / test (inductor_timm, 2, 2, linux.g5.4xlarge)",
)
TRUNK_JOBS = (
    "linux-jammy-py3.10-gcc11 / build",
    "linux-jammy-py3.10-gcc11 / test (default, 1, 3, linux.4xlarge)",
    "linux-jammy-py3.10-gcc11 / test (default, 2, 3, linux.4xlarge)",
    "linux-jammy-py3.10-gcc11 / test (default, 3, 3, linux.4xlarge)",
    "win-vs2022-cpu-py3 / test (default, 1, 2, windows.4xlarge)",
)
LINT_JOBS = ("lintrunner-noclang", "quick-checks")
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
AUTHORS = ("alice", "bob", "carol", "dmitri", "eve", "farah", "octocat")
SUBJECTS = (
    "[inductor] Fuse pointwise reductions across views",
    "[dynamo] Trace through functools.partial in torch.compile",
    "Update lintrunner config for ruff",
    "[CI] Bump timeout of rocm test shards",
    "[aten] Fix overflow in index_put_ for int32 indices",
    "[inductor] Cache autotuning results per device",
    "Add docs for torch.export dynamic shapes",
    "[quant] Remove deprecated observer path",
)


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Scenario:
    """What happens on the trunk, commit by commit (commit indexes start at 0)."""

    repo: str = "pytorch/pytorch"
    branch: str = "main"
    commits: int = 14
    workflows: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"inductor": INDUCTOR_JOBS, "trunk": TRUNK_JOBS, "lint": LINT_JOBS}
    )
    # (workflow, job) → commit indexes on which it fails (every attempt)
    failures: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    # (workflow, job) → commit indexes on which attempt 1 fails and the rerun passes
    flakes: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    # commit indexes where every job fails once (a runner outage) and passes on rerun
    infra_blips: set[int] = field(default_factory=set)
    installation_id: int = 4242
    seed: int = 7
    # commits whose workflows never ran (superseded by the next push): only their push
    superseded: set[int] = field(default_factory=set)
    # commit index → "message text" override (e.g. to carry an @mention)
    messages: dict[int, str] = field(default_factory=dict)
    pr_base: int = 150_000


def default_scenario() -> Scenario:
    """One real Inductor breakage (commit 6, fixed by commit 10), a flaky trunk job, an infra
    blip on commit 3 and an `@octocat` in a commit message."""
    broken = (INDUCTOR_JOBS[1],)
    return Scenario(
        failures={("inductor", job): set(range(6, 10)) for job in broken},
        flakes={("trunk", TRUNK_JOBS[2]): {4}, ("inductor", INDUCTOR_JOBS[3]): {8}},
        infra_blips={2},
        messages={
            6: "[inductor] Reorder loop fusion heuristics\n\nThanks @octocat for the repro.",
            10: 'Revert "[inductor] Reorder loop fusion heuristics"',
        },
    )


def demo_scenario() -> Scenario:
    """The default story, where the culprit's workflows never ran: commits 5 and 6 were
    superseded by the next push before CI got to them, so the breakage shows from commit 7,
    and only runs on purpose (a bisect tag, a rerun) can tell that commit 6 broke it."""
    scenario = default_scenario()
    scenario.superseded = {5, 6}
    return scenario


def truth(scenario: Scenario, sha_of: dict[str, int]) -> Any:
    """The scenario's CI outcome of any job on any commit and attempt, for runs that the App
    asks for (a rerun, a bisect tag): a real failure fails every attempt, a flake the first."""

    def conclusion(sha: str, workflow: str, job: str, attempt: int) -> str:
        index = sha_of.get(sha, -1)
        if index in scenario.failures.get((workflow, job), set()):
            return "failure"
        flaky = index in scenario.flakes.get((workflow, job), set())
        if (flaky or index in scenario.infra_blips) and attempt == 1:
            return "failure"
        return "success"

    return conclusion


@dataclass
class Generator:
    scenario: Scenario

    def _repository(self) -> dict[str, Any]:
        owner, name = self.scenario.repo.split("/")
        return {
            "id": int(fake_sha(self.scenario.repo)[:8], 16),
            "name": name,
            "full_name": self.scenario.repo,
            "private": False,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "html_url": f"https://github.com/{self.scenario.repo}",
            "url": f"https://api.github.com/repos/{self.scenario.repo}",
            "default_branch": self.scenario.branch,
        }

    def _installation(self) -> dict[str, Any]:
        return {"id": self.scenario.installation_id, "node_id": "MDIzOkludGVncmF0aW9u"}

    def comment(self, number: int, body: str, user: str, comment_id: int) -> dict[str, Any]:
        """An `issue_comment` `created` delivery: `user` wrote `body` on issue `number`."""
        web = f"https://github.com/{self.scenario.repo}"
        who = {"login": user, "id": int(fake_sha(user)[:6], 16), "type": "User"}
        payload = {
            "action": "created",
            "issue": {
                "number": number,
                "title": "",
                "state": "open",
                "html_url": f"{web}/issues/{number}",
                "user": {"login": "trunkwatch[bot]", "type": "Bot"},
            },
            "comment": {
                "id": comment_id,
                "body": body,
                "html_url": f"{web}/issues/{number}#issuecomment-{comment_id}",
                "user": who,
                "author_association": "MEMBER",
            },
            "repository": self._repository(),
            "sender": who,
            "installation": self._installation(),
        }
        delivery_id = f"comment-{comment_id}"
        return {"event": "issue_comment", "delivery_id": delivery_id, "payload": payload}

    def commit_sha(self, index: int) -> str:
        return fake_sha(self.scenario.repo, self.scenario.seed, "commit", index)

    def pr_number(self, index: int) -> int:
        return self.scenario.pr_base + index * 7

    def author(self, index: int) -> str:
        return random.Random(self.scenario.seed * 1000 + index).choice(AUTHORS)

    def message(self, index: int) -> str:
        body = self.scenario.messages.get(index) or random.Random(
            self.scenario.seed * 7919 + index
        ).choice(SUBJECTS)
        subject, _, rest = body.partition("\n")
        return f"{subject} (#{self.pr_number(index)})" + (f"\n{rest}" if rest else "")

    def push(self, index: int) -> dict[str, Any]:
        sha = self.commit_sha(index)
        before = self.commit_sha(index - 1) if index else "0" * 40
        author = self.author(index)
        commit = {
            "id": sha,
            "tree_id": fake_sha("tree", sha),
            "distinct": True,
            "message": self.message(index),
            "timestamp": (EPOCH + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "url": f"https://github.com/{self.scenario.repo}/commit/{sha}",
            "author": {
                "name": author.title(),
                "email": f"{author}@example.com",
                "username": author,
            },
            "committer": {
                "name": "PyTorch MergeBot",
                "email": "pytorchmergebot@users.noreply.github.com",
                "username": "pytorchmergebot",
            },
            "added": [],
            "removed": [],
            "modified": ["torch/_inductor/scheduler.py"],
        }
        return {
            "ref": f"refs/heads/{self.scenario.branch}",
            "before": before,
            "after": sha,
            "created": index == 0,
            "deleted": False,
            "forced": False,
            "base_ref": None,
            "compare": f"https://github.com/{self.scenario.repo}/compare/{before[:12]}...{sha[:12]}",
            "commits": [commit],
            "head_commit": commit,
            "repository": self._repository(),
            "pusher": {
                "name": "pytorchmergebot",
                "email": "pytorchmergebot@users.noreply.github.com",
            },
            "sender": {"login": "pytorchmergebot", "id": 97764156, "type": "User"},
            "installation": self._installation(),
        }

    def run_id(self, index: int, workflow: str) -> int:
        return 10_000_000 + index * 100 + sorted(self.scenario.workflows).index(workflow)

    def job_id(self, index: int, workflow: str, job: str, attempt: int) -> int:
        return int(fake_sha(index, workflow, job, attempt)[:10], 16)

    def job_payload(
        self, index: int, workflow: str, job: str, attempt: int, conclusion: str
    ) -> dict[str, Any]:
        sha = self.commit_sha(index)
        run_id = self.run_id(index, workflow)
        job_id = self.job_id(index, workflow, job, attempt)
        html = f"https://github.com/{self.scenario.repo}/actions/runs/{run_id}/job/{job_id}"
        return {
            "action": "completed",
            "workflow_job": {
                "id": job_id,
                "run_id": run_id,
                "workflow_name": workflow,
                "head_branch": self.scenario.branch,
                "run_url": f"https://api.github.com/repos/{self.scenario.repo}/actions/runs/{run_id}",
                "run_attempt": attempt,
                "node_id": "CR_kwDOA",
                "head_sha": sha,
                "url": f"https://api.github.com/repos/{self.scenario.repo}/actions/jobs/{job_id}",
                "html_url": html,
                "status": "completed",
                "conclusion": conclusion,
                "created_at": "2026-11-01T00:00:00Z",
                "started_at": "2026-11-01T00:01:00Z",
                "completed_at": "2026-11-01T00:41:00Z",
                "name": job,
                "steps": [],
                "check_run_url": f"https://api.github.com/repos/{self.scenario.repo}/check-runs/{job_id}",
                "labels": ["linux.g5.4xlarge.nvidia.gpu"],
                "runner_id": 1,
                "runner_name": "i-0abc",
                "runner_group_id": 1,
                "runner_group_name": "Default",
            },
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "id": 97764156, "type": "User"},
            "installation": self._installation(),
        }

    def run_payload(
        self, index: int, workflow: str, attempt: int, conclusion: str
    ) -> dict[str, Any]:
        sha = self.commit_sha(index)
        run_id = self.run_id(index, workflow)
        api = f"https://api.github.com/repos/{self.scenario.repo}/actions/runs/{run_id}"
        return {
            "action": "completed",
            "workflow_run": {
                "id": run_id,
                "name": workflow,
                "head_branch": self.scenario.branch,
                "head_sha": sha,
                "path": f".github/workflows/{workflow}.yml",
                "display_title": self.message(index).partition("\n")[0],
                "run_number": index + 1,
                "event": "push",
                "status": "completed",
                "conclusion": conclusion,
                "workflow_id": 1000 + sorted(self.scenario.workflows).index(workflow),
                "url": api,
                "html_url": f"https://github.com/{self.scenario.repo}/actions/runs/{run_id}",
                "pull_requests": [],
                "run_attempt": attempt,
                "jobs_url": f"{api}/jobs",
                "rerun_url": f"{api}/rerun",
                "head_repository": {"full_name": self.scenario.repo},
                "repository": {"full_name": self.scenario.repo},
            },
            "workflow": {"id": 1000, "name": workflow, "path": f".github/workflows/{workflow}.yml"},
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "id": 97764156, "type": "User"},
            "installation": self._installation(),
        }

    def commit_deliveries(self, index: int) -> Iterator[dict[str, Any]]:
        """The deliveries for one commit: its push, then each workflow's jobs and run."""
        sha = self.commit_sha(index)
        job_id = functools.partial(self.job_id, index)
        yield {"event": "push", "delivery_id": f"push-{sha[:12]}", "payload": self.push(index)}
        if index in self.scenario.superseded:
            return
        for workflow in sorted(self.scenario.workflows):
            attempts: dict[str, list[str]] = {}
            for job in self.scenario.workflows[workflow]:
                fails = index in self.scenario.failures.get((workflow, job), set())
                flaky = index in self.scenario.flakes.get((workflow, job), set())
                blip = index in self.scenario.infra_blips
                if fails:
                    attempts[job] = ["failure"]
                elif flaky or blip:
                    attempts[job] = ["failure", "success"]
                else:
                    attempts[job] = ["success"]
            rounds = max(len(a) for a in attempts.values())
            for attempt in range(1, rounds + 1):
                for job, outcomes in attempts.items():
                    if attempt <= len(outcomes):
                        yield {
                            "event": "workflow_job",
                            "delivery_id": f"job-{sha[:8]}-{job_id(workflow, job, attempt)}",
                            "payload": self.job_payload(
                                index, workflow, job, attempt, outcomes[attempt - 1]
                            ),
                        }
                failed = any(
                    (o[attempt - 1] if attempt <= len(o) else o[-1]) == "failure"
                    for o in attempts.values()
                )
                yield {
                    "event": "workflow_run",
                    "delivery_id": f"run-{sha[:8]}-{workflow}-{attempt}",
                    "payload": self.run_payload(
                        index, workflow, attempt, "failure" if failed else "success"
                    ),
                }

    def deliveries(self) -> Iterator[dict[str, Any]]:
        for index in range(self.scenario.commits):
            yield from self.commit_deliveries(index)


def generate(scenario: Scenario | None = None) -> list[dict[str, Any]]:
    return list(Generator(scenario or default_scenario()).deliveries())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a generated trunk history as JSONL.")
    parser.add_argument("--out", default="-", help="file to write (default: stdout)")
    parser.add_argument("--commits", type=int, default=None)
    args = parser.parse_args(argv)
    scenario = default_scenario()
    if args.commits:
        scenario.commits = args.commits
    lines = (json.dumps(d, sort_keys=True) + "\n" for d in generate(scenario))
    if args.out == "-":
        sys.stdout.writelines(lines)
    else:
        with open(args.out, "w", encoding="utf-8") as out:
            out.writelines(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
