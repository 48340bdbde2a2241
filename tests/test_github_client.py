"""bot.github against the simulated GitHub, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import gidgethub
import pytest

from bot.github import (
    NO_RESPONSE,
    CallKey,
    GitHubApp,
    GitHubAuthError,
    GitHubClient,
    GitHubUnreachable,
    RetryPolicy,
    commits_between,
    endpoint_template,
    list_run_jobs,
    pulls_for_commit,
)
from bot.sim.simulated_github import SimulatedGitHub, generate_private_key_pem
from tests.conftest import APP_ID, FAST_RETRIES, INSTALLATION_ID

REPO = "pytorch/pytorch"
TOKENS = "/app/installations/*/access_tokens"


def sha(n: int) -> str:
    return f"{n:040x}"


@pytest.fixture
def repo(sim: SimulatedGitHub) -> str:
    sim.add_repo(REPO)
    return REPO


# --- installation tokens and the JWT ----------------------------------------------------


async def test_concurrent_callers_share_one_installation_token(
    sim: SimulatedGitHub, github_app: GitHubApp, repo: str
) -> None:
    clients = await asyncio.gather(
        *(github_app.installation_client(INSTALLATION_ID) for _ in range(10))
    )
    await asyncio.gather(
        *(
            gh.getitem("/repos/{owner}/{repo}", {"owner": "pytorch", "repo": "pytorch"})
            for gh in clients
        )
    )

    assert len(sim.requests_to("POST", TOKENS)) == 1
    assert github_app.tokens_fetched == 1


async def test_token_is_refreshed_five_minutes_before_it_expires(
    sim: SimulatedGitHub, app_key: str, repo: str
) -> None:
    now = [time.time()]
    app = GitHubApp(
        APP_ID, app_key, base_url=sim.base_url, policy=FAST_RETRIES, clock=lambda: now[0]
    )
    async with app:
        gh = await app.installation_client(INSTALLATION_ID)
        now[0] += 3600 - 300 - 5  # still more than 5 minutes left
        await gh.getitem(f"/repos/{repo}")
        assert len(sim.requests_to("POST", TOKENS)) == 1

        now[0] += 10  # now inside the last 5 minutes
        sim.token_ttl = 2 * 3600  # so the new token outlives our fast-forwarded clock
        await gh.getitem(f"/repos/{repo}")  # the same long-lived client follows the refresh
        assert len(sim.requests_to("POST", TOKENS)) == 2
        await app.installation_client(INSTALLATION_ID)
        assert len(sim.requests_to("POST", TOKENS)) == 2


async def test_a_wrong_key_is_refused_without_leaking_key_or_jwt(sim: SimulatedGitHub) -> None:
    wrong_key = generate_private_key_pem()
    app = GitHubApp(APP_ID, wrong_key, base_url=sim.base_url, policy=FAST_RETRIES)
    async with app:
        with pytest.raises(gidgethub.BadRequest) as caught:
            await app.installation_client(INSTALLATION_ID)
        jwt = app.jwt()

    exc = caught.value
    assert exc.status_code == 401
    told = " ".join([str(exc), repr(exc), repr(dict(exc.headers)), repr(app)])
    assert jwt not in told
    assert "PRIVATE KEY" not in told and wrong_key[40:80] not in told
    assert not sim.tokens


async def test_a_key_that_cannot_sign_says_so_without_quoting_it(sim: SimulatedGitHub) -> None:
    broken = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    async with GitHubApp(APP_ID, broken, base_url=sim.base_url) as app:
        with pytest.raises(GitHubAuthError) as caught:
            await app.installation_client(INSTALLATION_ID)
    assert "bm90IGEga2V5" not in str(caught.value)
    assert not sim.requests


async def test_app_client_authenticates_with_the_jwt(
    sim: SimulatedGitHub, github_app: GitHubApp
) -> None:
    installations = [i async for i in github_app.app_client().getiter("/app/installations")]
    assert [i["id"] for i in installations] == [INSTALLATION_ID]


# --- retries ---------------------------------------------------------------------------


async def test_5xx_answers_are_retried_until_success(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    sim.fail_next("GET", f"/repos/{repo}", 502)
    sim.fail_next("GET", f"/repos/{repo}", 503)

    data = await gh.getitem(f"/repos/{repo}")

    assert data["full_name"] == repo
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == 3
    template = "/repos/{owner}/{repo}"
    assert [gh.stats[CallKey("GET", template, s)] for s in (502, 503, 200)] == [1, 1, 1]


async def test_gives_up_after_the_configured_attempts(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    sim.fail_next("GET", f"/repos/{repo}", 502, times=100)
    with pytest.raises(gidgethub.GitHubBroken) as caught:
        await gh.getitem(f"/repos/{repo}")
    assert caught.value.status_code == 502
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == FAST_RETRIES.attempts


async def test_connection_resets_are_retried(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    sim.disconnect_next("GET", f"/repos/{repo}", times=3)
    data = await gh.getitem(f"/repos/{repo}")
    assert data["full_name"] == repo
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == 4
    assert gh.stats[CallKey("GET", "/repos/{owner}/{repo}", NO_RESPONSE)] >= 1


async def test_timeouts_are_retried(sim: SimulatedGitHub, app_key: str, repo: str) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, timeout=0.2)
    async with GitHubApp(APP_ID, app_key, base_url=sim.base_url, policy=policy) as app:
        gh = await app.installation_client(INSTALLATION_ID)
        sim.stall_next("GET", f"/repos/{repo}", seconds=1.0)
        data = await gh.getitem(f"/repos/{repo}")
    assert data["full_name"] == repo
    assert gh.stats[CallKey("GET", "/repos/{owner}/{repo}", NO_RESPONSE)] == 1


async def test_an_unreachable_github_gives_a_clear_error() -> None:
    policy = RetryPolicy(attempts=2, base_delay=0.001)
    async with aiohttp.ClientSession() as session:
        # Port 9 (discard) on loopback: nothing listens, the connection is refused.
        gh = GitHubClient(session, "test", base_url="http://127.0.0.1:9", policy=policy)
        with pytest.raises(GitHubUnreachable, match=r"GET /repos/\{owner\}/\{repo\}.*2 attempts"):
            await gh.getitem("/repos/o/r")
    assert gh.stats[CallKey("GET", "/repos/{owner}/{repo}", NO_RESPONSE)] == 2


# --- rate limits -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
async def test_secondary_rate_limit_waits_for_retry_after(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str, status: int
) -> None:
    sim.fail_next("POST", f"/repos/{repo}/issues", status, headers={"retry-after": "1"})
    started = time.monotonic()
    issue = await gh.post(f"/repos/{repo}/issues", data={"title": "t"})
    assert time.monotonic() - started >= 1.0
    assert issue["number"] == 1
    assert len(sim.issues(repo)) == 1


async def test_secondary_rate_limit_without_retry_after_backs_off(
    sim: SimulatedGitHub, app_key: str, repo: str
) -> None:
    policy = RetryPolicy(attempts=3, secondary_backoff=0.3)
    async with GitHubApp(APP_ID, app_key, base_url=sim.base_url, policy=policy) as app:
        gh = await app.installation_client(INSTALLATION_ID)
        sim.fail_next("GET", f"/repos/{repo}", 403)  # body: "…secondary rate limit…"
        started = time.monotonic()
        await gh.getitem(f"/repos/{repo}")
    assert time.monotonic() - started >= 0.3
    assert RetryPolicy().secondary_backoff >= 60


async def test_a_plain_403_is_not_retried(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    sim.fail_next(
        "GET", f"/repos/{repo}", 403, body={"message": "Resource not accessible by integration"}
    )
    with pytest.raises(gidgethub.BadRequest, match="not accessible"):
        await gh.getitem(f"/repos/{repo}")
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == 1


async def test_exhausted_primary_limit_waits_for_reset(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    reset = int(time.time()) + 2
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    sim.fail_next(
        "GET", f"/repos/{repo}", 403, headers=limited, body={"message": "API rate limit exceeded"}
    )
    await gh.getitem(f"/repos/{repo}")
    assert time.time() >= reset - 0.05
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == 2


async def test_a_reset_beyond_the_cap_is_raised_at_once(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3600)}
    sim.fail_next(
        "GET", f"/repos/{repo}", 403, headers=limited, body={"message": "API rate limit exceeded"}
    )
    with pytest.raises(gidgethub.RateLimitExceeded):
        await gh.getitem(f"/repos/{repo}")
    assert len(sim.requests_to("GET", f"/repos/{repo}")) == 1


async def test_remaining_budget_is_remembered_per_installation(
    sim: SimulatedGitHub, github_app: GitHubApp, gh: GitHubClient, repo: str
) -> None:
    await gh.getitem(f"/repos/{repo}")
    await gh.getitem(f"/repos/{repo}/labels")
    assert github_app.stats.rate_limit_remaining[INSTALLATION_ID] == 5000 - 2
    assert github_app.stats.rate_limit_remaining[None] == 5000 - 1  # the token request


# --- ETag cache --------------------------------------------------------------------------


async def test_second_get_is_conditional_and_served_from_cache(
    sim: SimulatedGitHub, github_app: GitHubApp, gh: GitHubClient, repo: str
) -> None:
    first = await gh.getitem(f"/repos/{repo}")
    second = await gh.getitem(f"/repos/{repo}")

    assert second == first
    sent = [r for r in sim.received if r.path == f"/repos/{repo}"]
    assert "if-none-match" not in sent[0].headers
    assert sent[1].headers["if-none-match"].startswith('W/"')
    assert gh.stats[CallKey("GET", "/repos/{owner}/{repo}", 304)] == 1
    # A 304 costs no budget.
    assert github_app.stats.rate_limit_remaining[INSTALLATION_ID] == 5000 - 1

    sim.add_installation(8)
    other = await github_app.installation_client(8)
    await other.getitem(f"/repos/{repo}")
    assert "if-none-match" not in sim.received[-1].headers  # caches are per installation


# --- pagination and helpers --------------------------------------------------------------


async def test_jobs_are_listed_across_pages(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    jobs = [
        {"name": f"test (default, {i}, 250, linux.2xlarge)", "conclusion": "failure"}
        for i in range(250)
    ]
    run = sim.add_run(repo, 3201497249, jobs=jobs)

    listed = await list_run_jobs(gh, repo, 3201497249, 1)

    assert [j["name"] for j in listed] == [j["name"] for j in jobs]
    pages = [r.query for r in sim.received if r.path.endswith("/attempts/1/jobs")]
    assert [(q["per_page"], q.get("page", "1")) for q in pages] == [
        ("100", "1"),
        ("100", "2"),
        ("100", "3"),
    ]
    assert len(await list_run_jobs(gh, run["jobs_url"])) == 250
    endpoint = "/repos/{owner}/{repo}/actions/runs/{id}/attempts/{id}/jobs"
    assert gh.stats[CallKey("GET", endpoint, 200)] == 3


async def test_commits_between_are_oldest_first_across_pages(
    sim: SimulatedGitHub, gh: GitHubClient, repo: str
) -> None:
    for n in range(1, 151):
        sim.add_commit(repo, sha(n), f"commit {n}")
    commits = await commits_between(gh, repo, sha(10), sha(150))
    assert [c["sha"] for c in commits] == [sha(n) for n in range(11, 151)]
    assert len(sim.requests_to("GET", f"/repos/{repo}/compare/*")) == 2


async def test_pulls_for_commit(sim: SimulatedGitHub, gh: GitHubClient, repo: str) -> None:
    sim.add_commit(repo, sha(1), "Fix inductor (#123)", author="alice", pr=123)
    pulls = await pulls_for_commit(gh, repo, sha(1))
    assert [(p["number"], p["user"]["login"]) for p in pulls] == [(123, "alice")]
    assert await pulls_for_commit(gh, repo, sha(99)) == []


@pytest.mark.parametrize(
    ("url", "template"),
    [
        (
            "https://api.github.com/repos/o/r/actions/runs/12/jobs?page=2",
            "/repos/{owner}/{repo}/actions/runs/{id}/jobs",
        ),
        (
            "https://api.github.com/repos/o/r/issues/5/labels/ci: alert",
            "/repos/{owner}/{repo}/issues/{id}/labels/{name}",
        ),
        (
            "https://api.github.com/repos/o/r/compare/a...b",
            "/repos/{owner}/{repo}/compare/{basehead}",
        ),
        (
            "https://api.github.com/repos/o/r/contents/.github/trunkwatch.yml",
            "/repos/{owner}/{repo}/contents/{path}",
        ),
        (
            "https://api.github.com/repos/o/r/commits/" + "ab" * 20 + "/pulls",
            "/repos/{owner}/{repo}/commits/{ref}/pulls",
        ),
        (
            "https://api.github.com/repos/o/r/collaborators/alice/permission",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
        ),
        ("https://api.github.com/search/issues?q=x", "/search/issues"),
        ("https://ghe.example.com/api/v3/repos/o/r", "/repos/{owner}/{repo}"),
    ],
)
def test_endpoint_templates(url: str, template: str) -> None:
    assert endpoint_template(url, "https://ghe.example.com/api/v3") == template


async def test_github_enterprise_base_url_with_a_path_prefix(app_key: str) -> None:
    sim = SimulatedGitHub(app_id=APP_ID, app_key=app_key, prefix="/api/v3")
    sim.add_installation(INSTALLATION_ID)
    base_url = await sim.start()
    try:
        assert base_url.endswith("/api/v3")
        sim.add_run(REPO, 1, jobs=[{"name": f"job {i}"} for i in range(150)])
        async with GitHubApp(APP_ID, app_key, base_url=base_url, policy=FAST_RETRIES) as app:
            gh = await app.installation_client(INSTALLATION_ID)
            assert len(await list_run_jobs(gh, REPO, 1)) == 150
            assert (
                gh.stats[CallKey("GET", "/repos/{owner}/{repo}/actions/runs/{id}/jobs", 200)] == 2
            )
    finally:
        await sim.stop()
    assert sim.requests_to("GET", f"/repos/{REPO}/actions/runs/1/jobs")


async def test_a_post_that_failed_after_sending_is_not_repeated(
    sim: SimulatedGitHub, gh: GitHubClient
) -> None:
    """A 502 on creating an issue may hide a created issue: the client leaves the retry to
    the caller (which looks for the issue first) instead of filing a second one."""
    repo = "octo-org/posts"
    sim.add_repo(repo)
    sim.fail_next("POST", f"/repos/{repo}/issues", 502)
    with pytest.raises(gidgethub.GitHubException):
        await gh.post(f"/repos/{repo}/issues", data={"title": "t"})
    assert len(sim.requests_to("POST", f"/repos/{repo}/issues")) == 1
    sim.fail_next("GET", f"/repos/{repo}/issues", 502)
    assert await gh.getitem(f"/repos/{repo}/issues") == []  # a GET is retried
