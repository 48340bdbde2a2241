"""Seeding the simulated GitHub's state and reading it back (a mixin of SimulatedGitHub)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.sim.simulated_github import commit_shapes, state
from bot.sim.simulated_github.state import Installation, Issue, PullInfo, Repo, Run

_PR_SUFFIX = re.compile(r"\(#(\d+)\)\s*$")


SEEDED_JOB_FIELDS = (
    "id",
    "name",
    "status",
    "conclusion",
    "labels",
    "steps",
    "created_at",
    "started_at",
    "completed_at",
    "runner_name",
)


def pr_number_from_message(message: str) -> int | None:
    """The `(#123)` that a squash merge appends to a commit's subject."""
    found = _PR_SUFFIX.search(message.partition("\n")[0])
    return int(found.group(1)) if found else None


class Seeding:
    repos: dict[str, Repo]
    installations: dict[int, Installation]
    base_url: str

    # --- seeding -----------------------------------------------------------------------

    def add_installation(
        self, installation_id: int, account: str = "octo-org", repos: list[str] | None = None
    ) -> None:
        self.installations[installation_id] = Installation(
            installation_id, account, set(repos) if repos is not None else None
        )

    def add_repo(self, full_name: str, default_branch: str = "main", private: bool = False) -> Repo:
        owner, _, name = full_name.partition("/")
        repo = self.repos.get(full_name)
        if repo is None:
            repo = self.repos[full_name] = Repo(owner, name, default_branch, private)
        return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos.get(full_name) or self.add_repo(full_name)

    def add_commit(
        self,
        repo: str,
        sha: str,
        message: str = "",
        author: str = "octocat",
        pr: int | None = None,
        *,
        branch: str | None = None,
        date: str | None = None,
        files: list[str] | dict[str, str] | None = None,
    ) -> state.Commit:
        """Append a commit to a branch (the default one unless named); its parent is the
        branch's previous head. With `pr`, GitHub associates it with that (merged) PR.
        `files` are the paths it changes (modified), or path → added|modified|removed."""
        r = self.repo(repo)
        branch = branch or r.default_branch
        shas = r.branches.setdefault(branch, [])
        commit = state.Commit(
            sha=sha,
            message=message or f"commit {sha[:7]}",
            author=author,
            date=date or state.now_iso(),
            parents=[shas[-1]] if shas else [],
            files=dict(files)
            if isinstance(files, dict)
            else dict.fromkeys(files or [], "modified"),
        )
        r.commits[sha] = commit
        shas.append(sha)
        if pr is not None:
            if pr not in r.issues:
                self.add_pull(
                    repo,
                    pr,
                    title=commit.message.splitlines()[0],
                    author=author,
                    head_sha=sha,
                    merge_commit_sha=sha,
                )
            commit.pulls.append(pr)
        return commit

    def add_pull(
        self,
        repo: str,
        number: int | None = None,
        *,
        title: str = "A change",
        author: str = "octocat",
        body: str | None = None,
        head_ref: str | None = None,
        head_sha: str = "",
        base_ref: str | None = None,
        merged: bool = True,
        merge_commit_sha: str | None = None,
        state_: str | None = None,
    ) -> Issue:
        r = self.repo(repo)
        number = number or r.next_number()
        merged_at = state.now_iso() if merged else None
        issue = r.issues[number] = Issue(
            number=number,
            title=title,
            body=body,
            user=author,
            state=state_ or ("closed" if merged else "open"),
            closed_at=merged_at,
            pull=PullInfo(
                head_ref=head_ref or f"{author}/change-{number}",
                head_sha=head_sha or hashlib.sha1(f"pr{number}".encode()).hexdigest(),
                base_ref=base_ref or r.default_branch,
                merged=merged,
                merge_commit_sha=merge_commit_sha,
                merged_at=merged_at,
            ),
        )
        return issue

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str | None = None,
        *,
        author: str = "octocat",
        labels: list[str] | None = None,
        state_: str = "open",
    ) -> Issue:
        r = self.repo(repo)
        for name in labels or []:
            r.ensure_label(name)
        number = r.next_number()
        issue = r.issues[number] = Issue(
            number=number,
            title=title,
            body=body,
            user=author,
            labels=list(labels or []),
            state=state_,
            closed_at=state.now_iso() if state_ == "closed" else None,
        )
        return issue

    def add_label(self, repo: str, name: str, color: str = "ededed") -> state.Label:
        label = self.repo(repo).ensure_label(name)
        label.color = color
        return label

    def add_run(
        self,
        repo: str,
        run_id: int,
        jobs: list[dict[str, Any]],
        *,
        head_sha: str | None = None,
        workflow: str = "trunk",
        attempt: int | None = None,
        conclusion: str | None = None,
        branch: str | None = None,
        event: str = "push",
    ) -> dict[str, Any]:
        """A workflow run and the jobs of one attempt (the next one when `attempt` is None).

        Each job needs a `name`; `conclusion`, `status`, `id`, … default to a finished
        success. The run's conclusion defaults to failure if any job failed."""
        r = self.repo(repo)
        run = r.runs.get(run_id)
        if run is None:
            branch = branch or r.default_branch
            tip = r.branches.get(branch, [""])[-1] if r.branches.get(branch) else ""
            run = r.runs[run_id] = Run(
                id=run_id,
                workflow=workflow,
                head_sha=head_sha or tip or hashlib.sha1(str(run_id).encode()).hexdigest(),
                head_branch=branch,
                event=event,
                run_number=len(r.runs) + 1,
            )
        number = attempt or (max(run.attempts) + 1 if run.attempts else 1)
        # Ids stay as listed: a job is re-run by its id.
        run.attempts[number] = [{"id": state.next_id()} | dict(j) for j in jobs]
        if conclusion is None:
            failed = any(j.get("conclusion") in ("failure", "timed_out") for j in jobs)
            conclusion = "failure" if failed else "success"
        run.conclusions[number] = conclusion
        return commit_shapes.workflow_run(self.base_url, r, run)

    def seed_deliveries(self, deliveries: Iterable[Mapping[str, Any]]) -> None:
        """The repository state a stream of webhook deliveries describes (`push`,
        `workflow_job` and `workflow_run`, e.g. a generated history): the commits of each
        pushed branch in the order the pushes chain them (`before` → commits; a push that
        arrived late still lands in its place), with the pull request named in each message,
        and every attempt of every run with its jobs and conclusion, dated by its commit."""
        ordered = list(deliveries)
        pushed_to: dict[tuple[str, str], dict[str, None]] = {}  # shas in arrival order
        for delivery in ordered:
            payload = delivery["payload"]
            if delivery["event"] != "push" or not payload["ref"].startswith("refs/heads/"):
                continue
            name, branch = payload["repository"]["full_name"], payload["ref"][len("refs/heads/") :]
            self.repo(name).default_branch = payload["repository"]["default_branch"]
            parent = payload["before"]
            for pushed in payload["commits"]:
                self._seeded_commit(name, pushed, parent)
                pushed_to.setdefault((name, branch), {})[pushed["id"]] = None
                parent = pushed["id"]
        for (name, branch), shas in pushed_to.items():
            r = self.repo(name)
            parents = {r.commits[sha].parents[0] for sha in shas if r.commits[sha].parents}
            heads = [sha for sha in shas if sha not in parents]
            # One head: the chain from it; otherwise (pushes that do not chain) arrival order.
            r.branches[branch] = (
                list(reversed(r.history(heads[0]))) if len(heads) == 1 else list(shas)
            )
        for delivery in ordered:
            event, payload = delivery["event"], delivery["payload"]
            name = payload["repository"]["full_name"]
            if event == "push":
                continue
            if event == "workflow_job" and payload["workflow_job"]["status"] == "completed":
                job = payload["workflow_job"]
                run = self._seeded_run(name, job["run_id"], job["workflow_name"], job)
                run.attempts.setdefault(job["run_attempt"], []).append(
                    {key: job[key] for key in SEEDED_JOB_FIELDS if key in job}
                )
            elif event == "workflow_run" and payload["workflow_run"]["status"] == "completed":
                raw = payload["workflow_run"]
                run = self._seeded_run(name, raw["id"], raw["name"], raw)
                run.event = raw.get("event") or run.event
                run.attempts.setdefault(raw["run_attempt"], [])
                run.conclusions[raw["run_attempt"]] = raw["conclusion"]

    def _seeded_commit(self, repo: str, pushed: Mapping[str, Any], parent: str) -> None:
        r = self.repo(repo)
        if pushed["id"] in r.commits:
            return
        author = pushed["author"].get("username") or pushed["author"]["name"]
        commit = r.commits[pushed["id"]] = state.Commit(
            sha=pushed["id"],
            message=pushed["message"],
            author=author,
            date=pushed["timestamp"],
            parents=[] if set(parent) == {"0"} else [parent],
            files={
                path: status
                for status in ("added", "modified", "removed")
                for path in pushed.get(status) or []
            },
        )
        pr = pr_number_from_message(pushed["message"])
        if pr is not None:
            if pr not in r.issues:
                self.add_pull(
                    repo,
                    pr,
                    title=commit.message.splitlines()[0],
                    author=author,
                    head_sha=commit.sha,
                    merge_commit_sha=commit.sha,
                )
            commit.pulls.append(pr)

    def _seeded_run(self, repo: str, run_id: int, workflow: str, raw: Mapping[str, Any]) -> Run:
        r = self.repo(repo)
        run = r.runs.get(run_id)
        if run is None:
            commit = r.commits.get(raw["head_sha"])
            run = r.runs[run_id] = Run(
                id=run_id,
                workflow=workflow,
                head_sha=raw["head_sha"],
                head_branch=raw["head_branch"],
                event="push",
                run_number=len(r.runs) + 1,
                created_at=commit.date if commit else state.now_iso(),
            )
        return run

    def set_file(self, repo: str, path: str, text: str | None, ref: str | None = None) -> None:
        """Put a file at `ref` (the default branch if None); None removes it."""
        r = self.repo(repo)
        key = (ref or r.default_branch, path)
        if text is None:
            r.files.pop(key, None)
        else:
            r.files[key] = text

    def set_permission(self, repo: str, user: str, perm: str) -> None:
        """`admin`, `maintain`, `write`, `triage`, `read` or `none`."""
        if perm not in state.LEGACY_PERMISSION:
            raise ValueError(f"unknown permission {perm!r}")
        self.repo(repo).permissions[user] = perm

    # --- reading back ------------------------------------------------------------------

    def issues(self, repo: str, *, include_pulls: bool = False) -> list[Issue]:
        r = self.repo(repo)
        return [i for _, i in sorted(r.issues.items()) if include_pulls or i.pull is None]

    def comments(self, repo: str, number: int) -> list[str]:
        return [c.body for c in self.repo(repo).issues[number].comments]

    def labels_of(self, repo: str, number: int) -> list[str]:
        return list(self.repo(repo).issues[number].labels)

    def reruns(self, repo: str) -> list[int]:
        """The runs whose failed jobs were re-run (`rerun-failed-jobs`), in order."""
        return list(self.repo(repo).reruns)

    def job_reruns(self, repo: str) -> list[int]:
        """The jobs re-run one by one (`POST …/actions/jobs/{job_id}/rerun`), in order."""
        return list(self.repo(repo).job_reruns)

    def pulls(self, repo: str) -> list[Issue]:
        """Every pull request, seeded or opened through the API (e.g. a revert), by number."""
        return [i for _, i in sorted(self.repo(repo).issues.items()) if i.pull is not None]

    def tags(self, repo: str) -> dict[str, str]:
        """The repository's tags: name → sha."""
        return dict(self.repo(repo).tags)
