"""Shared fixtures.

GitHub is the one simulated GitHub (`bot.sim.simulated_github`), served over real HTTP on
127.0.0.1: nothing in the suite reaches the internet.

- `app_key`: a fresh RSA private key (PEM) for the App; one per session, they are slow.
- `sim`: a started `SimulatedGitHub` knowing that key, with installation `INSTALLATION_ID`
  (all repositories); stopped after the test.
- `github_app`: a `GitHubApp` against `sim.base_url`, with millisecond retry delays.
- `gh`: an installation client of `github_app` (what handlers get as `gh`).
- `serve_app`: makes `trunkwatch serve` child processes (`ServedApp`) against `sim`, each
  with the App's key in a file and, unless told otherwise, a SQLite file in `tmp_path`;
  all stopped after the test.
- `inbox_drained(store, ids)`: waits until the App has processed what it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient, RetryPolicy
from bot.sim.devserver import ServeProcess, post_delivery, serve_env
from bot.sim.simulated_github import SimulatedGitHub, generate_private_key_pem
from bot.store import open_store
from bot.store.base import Store

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


# --- a served App ------------------------------------------------------------------------


async def inbox_drained(
    store: Store,
    ids: Collection[str] = (),
    *,
    within: float = 90.0,
    unless: Callable[[], bool] = lambda: False,
    poll: float = 0.05,
) -> dict[str, str]:
    """Wait until every delivery in `ids` is in the inbox and none is left to process; the
    status ("done" or "dead") of each of `ids`. Stops waiting, with {}, once `unless()`."""
    wanted = set(ids)
    deadline = time.monotonic() + within
    while True:
        pending, _ = await store.inbox_stats(time.time())
        arrived = await store.known_deliveries(sorted(wanted))
        if pending == 0 and arrived == wanted:
            break
        if unless():
            return {}
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the inbox did not drain within {within}s: {pending} pending,"
                f" {len(wanted - arrived)} never arrived"
            )
        await asyncio.sleep(poll)
    found = {i: await store.get_delivery(i) for i in sorted(wanted)}
    return {i: d.status.value for i, d in found.items() if d is not None}


class ServedApp(ServeProcess):
    """`trunkwatch serve` as a child process, with what tests do to it besides starting,
    killing and stopping it: post signed deliveries, and wait for its inbox to drain."""

    def __init__(
        self, env: Mapping[str, str], log_path: Path, cwd: Path, secret: str, database_url: str
    ) -> None:
        super().__init__(env, log_path, cwd=cwd)
        self.secret = secret
        self.database_url = database_url

    async def post(self, session: aiohttp.ClientSession, delivery: Mapping[str, Any]) -> int | None:
        """POST a delivery signed with the App's secret: the answer's status, or None."""
        return await post_delivery(session, self.url, self.secret, delivery)

    async def drained(
        self,
        ids: Collection[str] = (),
        *,
        within: float = 90.0,
        unless: Callable[[], bool] = lambda: False,
    ) -> dict[str, str]:
        """`inbox_drained` on this App's database (read beside the process, which may be
        dead: what it took in is on disk)."""
        store = open_store(self.database_url)
        await store.open()
        try:
            return await inbox_drained(store, ids, within=within, unless=unless)
        finally:
            await store.close()


class ServeApp(Protocol):
    def __call__(
        self,
        secret: str,
        *,
        database_url: str = "",
        name: str = "serve",
        log_level: str = "info",
        **env: str,
    ) -> ServedApp: ...


@pytest.fixture
def serve_app(sim: SimulatedGitHub, app_key: str, tmp_path: Path) -> Iterator[ServeApp]:
    """`serve_app(secret, database_url=…, name=…, log_level=…, **more_environment)`: a
    `ServedApp` (not started) against `sim`, logging to `tmp_path/<name>.log`, its working
    directory `tmp_path`; its database a SQLite `tmp_path/trunkwatch.db` unless given."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(app_key)
    made: list[ServedApp] = []

    def make(
        secret: str,
        *,
        database_url: str = "",
        name: str = "serve",
        log_level: str = "info",
        **more: str,
    ) -> ServedApp:
        database_url = database_url or f"sqlite:///{tmp_path / 'trunkwatch.db'}"
        env = serve_env(APP_ID, key_path, secret, sim.base_url, database_url, log_level) | more
        app = ServedApp(env, tmp_path / f"{name}.log", tmp_path, secret, database_url)
        made.append(app)
        return app

    yield make
    for app in made:
        app.stop()
