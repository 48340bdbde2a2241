"""`trunkwatch backtest`: a generated history served by the simulated GitHub's REST API
gives the alerts that `replay` of the same history's deliveries gives."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.backtest import cli as backtest_cli
from bot.backtest.backtest import Backtest, BacktestError, Report, parse_since
from bot.backtest.cache import PageCache
from bot.backtest.report import alerts_of, as_html, as_json, as_markdown
from bot.cli.main import _parser
from bot.config import load_default
from bot.github.client import CallStats, GitHubClient
from bot.runtime.replay import replay
from bot.sim.history import EPOCH, INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import APP_ID, FAST_RETRIES, INSTALLATION_ID

ROOT = Path(__file__).resolve().parents[1]

SINCE = EPOCH - timedelta(days=1)


def history(commits: int = 60) -> Scenario:
    """Two real breakages, flaky jobs rerun to green, a runner outage, an @mention."""
    return Scenario(
        commits=commits,
        failures={
            ("inductor", INDUCTOR_JOBS[1]): set(range(6, 12)),
            ("trunk", TRUNK_JOBS[0]): set(range(30, 35)),
        },
        flakes={
            ("inductor", INDUCTOR_JOBS[3]): set(range(2, commits, 5)),
            ("trunk", TRUNK_JOBS[2]): {20, 21, 22},
        },
        infra_blips={15, 16},
        messages={30: "Break the build\n\nThanks @octocat"},
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def backtest(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, cache: Path, **options: Any
) -> Backtest:
    token, _ = sim.issue_token(INSTALLATION_ID)
    stats = CallStats()
    gh = GitHubClient(
        session,
        "trunkwatch-test",
        oauth_token=token,
        base_url=sim.base_url,
        cache=PageCache(cache / "pages"),
        policy=FAST_RETRIES,
        stats=stats,
    )
    return Backtest(gh, stats, "pytorch/pytorch", load_default(), cache, since=SINCE, **options)


async def replayed(deliveries: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in deliveries))
    return (await replay(path, load_default(), io.StringIO(), as_json=True)).records


def decisions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The actions without the ids of the deliveries that led to them (the backtest makes
    up its own)."""
    return [{k: v for k, v in r.items() if k != "delivery_id"} for r in records]


async def test_backtest_finds_the_alerts_that_replay_finds_and_a_second_run_is_free(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    deliveries = list(Generator(history()).deliveries())
    sim.seed_deliveries(deliveries)
    first = await backtest(sim, session, tmp_path / "cache").run(io.StringIO())
    expected = await replayed(deliveries, tmp_path)
    assert {r["group"] for r in expected if r["action"] == "open_alert"} == {"inductor", "trunk"}
    assert decisions(first.records) == decisions(expected)
    assert first.complete and first.covered == 60 and first.calls > 0
    # Only failed or rerun runs of watched workflows had their jobs listed.
    listed = sim.requests_to("GET", "/repos/pytorch/pytorch/actions/runs/*/jobs")
    assert len(listed) == first.runs_needing_jobs < first.runs

    sim.requests.clear()
    second = await backtest(sim, session, tmp_path / "cache").run(io.StringIO())
    assert second.calls == 0 and sim.requests == []
    assert decisions(second.records) == decisions(expected)


async def test_a_budget_stops_the_backtest_and_the_next_run_resumes(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    deliveries = list(Generator(history()).deliveries())
    sim.seed_deliveries(deliveries)
    cut = await backtest(sim, session, tmp_path / "cache", budget=6).run(io.StringIO())
    assert not cut.complete and cut.calls <= 6
    assert 0 < cut.covered < 60
    assert "budget of 6 calls ran out" in as_markdown(cut)
    sim.requests.clear()
    rest = await backtest(sim, session, tmp_path / "cache").run(io.StringIO())
    assert rest.complete and rest.covered == 60
    # The jobs read before the budget ran out are not read again.
    listed = [r for r in sim.requests if r.path.endswith("/jobs")]
    assert len(listed) == rest.runs_needing_jobs - cut.runs_with_jobs
    assert decisions(rest.records) == decisions(await replayed(deliveries, tmp_path))


async def test_the_runs_listing_is_split_where_github_stops_at_a_thousand(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    scenario = history(commits=420)  # 3 workflows: 1,260 runs and more
    deliveries = list(Generator(scenario).deliveries())
    sim.seed_deliveries(deliveries)
    report = await backtest(sim, session, tmp_path / "cache").run(io.StringIO())
    assert report.runs == len(sim.repos["pytorch/pytorch"].runs) > 1000
    assert decisions(report.records) == decisions(await replayed(deliveries, tmp_path))


def test_the_report_names_alerts_suspects_and_how_each_ended() -> None:
    generator = Generator(history())
    commits = [
        {
            "sha": generator.commit_sha(i),
            "commit": {
                "message": generator.message(i) if i != 30 else "Break (#9)\n\n@octocat",
                "author": {"name": "Alice", "date": f"2026-11-01T00:{i:02d}:00Z"},
            },
            "author": {"login": "alice"},
        }
        for i in range(40)
    ]
    sha = generator.commit_sha
    records = [
        {
            "action": "open_alert",
            "alert": "a1",
            "group": "trunk",
            "jobs": ["trunk / build"],
            "streak": 3,
            "at": sha(32),
            "suspects": [sha(29), sha(30)],
            "suspects_known": True,
            "last_green": sha(28),
        },
        {"action": "close_alert", "alert": "a1", "group": "trunk", "at": sha(35)},
    ]
    records[1]["reason"] = "recovered"
    report = Report(
        repo="pytorch/pytorch",
        branch="main",
        since="2026-10-31T00:00:00Z",
        records=records,
        commits=commits,
        covered=40,
        runs=120,
        runs_needing_jobs=10,
        runs_with_jobs=10,
        calls=15,
        free_calls=2,
        budget=2500,
        complete=True,
    )
    [alert] = alerts_of(report)
    assert (alert.group, alert.first_failing, alert.ended, alert.ended_at) == (
        "trunk",
        sha(30),
        "recovered",
        sha(35),
    )
    assert [s.pr for s in alert.suspects] == [generator.pr_number(29), 9]
    markdown = as_markdown(report)
    assert "[#9](https://github.com/pytorch/pytorch/pull/9)" in markdown
    assert "ended: recovered at" in markdown and "2026-11-01T00:35:00Z" in markdown
    assert "| trunk | 1 | 1 | 0 | 0 |" in markdown
    assert "15 API call(s)" in markdown
    assert "@octocat" not in markdown
    data = json.loads(as_json(report))
    assert data["per_group"] == {"trunk": {"alerts": 1, "recovered": 1}}
    assert data["alerts"][0]["suspects"][1]["pr"] == 9
    page = as_html(report)
    assert 'class="bar recovered"' in page and "pull/9" in page


def test_since_takes_durations_from_the_start_of_the_day_or_a_date() -> None:
    now = datetime(2026, 11, 30, 15, 42, tzinfo=UTC)
    assert parse_since("30d", now) == datetime(2026, 10, 31, tzinfo=UTC)
    assert parse_since("12h", now) == datetime(2026, 11, 30, 3, tzinfo=UTC)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(BacktestError, match="30d"):
        parse_since("a month", now)


async def trunkwatch(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ["PATH"], **env},
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_the_command_line_as_the_app_then_from_its_cache(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries = list(Generator(history()).deliveries())
    sim.seed_deliveries(deliveries)
    sim.add_installation(99, account="pytorch")
    monkeypatch.setenv("GITHUB_API_URL", sim.base_url)
    monkeypatch.setenv("GITHUB_APP_ID", str(APP_ID))
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", app_key)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    page = tmp_path / "backtest.html"
    common = ["backtest", "pytorch/pytorch", "--since", "2026-10-31"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    out, err = io.StringIO(), Terminal()
    code = await backtest_cli.run(_parser().parse_args([*common, "--html", str(page)]), out, err)
    assert code == 0
    assert out.getvalue().startswith("# Backtest of pytorch/pytorch `main` since 2026-10-31")
    assert "| inductor | 1 | 1 | 0 | 0 |" in out.getvalue()
    assert "| trunk | 1 | 1 | 0 | 0 |" in out.getvalue()
    assert "reading jobs     [##############################]" in err.getvalue()
    assert app_key not in out.getvalue() + err.getvalue()
    assert "bar recovered" in page.read_text()
    out = io.StringIO()
    code = await backtest_cli.run(_parser().parse_args([*common, "--json"]), out, io.StringIO())
    report = json.loads(out.getvalue())
    assert code == 0 and report["api_calls"] == 0 and len(report["alerts"]) == 2
    elsewhere = _parser().parse_args(["backtest", "someone-else/repo"])
    with pytest.raises(BacktestError, match="not installed on someone-else"):
        await backtest_cli.run(elsewhere, io.StringIO(), io.StringIO())


async def test_the_command_with_a_token_and_a_budget_says_how_far_it_got(
    sim: SimulatedGitHub, tmp_path: Path
) -> None:
    sim.seed_deliveries(Generator(history()).deliveries())
    token, _ = sim.issue_token(INSTALLATION_ID)
    env = {"GITHUB_API_URL": sim.base_url, "GITHUB_TOKEN": token}
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code, out, err = await trunkwatch(
        "backtest", "pytorch/pytorch", "--since", "2026-10-31", "--budget", "4", *cache, env=env
    )
    assert code == 3, err
    assert "The budget of 4 calls ran out" in out and "Run again to go on" in out
    assert token not in out + err
    code, out, err = await trunkwatch("backtest", "pytorch", env={})
    assert code == 2 and "OWNER/REPO" in err
    code, out, err = await trunkwatch("backtest", "pytorch/pytorch", *cache, env={})
    assert code == 2 and "needs a token" in err


def test_the_page_cache_keeps_listing_pages_on_disk(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    runs = "https://api.github.com/repos/o/r/actions/runs?branch=main&page=2"
    cache[runs] = ('W/"abc"', None, {"workflow_runs": []}, None)
    cache["https://api.github.com/repos/o/r/actions/runs/1/jobs"] = ("e", None, {}, None)
    again = PageCache(tmp_path)
    assert again[runs] == ('W/"abc"', None, {"workflow_runs": []}, None)
    assert list(again) == [runs] and len(again) == 1  # job listings are kept whole elsewhere
    del again[runs]
    assert runs not in again


async def test_the_repositorys_own_configuration_decides_what_is_watched(
    sim: SimulatedGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.seed_deliveries(Generator(history()).deliveries())
    sim.set_file(
        "pytorch/pytorch", ".github/trunkwatch.yml", "groups:\n  trunk:\n    workflows: [trunk]\n"
    )
    token, _ = sim.issue_token(INSTALLATION_ID)
    monkeypatch.setenv("GITHUB_API_URL", sim.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    args = ["backtest", "pytorch/pytorch", "--since", "2026-10-31", "--json"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    out = io.StringIO()
    assert await backtest_cli.run(_parser().parse_args(args), out, io.StringIO()) == 0
    report = json.loads(out.getvalue())
    assert report["config"] == "pytorch/pytorch:.github/trunkwatch.yml"
    assert [alert["group"] for alert in report["alerts"]] == ["trunk"]
    # Only the watched workflow's failed or rerun runs had their jobs read.
    listed = {r.path.split("/")[-2] for r in sim.requests if r.path.endswith("/jobs")}
    trunk_runs = {
        str(run.id) for run in sim.repos["pytorch/pytorch"].runs.values() if run.workflow == "trunk"
    }
    assert listed and listed <= trunk_runs
    sim.requests.clear()
    out = io.StringIO()
    assert await backtest_cli.run(_parser().parse_args(args), out, io.StringIO()) == 0
    assert json.loads(out.getvalue())["api_calls"] == 0 and sim.requests == []

    sim.set_file(
        "pytorch/pytorch", ".github/trunkwatch.yml", "groups:\n  trunk:\n    threshold: -1\n"
    )
    fresh = [*args[:-2], "--cache-dir", str(tmp_path / "fresh")]
    with pytest.raises(BacktestError, match="threshold"):
        await backtest_cli.run(_parser().parse_args(fresh), io.StringIO(), io.StringIO())


async def test_a_push_delivered_late_still_lands_in_its_place_on_the_branch(
    sim: SimulatedGitHub, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    deliveries = list(Generator(history()).deliveries())
    pushes = [i for i, d in enumerate(deliveries) if d["event"] == "push"]
    arrived = list(deliveries)
    arrived.insert(pushes[5], arrived.pop(pushes[3]))  # commit 3's push after commit 4's
    sim.seed_deliveries(arrived)
    generator = Generator(history())
    assert sim.repos["pytorch/pytorch"].branches["main"] == [
        generator.commit_sha(i) for i in range(60)
    ]
    report = await backtest(sim, session, tmp_path / "cache").run(io.StringIO())
    assert decisions(report.records) == decisions(await replayed(deliveries, tmp_path))
