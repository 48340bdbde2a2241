"""Installations synced from GitHub's listing (`GET /app/installations`, then each one's
`GET /installation/repositories`), over real HTTP to the simulated GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.github import GitHubApp
from bot.runtime.installations import sync_installations
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.base import Installation, Store
from tests.conftest import INSTALLATION_ID


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    await store.open()
    yield store
    await store.close()


async def test_the_store_learns_what_github_lists(
    sim: SimulatedGitHub, github_app: GitHubApp, store: Store
) -> None:
    for repo in ("octo-org/a", "octo-org/b", "other/c"):
        sim.add_repo(repo)
    sim.add_installation(8, account="other", repos=["other/c"])
    await store.save_installation(Installation(99, "gone", ("gone/x",)))  # uninstalled meanwhile
    await store.save_installation(Installation(8, "other", ("other/old",)))

    assert await sync_installations(github_app, store) == 2

    assert await store.installations() == [
        Installation(INSTALLATION_ID, "octo-org", ("octo-org/a", "octo-org/b", "other/c")),
        Installation(8, "other", ("other/c",)),
    ]
    assert await store.installation_for_repo("other/c") == INSTALLATION_ID


async def test_many_repositories_are_read_page_by_page(
    sim: SimulatedGitHub, github_app: GitHubApp, store: Store
) -> None:
    names = [f"octo-org/r{i:03}" for i in range(130)]
    for repo in names:
        sim.add_repo(repo)
    await sync_installations(github_app, store)
    (installation,) = await store.installations()
    assert installation.repos == tuple(names)
    assert len(sim.requests_to("GET", "/installation/repositories")) == 2
