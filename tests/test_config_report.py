"""The config-error issue: opened once while `.github/trunkwatch.yml` has problems, edited
when they change, closed when the file is fixed; it says what was ignored and why, and what
is in force. Over HTTP against the simulated GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actions import config_report
from bot.actions.config_report import LABEL, report_config
from bot.actions.markdown import ZWSP
from bot.config import CONFIG_PATH, ConfigError, ConfigLoader, LoadedConfig, NoConfig
from bot.github import GitHubClient
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.base import Store
from bot.store.record_view import Records

REPO = "octo-org/trunk"
VALID = 'groups:\n  inductor:\n    workflows: ["inductor*"]\n'
TWO_GROUPS = VALID + "  trunk:\n    workflows: [trunk]\n"
UNREADABLE = 'groups:\n  inductor:\n    workflows: ["inductor*"\n'
BROKEN = (
    'groups:\n  inductor:\n    workflows: ["inductor*"]\n    threshold: "three"\n"@octocat": 1\n'
)
OTHER_BROKEN = 'groups:\n  inductor:\n    workflows: ["inductor*"]\n    treshold: 3\n'


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/t.db")
    await opened.open()
    yield opened
    await opened.close()


async def read_and_report(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, loader: ConfigLoader, text: str | None
) -> LoadedConfig | object:
    """A push changed the file: the cache is dropped, the file read, the result reported."""
    sim.set_file(REPO, CONFIG_PATH, text)
    loader.invalidate(REPO)
    result = await loader.get(gh, REPO, "main")
    await report_config(gh, Records(store), REPO, result)
    return result


def reports(sim: SimulatedGitHub) -> list[int]:
    return [i.number for i in sim.issues(REPO) if LABEL in i.labels]


async def test_broken_after_valid_reports_once_and_closes_on_fix(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store
) -> None:
    sim.add_repo(REPO)
    loader = ConfigLoader()
    await read_and_report(sim, gh, store, loader, VALID)
    assert reports(sim) == []

    result = await read_and_report(sim, gh, store, loader, BROKEN)
    assert isinstance(result, LoadedConfig) and result.errors and not result.fallback
    assert result.config.groups == ()  # its one group had a wrong value
    (number,) = reports(sim)
    issue = sim.repo(REPO).issues[number]
    assert issue.state == "open" and issue.title == config_report.TITLE
    body = issue.body or ""
    assert (
        f"**{CONFIG_PATH}:4** groups.inductor.threshold: expected a positive integer, got"
        f" 'three' — the group 'inductor' is ignored"
    ) in body
    assert f"**{CONFIG_PATH}:5** @{ZWSP}octocat: unknown key" in body  # pings nobody
    assert "no group is left to watch" in body

    # The same broken file read again: no second issue, not even a request.
    before = len(sim.requests)
    await read_and_report(sim, gh, store, loader, BROKEN)
    assert reports(sim) == [number]
    assert [r for r in sim.requests[before:] if "/issues" in r.path] == []

    # Other errors: the same issue, edited.
    await read_and_report(sim, gh, store, loader, OTHER_BROKEN)
    assert reports(sim) == [number]
    assert "treshold" in (sim.repo(REPO).issues[number].body or "")

    await read_and_report(sim, gh, store, loader, VALID)
    issue = sim.repo(REPO).issues[number]
    assert issue.state == "closed"
    assert "valid again" in sim.comments(REPO, number)[-1]
    before = len(sim.requests)
    await read_and_report(sim, gh, store, loader, VALID)
    assert [r for r in sim.requests[before:] if "/issues" in r.path] == []


async def test_never_valid_config_is_reported_and_store_loss_finds_the_issue(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store, tmp_path: Path
) -> None:
    sim.add_repo(REPO)
    await read_and_report(sim, gh, store, ConfigLoader(), BROKEN)
    (number,) = reports(sim)
    assert "watches nothing in this repository" in (sim.repo(REPO).issues[number].body or "")

    # A new process with an empty store: the open issue is found by its marker.
    fresh = open_store(f"sqlite:///{tmp_path}/fresh.db")
    await fresh.open()
    try:
        await read_and_report(sim, gh, fresh, ConfigLoader(), OTHER_BROKEN)
        assert reports(sim) == [number]
        await read_and_report(sim, gh, fresh, ConfigLoader(), None)
    finally:
        await fresh.close()
    assert sim.repo(REPO).issues[number].state == "closed"
    assert "is gone" in sim.comments(REPO, number)[-1]


async def test_planted_marker_on_a_human_issue_is_not_adopted(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store
) -> None:
    sim.add_repo(REPO)
    planted = sim.add_issue(
        REPO, "fake", body="<!-- trunkwatch:config_error repo=octo-org%2Ftrunk -->", labels=[LABEL]
    )
    await read_and_report(sim, gh, store, ConfigLoader(), BROKEN)
    assert len(reports(sim)) == 2
    await read_and_report(sim, gh, store, ConfigLoader(), VALID)
    assert sim.repo(REPO).issues[planted.number].state == "open"


def test_the_report_names_the_file_the_config_reads() -> None:
    assert config_report.CONFIG_PATH == CONFIG_PATH  # the actions keep their own copy


def test_a_long_list_of_errors_is_cut() -> None:
    errors = tuple(ConfigError(CONFIG_PATH, n, f"key{n}", "unknown key") for n in range(1, 61))
    body = config_report.report_body(REPO, NoConfig(CONFIG_PATH, errors, True))
    assert "key50" in body and "key51" not in body
    assert "… and 10 more." in body


async def test_a_partly_wrong_file_says_what_was_ignored_and_what_is_watched(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store
) -> None:
    sim.add_repo(REPO)
    loader = ConfigLoader()
    text = TWO_GROUPS + "    priority: P9\nalerts:\n  recovery_passes: 0\nnew_feature: {}\n"
    result = await read_and_report(sim, gh, store, loader, text)
    assert result.config is not None
    assert [group.name for group in result.config.groups] == ["inductor"]
    (number,) = reports(sim)
    body = sim.repo(REPO).issues[number].body or ""
    assert "applies in part: 2 wrong value(s) and 1 unknown key(s)" in body
    assert "trunkwatch watches `inductor`" in body
    assert (
        f"**{CONFIG_PATH}:6** groups.trunk.priority: expected one of P0, P1, P2, P3, P4, got"
        " 'P9' — the group 'trunk' is ignored"
    ) in body
    assert (
        f"**{CONFIG_PATH}:8** alerts.recovery\\_passes: expected a positive integer, got 0"
        " — the default applies: 1"
    ) in body
    assert f"**{CONFIG_PATH}:9** new\\_feature: unknown key" in body

    # Only the unknown key left: still said, under its own title; then fixed, closed.
    result = await read_and_report(sim, gh, store, loader, TWO_GROUPS + "new_feature: {}\n")
    assert result.errors == () and len(result.warnings) == 1
    issue = sim.repo(REPO).issues[number]
    assert issue.state == "open" and issue.title == config_report.TITLE_WARNINGS
    assert "trunkwatch watches `inductor`, `trunk`" in (issue.body or "")
    await read_and_report(sim, gh, store, loader, TWO_GROUPS)
    assert sim.repo(REPO).issues[number].state == "closed"


async def test_an_unreadable_file_keeps_the_last_valid_config_or_watches_nothing(
    sim: SimulatedGitHub, gh: GitHubClient, store: Store
) -> None:
    sim.add_repo(REPO)
    loader = ConfigLoader()
    nothing = await read_and_report(sim, gh, store, loader, UNREADABLE)
    assert isinstance(nothing, NoConfig) and nothing.config is None
    (number,) = reports(sim)
    body = sim.repo(REPO).issues[number].body or ""
    assert "cannot be used: 1 error(s)" in body and "Why it cannot be read" in body
    assert "watches nothing in this repository until the file can be read" in body

    await read_and_report(sim, gh, store, loader, TWO_GROUPS)
    assert sim.repo(REPO).issues[number].state == "closed"
    kept = await read_and_report(sim, gh, store, loader, UNREADABLE)
    assert isinstance(kept, LoadedConfig) and kept.fallback
    assert [group.name for group in kept.config.groups] == ["inductor", "trunk"]
    (_, second) = reports(sim)
    body = sim.repo(REPO).issues[second].body or ""
    assert f"**{CONFIG_PATH}:4** not valid YAML" in body
    assert "keeps using the last valid configuration" in body
