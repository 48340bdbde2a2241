"""What the simulated GitHub knows: repositories and everything in them, as plain records."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Legacy `permission` for each role, as GET .../collaborators/{user}/permission reports it.
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_ids = itertools.count(1_000_001)


def next_id() -> int:
    """Ids for everything (jobs, comments, labels…), unique across one process."""
    return next(_ids)


@dataclass
class Installation:
    id: int
    account: str
    repos: set[str] | None  # None: every repository


@dataclass
class Label:
    name: str
    color: str = "ededed"
    description: str | None = None
    id: int = field(default_factory=next_id)


@dataclass
class Reaction:
    content: str
    user: str
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Comment:
    issue_number: int
    body: str
    user: str
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class PullInfo:
    head_ref: str
    head_sha: str
    base_ref: str
    merged: bool = True
    merge_commit_sha: str | None = None
    merged_at: str | None = None
    draft: bool = False


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    pull: PullInfo | None = None
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    closed_at: str | None = None


@dataclass
class Commit:
    sha: str
    message: str
    author: str
    date: str
    parents: list[str]
    pulls: list[int] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # path → added|modified|removed


@dataclass
class Run:
    id: int
    workflow: str
    head_sha: str
    head_branch: str
    event: str
    run_number: int
    # Jobs of each attempt (1-based), in the order GitHub lists them.
    attempts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    conclusions: dict[int, str | None] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)

    @property
    def latest_attempt(self) -> int:
        return max(self.attempts) if self.attempts else 1


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    id: int = field(default_factory=next_id)
    labels: dict[str, Label] = field(default_factory=dict)  # keyed by lower-cased name
    issues: dict[int, Issue] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, list[str]] = field(default_factory=dict)  # shas, oldest first
    tags: dict[str, str] = field(default_factory=dict)  # lightweight tag name → sha
    runs: dict[int, Run] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (ref, path) → text
    permissions: dict[str, str] = field(default_factory=dict)
    reruns: list[int] = field(default_factory=list)  # runs whose failed jobs were re-run
    job_reruns: list[int] = field(default_factory=list)  # jobs re-run one by one

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1

    def label(self, name: str) -> Label | None:
        return self.labels.get(name.lower())

    def ensure_label(self, name: str) -> Label:
        """GitHub creates a label that an issue is given but the repository lacks."""
        existing = self.label(name)
        if existing is not None:
            return existing
        created = self.labels[name.lower()] = Label(name=name)
        return created

    def find_comment(self, comment_id: int) -> Comment | None:
        for issue in self.issues.values():
            for comment in issue.comments:
                if comment.id == comment_id:
                    return comment
        return None

    def resolve_ref(self, ref: str) -> str | None:
        """A sha (full or abbreviated ≥ 7), branch or tag name → full sha."""
        if self.branches.get(ref):
            return self.branches[ref][-1]
        if ref in self.tags:
            return self.tags[ref]
        if ref in self.commits:
            return ref
        if len(ref) >= 7:
            matches = [sha for sha in self.commits if sha.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def history(self, sha: str) -> list[str]:
        """`sha` and its first-parent ancestors, newest first."""
        out: list[str] = []
        current: str | None = sha
        while current is not None and current in self.commits:
            out.append(current)
            parents = self.commits[current].parents
            current = parents[0] if parents else None
        return out

    def read_file(self, path: str, ref: str | None) -> str | None:
        ref = ref or self.default_branch
        if (ref, path) in self.files:
            return self.files[(ref, path)]
        # A commit on a branch sees that branch's files (the simulation keeps no trees).
        sha = self.resolve_ref(ref)
        for branch, shas in self.branches.items():
            if sha is not None and sha in shas and (branch, path) in self.files:
                return self.files[(branch, path)]
        return None
