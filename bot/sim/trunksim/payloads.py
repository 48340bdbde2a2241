"""A generated trunk's deliveries in GitHub's webhook shapes: push, workflow_run, workflow_job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.sim.trunksim.model import EPOCH, Event


@dataclass
class Payloads:
    """Builds the deliveries of one trunk from its planned events, when they are read."""

    repo: str
    branch: str
    shas: list[str]
    authors: list[str]
    pushed_at: list[float]

    def delivery(self, event: Event) -> dict[str, Any]:
        """`{"event", "delivery_id", "payload"}` of one event."""
        d = event.data
        if event.kind == "push":
            return {
                "event": "push",
                "delivery_id": f"push-{event.order}",
                "payload": self._push(d["commits"]),
            }
        if event.kind == "run":
            return {
                "event": "workflow_run",
                "delivery_id": f"run-{event.order}",
                "payload": self._run_payload(d),
            }
        return {
            "event": "workflow_job",
            "delivery_id": f"job-{event.order}",
            "payload": self._job_payload(d),
        }

    def time(self, minutes: float) -> str:
        return (EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def message(self, index: int) -> str:
        return f"Change number {index} of the trunk (#{100_000 + index})"

    def _repository(self) -> dict[str, Any]:
        owner, name = self.repo.split("/")
        return {
            "id": 65600975,
            "name": name,
            "full_name": self.repo,
            "private": False,
            "owner": {"login": owner, "id": 21003710, "type": "Organization"},
            "html_url": f"https://github.com/{self.repo}",
            "default_branch": self.branch,
        }

    def _push(self, commits: list[int]) -> dict[str, Any]:
        first = commits[0]
        before = self.shas[first - 1] if first else "0" * 40
        items = [
            {
                "id": self.shas[i],
                "message": self.message(i),
                "timestamp": self.time(self.pushed_at[i]),
                "url": f"https://github.com/{self.repo}/commit/{self.shas[i]}",
                "author": {"name": self.authors[i], "username": self.authors[i]},
                "added": [],
                "removed": [],
                "modified": ["torch/_inductor/scheduler.py"],
            }
            for i in commits
        ]
        return {
            "ref": f"refs/heads/{self.branch}",
            "before": before,
            "after": self.shas[commits[-1]],
            "created": False,
            "deleted": False,
            "forced": False,
            "commits": items,
            "head_commit": items[-1],
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }

    def _run_payload(self, d: dict[str, Any]) -> dict[str, Any]:
        completed = d["status"] == "completed"
        action = "requested" if d["status"] == "requested" else d["status"]
        api = f"https://api.github.com/repos/{self.repo}/actions/runs/{d['run_id']}"
        return {
            "action": action,
            "workflow_run": {
                "id": d["run_id"],
                "name": d["workflow"],
                "head_branch": d.get("branch", self.branch),
                "head_sha": self.shas[d["index"]],
                "event": "push",
                "status": "queued" if action == "requested" else d["status"],
                "conclusion": d["conclusion"] if completed else None,
                "run_attempt": d["attempt"],
                "run_started_at": self.time(d["start"]),
                "created_at": self.time(d["start"]),
                "updated_at": self.time(d.get("end", d["start"])),
                "html_url": f"https://github.com/{self.repo}/actions/runs/{d['run_id']}",
                "jobs_url": f"{api}/jobs",
                "head_repository": {"full_name": self.repo},
            },
            "workflow": {"name": d["workflow"]},
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }

    def job(self, d: dict[str, Any]) -> dict[str, Any]:
        """The job object of a `workflow_job` delivery (and of the list-jobs API)."""
        completed = d["status"] == "completed"
        conclusion = d.get("conclusion") if completed else None
        steps: list[dict[str, Any]] = []
        if completed and conclusion not in ("skipped",):
            steps = [{"name": "Set up job", "number": 1, "status": "completed"}]
            if conclusion == "failure" and not d.get("steps_fail", True):
                steps[0]["conclusion"] = "failure"  # the runner never got going
            else:
                steps[0]["conclusion"] = "success"
                steps.append(
                    {"name": "Test", "number": 2, "status": "completed",
                     "conclusion": conclusion if conclusion != "timed_out" else "cancelled"}
                )  # fmt: skip
        return {
            "id": d["job_id"],
            "run_id": d["run_id"],
            "run_attempt": d["attempt"],
            "workflow_name": d["workflow"],
            "head_branch": d.get("branch", self.branch),
            "head_sha": self.shas[d["index"]],
            "html_url": f"https://github.com/{self.repo}/actions/runs/{d['run_id']}/job/{d['job_id']}",
            "status": d["status"],
            "conclusion": conclusion,
            "created_at": self.time(d["start"]),
            "started_at": self.time(d["start"]),
            "completed_at": self.time(d["end"]) if completed else None,
            "name": d["name"],
            "steps": steps,
            "labels": [d["runner"]],
            "runner_name": f"i-{d['job_id'] % 100000:05d}" if d["status"] != "queued" else None,
        }

    def _job_payload(self, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "action": d["status"],
            "workflow_job": self.job(d),
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }
