"""The simulated GitHub answers in GitHub's shapes (fixtures and github_rest_subset.json)."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import INSTALLATION_ID
from tests.fixtures import FIXTURES, load_payload

REPO = "octo-org/widgets"
SUBSET: dict[str, Any] = json.loads((FIXTURES / "github_rest_subset.json").read_text())
REAL_JOBS: dict[str, Any] = json.loads(
    (FIXTURES / "api_responses" / "list-jobs-for-workflow-run.pytorch.json").read_text()
)


def documented(endpoint: str) -> set[str]:
    return set(SUBSET[endpoint]["responses"])


class Raw:
    """Plain HTTP against the simulation, for statuses and headers."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session, self.base_url, self.token = session, base_url, token

    async def __call__(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Any]:
        sent = {"authorization": f"token {self.token}"} | (headers or {})
        async with self.session.request(
            method, self.base_url + path, json=body, headers=sent
        ) as response:
            data = await response.json() if response.status != 304 else None
            return response.status, response.headers, data


@pytest.fixture
async def raw(sim: SimulatedGitHub, github_app: GitHubApp) -> Raw:
    sim.add_repo(REPO)
    token = await github_app.installation_token(INSTALLATION_ID)
    return Raw(github_app.session, sim.base_url, token)


async def test_jobs_have_the_real_list_jobs_shape(sim: SimulatedGitHub, raw: Raw) -> None:
    real_job = REAL_JOBS["jobs"][0]
    sim.add_run(REPO, 5, jobs=[{"name": "linux / build", "conclusion": "failure"}])

    status, _, body = await raw("GET", f"/repos/{REPO}/actions/runs/5/jobs")

    assert str(status) in documented("GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs")
    assert set(body) == set(REAL_JOBS)
    job = body["jobs"][0]
    assert set(real_job) <= set(job)
    for key, value in real_job.items():
        if value is not None and job[key] is not None:
            assert type(job[key]) is type(value), key
    assert (job["conclusion"], job["run_id"], job["run_attempt"]) == ("failure", 5, 1)


async def test_attempts_and_filter(sim: SimulatedGitHub, raw: Raw) -> None:
    sim.add_run(REPO, 5, jobs=[{"name": "a", "conclusion": "failure"}])
    sim.add_run(REPO, 5, jobs=[{"name": "a", "conclusion": "success"}])
    _, _, latest = await raw("GET", f"/repos/{REPO}/actions/runs/5/jobs")
    _, _, every = await raw("GET", f"/repos/{REPO}/actions/runs/5/jobs?filter=all")
    _, _, first = await raw("GET", f"/repos/{REPO}/actions/runs/5/attempts/1/jobs")
    status, _, _ = await raw("GET", f"/repos/{REPO}/actions/runs/5/attempts/3/jobs")
    assert [j["conclusion"] for j in latest["jobs"]] == ["success"]
    assert [j["run_attempt"] for j in every["jobs"]] == [1, 2]
    assert [j["conclusion"] for j in first["jobs"]] == ["failure"]
    assert status == 404


async def test_workflow_run_has_the_webhook_run_fields(sim: SimulatedGitHub, raw: Raw) -> None:
    real_run = load_payload("workflow_run/pytorch-torchci.completed.failure.push-event.json")
    sim.add_commit(REPO, "a" * 40, "Fix the build (#3)")
    sim.add_run(REPO, 9, jobs=[{"name": "x", "conclusion": "failure"}], workflow="pull")
    _, _, run = await raw("GET", f"/repos/{REPO}/actions/runs/9")
    assert set(real_run["workflow_run"]) <= set(run)
    assert (run["conclusion"], run["head_sha"], run["name"]) == ("failure", "a" * 40, "pull")
    status, _, _ = await raw("POST", f"/repos/{REPO}/actions/runs/9/rerun-failed-jobs")
    assert str(status) in documented(
        "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs"
    )
    assert sim.reruns(REPO) == [9]


async def test_issue_lifecycle_shapes_and_statuses(sim: SimulatedGitHub, raw: Raw) -> None:
    real = load_payload("issue_comment/octokit.created.json")
    status, _, issue = await raw(
        "POST", f"/repos/{REPO}/issues", {"title": "CI broken", "body": "b", "labels": ["ci"]}
    )
    assert str(status) in documented("POST /repos/{owner}/{repo}/issues") and status == 201
    assert set(real["issue"]) <= set(issue)
    assert set(real["issue"]["labels"][0]) == set(issue["labels"][0])
    assert issue["user"]["login"] == "trunkwatch[bot]"

    status, _, comment = await raw("POST", f"/repos/{REPO}/issues/1/comments", {"body": "hi"})
    assert status == 201 and set(real["comment"]) <= set(comment)
    status, _, _ = await raw(
        "POST", f"/repos/{REPO}/issues/comments/{comment['id']}/reactions", {"content": "+1"}
    )
    again, _, _ = await raw(
        "POST", f"/repos/{REPO}/issues/comments/{comment['id']}/reactions", {"content": "+1"}
    )
    assert (status, again) == (201, 200)

    status, _, labels = await raw("POST", f"/repos/{REPO}/issues/1/labels", {"labels": ["x"]})
    assert status == 200 and [lb["name"] for lb in labels] == ["ci", "x"]
    status, _, labels = await raw("DELETE", f"/repos/{REPO}/issues/1/labels/ci")
    assert status == 200 and [lb["name"] for lb in labels] == ["x"]
    status, _, _ = await raw("POST", f"/repos/{REPO}/issues/1/assignees", {"assignees": ["al"]})
    assert status == 201

    status, _, closed = await raw(
        "PATCH", f"/repos/{REPO}/issues/1", {"state": "closed", "state_reason": "not_planned"}
    )
    assert (status, closed["state"], closed["state_reason"]) == (200, "closed", "not_planned")
    assert sim.comments(REPO, 1) == ["hi"]
    assert sim.labels_of(REPO, 1) == ["x"]
    assert sim.issues(REPO)[0].assignees == ["al"]

    status, _, error = await raw("POST", f"/repos/{REPO}/issues", {"body": "no title"})
    assert status == 422 and error["message"] == "Validation Failed"


async def test_repository_labels(raw: Raw) -> None:
    status, _, _ = await raw("GET", f"/repos/{REPO}/labels/ci: alert")
    assert status == 404
    status, _, label = await raw(
        "POST", f"/repos/{REPO}/labels", {"name": "ci: alert", "color": "d73a4a"}
    )
    assert status == 201 and label["color"] == "d73a4a"
    status, _, error = await raw("POST", f"/repos/{REPO}/labels", {"name": "CI: Alert"})
    assert status == 422 and error["errors"][0]["code"] == "already_exists"
    status, _, label = await raw("GET", f"/repos/{REPO}/labels/ci: alert")
    assert status == 200 and label["name"] == "ci: alert"


async def test_listing_issues_filters_and_paginates(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    sim.add_repo(REPO)
    for n in range(45):
        sim.add_issue(REPO, f"issue {n}", labels=["ci: alert"] if n % 3 == 0 else [])
    sim.add_issue(REPO, "closed", labels=["ci: alert"], state_="closed")
    sim.add_issue(REPO, "by alice", author="alice")
    url = f"/repos/{REPO}/issues?labels=ci: alert&state=open&per_page=4"
    alerts = [i async for i in gh.getiter(url)]
    assert len(alerts) == 15 and all(i["state"] == "open" for i in alerts)
    closed = [i async for i in gh.getiter(f"/repos/{REPO}/issues?state=closed")]
    assert [i["title"] for i in closed] == ["closed"]
    mine = [i async for i in gh.getiter(f"/repos/{REPO}/issues?creator=alice")]
    assert [i["title"] for i in mine] == ["by alice"]


async def test_search_finds_a_hidden_marker(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    sim.add_repo(REPO)
    sim.add_issue(REPO, "[P2] inductor", "text <!-- trunkwatch:main:inductor -->", labels=["ci"])
    sim.add_issue(REPO, "[P2] cuda", "text <!-- trunkwatch:main:cuda -->", labels=["ci"])
    q = f'repo:{REPO} is:issue is:open label:ci "trunkwatch:main:inductor"'
    result = await gh.getitem("/search/issues{?q}", {"q": q})
    assert {"total_count", "incomplete_results", "items", "search_type"} <= set(result)
    assert [i["title"] for i in result["items"]] == ["[P2] inductor"]
    none = await gh.getitem("/search/issues{?q}", {"q": q.replace("is:open", "is:closed")})
    assert none["total_count"] == 0


async def test_commits_compare_and_pulls(sim: SimulatedGitHub, raw: Raw) -> None:
    sim.add_commit(REPO, "1" * 40, "one")
    sim.add_commit(REPO, "2" * 40, "two (#7)", author="bob", pr=7)
    status, _, commit = await raw("GET", f"/repos/{REPO}/commits/{'2' * 40}")
    assert status == 200 and commit["commit"]["message"] == "two (#7)"
    assert commit["parents"][0]["sha"] == "1" * 40 and commit["author"]["login"] == "bob"
    status, _, compare = await raw("GET", f"/repos/{REPO}/compare/{'1' * 40}...{'2' * 40}")
    assert (status, compare["status"], compare["ahead_by"]) == (200, "ahead", 1)
    status, _, pulls = await raw("GET", f"/repos/{REPO}/commits/{'2' * 40}/pulls")
    assert status == 200 and pulls[0]["merge_commit_sha"] == "2" * 40
    status, _, pull = await raw("GET", f"/repos/{REPO}/pulls/7")
    assert status == 200 and pull["user"]["login"] == "bob" and pull["merged"] is True
    status, _, _ = await raw("GET", f"/repos/{REPO}/compare/{'1' * 40}...{'9' * 40}")
    assert status == 404


async def test_one_commit_lists_the_files_it_changed(sim: SimulatedGitHub, raw: Raw) -> None:
    sim.add_commit(REPO, "1" * 40, "one", files=["src/a.py"])
    sim.add_commit(REPO, "2" * 40, "two", files={"src/a.py": "modified", "docs/b.md": "added"})
    status, _, commit = await raw("GET", f"/repos/{REPO}/commits/{'2' * 40}")
    assert status == 200
    assert [(f["filename"], f["status"]) for f in commit["files"]] == [
        ("docs/b.md", "added"),
        ("src/a.py", "modified"),
    ]
    assert commit["stats"] == {"total": 3, "additions": 2, "deletions": 1}
    status, _, listed = await raw("GET", f"/repos/{REPO}/commits")
    assert status == 200 and "files" not in listed[0]  # a listing does not say


async def test_contents_and_permissions(sim: SimulatedGitHub, raw: Raw) -> None:
    sim.set_file(REPO, ".github/trunkwatch.yml", "groups: {}\n")
    status, _, content = await raw("GET", f"/repos/{REPO}/contents/.github/trunkwatch.yml?ref=main")
    assert status == 200 and content["type"] == "file" and content["encoding"] == "base64"
    assert base64.b64decode(content["content"]).decode() == "groups: {}\n"
    status, _, _ = await raw("GET", f"/repos/{REPO}/contents/missing.yml")
    assert str(status) in documented("GET /repos/{owner}/{repo}/contents/{path}") and status == 404

    sim.set_permission(REPO, "maint", "maintain")
    status, _, perm = await raw("GET", f"/repos/{REPO}/collaborators/maint/permission")
    assert (status, perm["permission"], perm["role_name"]) == (200, "write", "maintain")


async def test_etags_and_rate_limit_headers_on_every_answer(raw: Raw) -> None:
    status, headers, _ = await raw("GET", f"/repos/{REPO}")
    etag = headers["ETag"]
    again, again_headers, _ = await raw("GET", f"/repos/{REPO}", headers={"if-none-match": etag})
    missing, missing_headers, _ = await raw("GET", "/repos/nobody/nothing")
    assert (status, again, missing) == (200, 304, 404)
    for h in (headers, again_headers, missing_headers):
        assert all(name in h for name in ("x-ratelimit-remaining", "x-ratelimit-reset"))


async def test_bad_credentials_are_401(sim: SimulatedGitHub, raw: Raw) -> None:
    raw.token = "ghs_not-a-token"
    status, _, body = await raw("GET", f"/repos/{REPO}")
    assert (status, body["message"]) == (401, "Bad credentials")
    status, _, _ = await raw("POST", "/app/installations/7/access_tokens")
    assert str(status) in documented("POST /app/installations/{installation_id}/access_tokens")
    assert status == 401


async def test_requests_are_recorded(sim: SimulatedGitHub, gh: GitHubClient) -> None:
    sim.add_repo(REPO)
    await gh.post(f"/repos/{REPO}/issues", data={"title": "t"})
    assert sim.requests[-1] == ("POST", f"/repos/{REPO}/issues", {"title": "t"})
