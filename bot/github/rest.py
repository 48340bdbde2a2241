"""The REST answers the bot reads, as typed values: only the fields it reads.

Each is a view of GitHub's JSON as it comes (nothing is copied or checked: the fields not
named here are still there). A field is required when GitHub's REST description always
sends it, even as null; `NotRequired` when it may be missing, or when a real answer in
the test fixtures lacks it (older GitHub versions). The bot reads with `.get` throughout,
so a field that is missing or null after all costs nothing.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class User(TypedDict):
    """`simple-user`: who opened an issue, wrote a comment, authored a pull request."""

    login: str
    type: str  # "User", "Bot", "Organization"


class Label(TypedDict):
    name: str


class IssuePullRequest(TypedDict):
    """An issue's `pull_request`: only there when the issue is a pull request."""

    merged_at: NotRequired[str | None]


class Issue(TypedDict):
    """An issue: `GET`/`POST`/`PATCH /repos/{owner}/{repo}/issues[/{issue_number}]`, the
    issues listing and the items of `GET /search/issues` (which lists pull requests too)."""

    number: int
    title: str
    state: str  # "open" | "closed"
    body: NotRequired[str | None]
    user: User | None
    html_url: str
    created_at: str
    pull_request: NotRequired[IssuePullRequest]


class IssueSearch(TypedDict):
    """`GET /search/issues`."""

    total_count: int
    items: list[Issue]


class IssueComment(TypedDict):
    """`GET /repos/{owner}/{repo}/issues/{issue_number}/comments` items."""

    body: NotRequired[str]
    user: User | None


class PullRequest(TypedDict):
    """`GET /repos/{owner}/{repo}/pulls/{pull_number}`, and the items of
    `GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls` (`pull-request-simple`)."""

    number: int
    node_id: str
    title: str
    user: User | None
    html_url: str
    labels: list[Label]
    merged_at: str | None
    merge_commit_sha: str | None


class GitActor(TypedDict, total=False):
    """A commit's git author or committer (`git-user`: every field may be missing)."""

    name: str
    email: str
    date: str


class GitCommit(TypedDict):
    """A commit's `commit`: what git itself records."""

    message: str
    author: GitActor | None


class CommitUser(TypedDict, total=False):
    """A commit's `author` on GitHub: the user its email belongs to, or `{}` when none."""

    login: str


class CommitParent(TypedDict):
    sha: str


class CommitFile(TypedDict):
    filename: str


class Commit(TypedDict):
    """A commit: `GET /repos/{owner}/{repo}/commits/{ref}`, the commits listing, and
    `commits` of `GET /repos/{owner}/{repo}/compare/{basehead}`."""

    sha: str
    html_url: str
    commit: GitCommit
    author: CommitUser | None
    parents: list[CommitParent]
    files: NotRequired[list[CommitFile]]  # one commit's answer only


class JobStep(TypedDict, total=False):
    name: str
    conclusion: str | None


class Job(TypedDict):
    """A workflow job: the items of `GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs`
    (and of one attempt's), as the `workflow_job` event carries it too."""

    id: int
    run_id: int
    run_attempt: NotRequired[int]
    name: str
    head_sha: str
    head_branch: NotRequired[str | None]
    workflow_name: NotRequired[str | None]
    status: str  # "queued", "in_progress", "completed", …
    conclusion: str | None
    html_url: str | None
    created_at: NotRequired[str]
    started_at: str
    completed_at: str | None
    steps: NotRequired[list[JobStep]]
    labels: list[str]


def login_of(user: User | CommitUser | None) -> str:
    """The login of an answer's `user` (or a commit's `author`); "" when there is none."""
    return str(user.get("login") or "") if user else ""


class CollaboratorPermission(TypedDict):
    """`GET /repos/{owner}/{repo}/collaborators/{username}/permission`."""

    permission: str  # the legacy base permission: "admin", "write", "read", "none"
    role_name: NotRequired[str]
