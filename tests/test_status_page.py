"""The status page over real HTTP: what it shows, what it hides, who may see it, and how it
looks in a real browser (Debian's Chromium driven by playwright-core, tests/browser)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.actions import alert_issue, escalation
from bot.commands import quiet
from bot.config import load_text
from bot.engine import Engine, Unit
from bot.events import parse_push, parse_workflow_job
from bot.policies import policy_for
from bot.records import Ack
from bot.runtime.replay import FixedConfig
from bot.sim.history import INDUCTOR_JOBS, TRUNK_JOBS, Generator, Scenario
from bot.store import open_store
from bot.store.base import Installation, Store
from bot.store.record_view import records_of
from bot.web.status_page import add_status_routes
from bot.web.status_templates import (
    AlertView,
    CommitView,
    GridView,
    GroupView,
    JobView,
    PageContext,
    RepoView,
    duration,
    parse_time,
    render_repo,
    wall_clock,
)
from bot.web.status_views import PageConfig

REPO = "pytorch/pytorch"
TOKEN = "s3cret-status-token"
CONFIG = """
branches: [main]
groups:
  inductor:
    workflows: ["inductor"]
    threshold: 3
    owners: ["@pytorch/inductor-oncall", "alice"]
    escalate_after: 2h
    escalation_owners: ["@pytorch/pt2-oncall"]
  trunk:
    workflows: ["trunk"]
"""
BROKEN_FROM = 28  # inductor's second torchbench shard fails from this commit on
COMMITS = 34  # more than the grid's 30 rows
ISSUE_NUMBER = 4242
BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@dataclass
class History:
    engine: Engine
    store: Store
    generator: Generator


def scenario(**changes: Any) -> Scenario:
    """One broken group (inductor, from BROKEN_FROM to the newest commit) and one green one
    (trunk, with a flake that passed on its rerun)."""
    options: dict[str, Any] = {
        "repo": REPO,
        "commits": COMMITS,
        "workflows": {"inductor": INDUCTOR_JOBS, "trunk": TRUNK_JOBS},
        "failures": {("inductor", INDUCTOR_JOBS[1]): set(range(BROKEN_FROM, COMMITS))},
        "flakes": {("trunk", TRUNK_JOBS[2]): {30}},
        "messages": {BROKEN_FROM: "[inductor] Reorder loop fusion heuristics"},
    }
    options.update(changes)
    return Scenario(**options)


async def feed(store: Store, plan: Scenario) -> History:
    """The history's pushes and job results through an engine into the store, as the
    handlers feed them and the worker commits them."""
    engine = Engine(store, FixedConfig(load_text(CONFIG, "trunkwatch.yml")))
    generator = Generator(plan)
    for delivery in generator.deliveries():
        unit = Unit(delivery["delivery_id"])
        if delivery["event"] == "push":
            push = parse_push(delivery["payload"], unit.delivery_id)
            assert push is not None
            await engine.push(None, push.push, "main", unit)
        elif delivery["event"] == "workflow_job":
            job = parse_workflow_job(delivery["payload"], unit.delivery_id)
            await engine.results(None, plan.repo, "main", [job.result], unit)
        await store.save_changes(unit.changes)  # what the worker commits with the delivery
        engine.committed(unit)
    tracker = engine.loaded(plan.repo)
    assert tracker is not None
    alert = tracker.open_alert("main", "inductor")
    if alert is not None:
        await alert_issue.save(
            records_of(store),
            alert_issue.AlertIssue(
                alert=alert.alert,
                repo=plan.repo,
                branch="main",
                group="inductor",
                number=ISSUE_NUMBER,
                url=f"https://github.com/{plan.repo}/issues/{ISSUE_NUMBER}",
            ),
        )
    return History(engine, store, generator)


async def page_configs(repo: str) -> PageConfig:
    """Every repository has the test's configuration, on `main`."""
    return PageConfig.of(load_text(CONFIG, "trunkwatch.yml"), "main")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'status.db'}")
    await store.open()
    await store.save_installation(Installation(7, "pytorch", (REPO,)))
    yield store
    await store.close()


@pytest.fixture
async def history(store: Store) -> History:
    return await feed(store, scenario())


def status_app(
    history: History, token: str | None = None, enabled: bool = True, public: bool | None = None
) -> web.Application:
    """The page alone; public when no token is given, unless `public` says otherwise."""
    app = web.Application()
    add_status_routes(
        app,
        configs=page_configs,
        store=history.store,
        token=token,
        enabled=enabled,
        public=token is None if public is None else public,
    )
    return app


async def test_repository_page_shows_broken_and_green_groups(
    history: History, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(status_app(history))
    response = await client.get(f"/{REPO}")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    page = await response.text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page.lower()
    broken, _, green = page.partition('data-group="trunk"')
    assert 'data-group="inductor" data-state="broken"' in broken
    assert "✗ BROKEN" in broken
    streak = COMMITS - BROKEN_FROM
    assert f"{streak} commits in a row" in broken
    suspect = history.generator.commit_sha(BROKEN_FROM)
    assert suspect[:7] in broken.split("Suspects", 1)[1].split("Last green", 1)[0]
    assert f"#{history.generator.pr_number(BROKEN_FROM)}" in broken
    assert history.generator.commit_sha(BROKEN_FROM - 1)[:7] in broken.split("Last green", 1)[1]
    assert f'href="https://github.com/{REPO}/issues/{ISSUE_NUMBER}"' in broken
    assert 'data-state="green"' in green and "✓ GREEN" in green
    assert page.count('data-rows="30"') == 2
    assert 'class="c flaky"' in green


async def test_overview_lists_installed_repositories_with_their_states(
    history: History, store: Store, aiohttp_client: ClientMaker
) -> None:
    await store.save_installation(Installation(8, "octo", ("octo/quiet",)))
    client = await aiohttp_client(status_app(history))
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert "<title>✗ 1 broken · all repositories — trunkwatch</title>" in page
    assert f'href="/{REPO}/"' in page
    assert 'data-group="inductor" data-state="broken"' in page
    assert 'data-group="trunk" data-state="green"' in page
    assert "octo/quiet" in page  # installed, nothing heard from it yet
    assert "<table" not in page  # the grids are on the repository pages

    quiet = await client.get("/octo/quiet")
    assert quiet.status == 200
    assert "No results from this repository" in await quiet.text()


async def test_escapes_job_names_and_commit_messages(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    hostile_job = "test <script>alert('job')</script> & \"quoted\""
    plan = scenario(
        workflows={"inductor": (hostile_job,), "trunk": TRUNK_JOBS},
        failures={("inductor", hostile_job): set(range(BROKEN_FROM, COMMITS))},
        messages={BROKEN_FROM: '<script>alert("commit")</script><img src=x onerror=alert(1)>'},
    )
    history = await feed(store, plan)
    client = await aiohttp_client(status_app(history))
    for path in (f"/{REPO}", "/"):
        page = await (await client.get(path)).text()
        assert "<script" not in page.lower()
        assert "<img" not in page.lower()
        assert "&lt;script&gt;alert(&#39;job&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in page
        assert "&lt;script&gt;alert(&#34;commit&#34;)&lt;/script&gt;&lt;img" in page


async def test_repositories_the_app_is_not_installed_on_are_hidden(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    history = await feed(store, scenario(repo="someone/else"))  # the engine knows it
    await store.save_installation(Installation(9, "gone", ("gone/suspended",), suspended=True))
    client = await aiohttp_client(status_app(history))
    for path in ("/someone/else", "/SOMEONE/Else", "/nobody/here", "/gone/suspended"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "someone" not in await response.text()
    index = await (await client.get("/")).text()
    assert "someone/else" not in index and "gone/suspended" not in index
    assert "<section" not in index


async def test_repository_names_ignore_case(history: History, aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(status_app(history))
    for path in ("/PyTorch/PyTorch", "/PyTorch/PyTorch/", f"/{REPO}/"):
        response = await client.get(path)
        assert response.status == 200
        assert 'data-state="broken"' in await response.text()


async def test_token_is_required_when_set(history: History, aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(status_app(history, token=TOKEN))
    for path in ("/", f"/{REPO}", "/nobody/here"):
        response = await client.get(path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get(path, params={"token": "wrong"})).status == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert (await client.get(path, headers=wrong)).status == 401
    by_query = await client.get("/", params={"token": TOKEN})
    assert by_query.status == 200
    # Links on the page carry the token on, so that following them works.
    assert f'href="/{REPO}/?token={TOKEN}"' in await by_query.text()
    by_header = await client.get(f"/{REPO}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert by_header.status == 200
    assert "?token=" not in await by_header.text()
    assert (await client.get("/nobody/here", params={"token": TOKEN})).status == 404


async def test_private_by_default_without_a_token_nobody_gets_in(
    history: History, aiohttp_client: ClientMaker
) -> None:
    app = web.Application()
    add_status_routes(app, configs=page_configs, store=history.store, token=None, enabled=True)
    client = await aiohttp_client(app)
    for path in ("/", f"/{REPO}", "/nobody/here"):
        response = await client.get(path)
        assert response.status == 401, path
        text = await response.text()
        assert "TRUNKWATCH_STATUS_TOKEN" in text and "TRUNKWATCH_STATUS_PAGE=public" in text
        assert REPO not in text
        assert (await client.get(path, params={"token": ""})).status == 401


async def test_public_needs_no_token_even_when_one_is_set(
    history: History, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(status_app(history, token=TOKEN, public=True))
    assert (await client.get(f"/{REPO}")).status == 200


async def test_the_engines_tracker_and_the_store_give_the_same_page(
    history: History, aiohttp_client: ClientMaker
) -> None:
    """This replica's own tracker, when it is as new as the store, stands in for a rebuild."""
    pages = []
    for live in (None, history.engine.loaded_at):
        app = web.Application()
        add_status_routes(
            app,
            configs=page_configs,
            store=history.store,
            token=None,
            enabled=True,
            public=True,
            live=live,
        )
        text = await (await (await aiohttp_client(app)).get(f"/{REPO}/")).text()
        pages.append(re.sub(r"Updated [^;]+;", "", text))
    assert pages[0] == pages[1]
    assert history.engine.loaded_at(REPO, await history.store.repo_version(REPO)) is not None
    assert history.engine.loaded_at(REPO, 0) is None  # another replica wrote since: rebuild


async def test_turned_off_it_is_not_there(history: History, aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(status_app(history, enabled=False))
    for path in ("/", f"/{REPO}"):
        assert (await client.get(path)).status == 404


# --- in a real browser --------------------------------------------------------------------


def browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (scripts/install-browser installs it)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "tests/browser/node_modules/playwright-core is missing (run scripts/install-browser)"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


async def people_did_things(history: History) -> float:
    """Bob acknowledged the inductor alert ten minutes ago; carol snoozed the trunk group for
    two hours. Returns when he acknowledged it."""
    store, now = history.store, time.time()
    alert_id = f"{REPO}:main:inductor:1"
    issue = await alert_issue.load(records_of(store), alert_id)
    assert issue is not None
    policy = policy_for(load_text(CONFIG, "trunkwatch.yml"), "inductor")
    await escalation.schedule(records_of(store), issue, policy, now, 7)
    # What `/trunkwatch ack` writes: the escalation stops, the acknowledgement is recorded.
    assert await escalation.ack(records_of(store), REPO, ISSUE_NUMBER, "bob")
    await records_of(store).put(Ack(alert_id, "bob", now - 600))
    await quiet.snooze(store, REPO, "main", "trunk", quiet.Snooze(now + 7200, "carol"))
    return now - 600


async def test_acks_owners_and_snoozes_are_shown(
    history: History, aiohttp_client: ClientMaker
) -> None:
    acked = datetime.fromtimestamp(await people_did_things(history), UTC)
    page = await (await (await aiohttp_client(status_app(history))).get(f"/{REPO}/")).text()
    inductor, _, trunk = page.partition('data-group="trunk"')
    # Its time of day, with its date when that was yesterday (the first minutes after 00:00).
    shown = acked.strftime("%H:%M UTC")
    if acked.date() != datetime.now(UTC).date():
        shown = acked.strftime("%b %d %H:%M UTC")
    assert f"acked by <b>bob</b> at {shown}" in inductor
    assert "@pytorch/inductor-oncall, alice" in inductor
    assert "Snoozed until" in trunk and "by carol" in trunk
    assert "Broken for <b>" in inductor and "the first failing commit" in inductor
    first = history.generator.commit_sha(BROKEN_FROM)
    assert f'title="{first}"' in inductor.split("Failing jobs", 1)[0]


async def test_cells_link_to_the_job_and_headers_name_it(
    history: History, aiohttp_client: ClientMaker
) -> None:
    page = await (await (await aiohttp_client(status_app(history))).get(f"/{REPO}/")).text()
    inductor = page.partition('data-group="trunk"')[0]
    job_links = re.findall(r'<td class="c fail"[^>]*><a href="([^"]+)"', inductor)
    assert job_links and all("/actions/runs/" in link and "/job/" in link for link in job_links)
    headers = re.findall(r'<th scope="col"[^>]* title="([^"]+)">(J\d+)</th>', inductor)
    names = re.findall(r"<li[^>]*><b>(J\d+)</b> ([^<]+)</li>", inductor)
    assert headers and [(label, name) for name, label in headers] == names
    assert any("test (inductor_torchbench" in name for _, name in names)
    assert '<th class="who" scope="col">author</th>' in inductor


@pytest.fixture
async def served(history: History) -> AsyncIterator[str]:
    """The status page on a real port of 127.0.0.1, after people acted on the alert."""
    await people_did_things(history)
    runner = web.AppRunner(status_app(history, token=TOKEN), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_in_a_browser_the_broken_group_is_plain_to_see(
    served: str, history: History, tmp_path: Path
) -> None:
    missing = browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    # TRUNKWATCH_SCREENSHOTS=docs keeps them (docs/status-page.png, …-phone.png).
    screenshot = Path(os.environ.get("TRUNKWATCH_SCREENSHOTS") or tmp_path) / "status-page.png"
    node = await asyncio.create_subprocess_exec(
        "node",
        str(BROWSER_DIR / "check.mjs"),
        f"{served}/{REPO}?token={TOKEN}",
        str(screenshot),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(node.communicate(), timeout=120)
    except TimeoutError:
        node.kill()
        await node.wait()
        raise
    print(f"status page screenshot: {screenshot}")
    report = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    failed = [c for c in report.get("checks", []) if not c["ok"]]
    assert node.returncode == 0, (failed, report.get("error"), err.decode()[-2000:])
    assert report["ok"] and not failed

    groups = {g["group"]: g for g in report["groups"]}
    inductor, trunk = groups["inductor"], groups["trunk"]
    assert inductor["state"] == "broken" and "BROKEN" in inductor["badge"]
    streak = COMMITS - BROKEN_FROM
    assert any(
        "test (inductor_torchbench" in job and f"{streak} commits in a row" in job
        for job in inductor["failingJobs"]
    ), inductor["failingJobs"]
    suspect = history.generator.commit_sha(BROKEN_FROM)[:7]
    assert any(suspect in s and "Reorder loop fusion" in s for s in inductor["suspects"])
    assert history.generator.commit_sha(BROKEN_FROM - 1)[:7] in inductor["lastGreen"]
    assert inductor["alertLink"].endswith(f"/issues/{ISSUE_NUMBER}")
    assert trunk["state"] == "green" and "GREEN" in trunk["badge"]
    assert trunk["failingJobs"] == []
    assert inductor["gridRows"] == trunk["gridRows"] == min(30, COMMITS)
    assert "✗" in inductor["cellSymbols"] and "~" in trunk["cellSymbols"]
    assert screenshot.stat().st_size > 10_000


def test_rendering_without_a_known_pass_an_issue_or_any_results() -> None:
    job = JobView("inductor / test", 4, True, None, None, "javascript:alert(1)")
    suspects = tuple(CommitView(f"{i:040x}", subject=f"change {i}") for i in range(12))
    broken = GroupView(
        repo=REPO,
        branch="main",
        group="inductor",
        state="broken",
        threshold=3,
        job_count=1,
        failing_jobs=(job,),
        suspects=suspects,
        suspects_known=False,
        alert=AlertView(None, "", None),
        grid=GridView((), ()),
    )
    quiet = GroupView(REPO, "main", "lint", "unknown", 3, 0)
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    page = render_repo(RepoView(REPO, (quiet, broken)), PageContext(now))
    assert page.index('data-state="broken"') < page.index('data-state="unknown"')
    assert "javascript:" not in page  # a payload's URL is shown as text, never linked
    assert "no pass known" in page and "and 2 more" in page
    assert "No passing commit is known" in page
    assert "open; its issue is not filed yet" in page and "not acknowledged" in page
    provisional = replace(broken, provisional=True, suspects_pending=2)
    narrowing = render_repo(RepoView(REPO, (provisional,)), PageContext(now))
    assert "Provisional: results are still coming for 2 of these commits" in narrowing
    assert "No commits seen on this branch yet." in page
    assert "· NO RESULTS YET" in page and "no job of this group has reported" in page


@pytest.mark.parametrize(
    ("groups", "recorded", "title"),
    [
        ((), True, "nothing watched · o/r — trunkwatch"),
        ((), False, "nothing watched · o/r — trunkwatch"),
        ((GroupView("o/r", "main", "lint", "unknown", 3, 0),), True, "no results yet · o/r"),
        ((GroupView("o/r", "main", "lint", "green", 3, 2),), True, "✓ all green · o/r"),
    ],
)
def test_the_tab_title_is_honest(groups: tuple[GroupView, ...], recorded: bool, title: str) -> None:
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    page = render_repo(RepoView("o/r", groups, recorded=recorded), PageContext(now))
    assert f"<title>{title}" in page


def test_wall_clock_times_and_durations() -> None:
    now = datetime(2026, 11, 30, 17, 17, tzinfo=UTC)
    assert wall_clock(parse_time("2026-11-30T14:05:00Z"), now) == "14:05 UTC"
    assert wall_clock(parse_time("2026-11-30T15:05:00+01:00"), now) == "14:05 UTC"
    assert wall_clock(parse_time("2026-11-21T14:05:00Z"), now) == "Nov 21 14:05 UTC"
    assert wall_clock(parse_time("2025-11-21T14:05:00Z"), now) == "2025-11-21 14:05 UTC"
    assert parse_time("yesterday") is None
    assert duration(3 * 3600 + 12 * 60 + 5) == "3 h 12 min"
    assert duration(2 * 86400 + 4 * 3600) == "2 d 4 h"
    assert duration(45 * 60) == "45 min" and duration(20) == "under a minute"
    assert duration(3600) == "1 h" and duration(86400) == "1 d"
