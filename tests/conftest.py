"""Shared fixtures.

GitHub is the one simulated GitHub (`bot.simulated_github`), served over real HTTP on
127.0.0.1: nothing in the suite reaches the internet.

- `app_key`: a fresh RSA private key (PEM) for the App; one per session, they are slow.
- `sim`: a started `SimulatedGitHub` knowing that key, with installation `INSTALLATION_ID`
  (all repositories); stopped after the test.
- `github_app`: a `GitHubApp` against `sim.base_url`, with millisecond retry delays.
- `gh`: an installation client of `github_app` (what handlers get as `gh`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.github import GitHubApp, GitHubClient, RetryPolicy
from bot.simulated_github import SimulatedGitHub, generate_private_key_pem

APP_ID = 4242
INSTALLATION_ID = 7
# Retries as in production, but with delays small enough for tests.
FAST_RETRIES = RetryPolicy(
    attempts=4,
    base_delay=0.001,
    max_delay=0.01,
    secondary_backoff=0.01,
    max_reset_wait=5.0,
    reset_margin=0.0,
    timeout=2.0,
)


@pytest.fixture(scope="session")
def app_key() -> str:
    return generate_private_key_pem()


@pytest.fixture
async def sim(app_key: str) -> AsyncIterator[SimulatedGitHub]:
    github = SimulatedGitHub(app_id=APP_ID, app_key=app_key)
    github.add_installation(INSTALLATION_ID)
    await github.start()
    yield github
    await github.stop()


@pytest.fixture
async def github_app(sim: SimulatedGitHub, app_key: str) -> AsyncIterator[GitHubApp]:
    app = GitHubApp(APP_ID, app_key, base_url=sim.base_url, policy=FAST_RETRIES)
    yield app
    await app.close()


@pytest.fixture
async def gh(github_app: GitHubApp) -> GitHubClient:
    return await github_app.installation_client(INSTALLATION_ID)
