"""What operators rely on: `/metrics` and `/readyz` over real HTTP, and the Dockerfile, which
cannot be built here (no Docker engine), checked statically."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import re
import shlex
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bot.cli.main import main
from bot.github.client import CallStats
from bot.handlers import EVENTS
from bot.process.settings import Settings
from bot.store import open_store
from bot.store.base import Changes, Delivery, Store
from bot.tracker.model import AlertState
from bot.web.metrics import Metrics
from bot.web.ops import add_ops_routes
from bot.web.server import make_app, signature_for
from tests.fixtures import load_payload

ROOT = Path(__file__).resolve().parents[1]
SECRET = "ops-secret"
ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def calls() -> CallStats:
    stats = CallStats()
    stats.record("GET", "/repos/{owner}/{repo}/actions/runs/{id}/jobs", 200)
    stats.record("GET", "/repos/{owner}/{repo}/actions/runs/{id}/jobs", 200)
    stats.record("POST", "/repos/{owner}/{repo}/issues", 502)
    stats.rate_limit_remaining[7] = 4987
    stats.rate_limit_remaining[None] = 4999
    return stats


def alert(group: str, seq: int, is_open: bool) -> AlertState:
    return AlertState(
        alert=f"o/r:main:{group}:{seq}",
        repo="o/r",
        branch="main",
        group=group,
        seq=seq,
        open=is_open,
        opened_at="a" * 40,
    )


@pytest.fixture
async def metrics(calls: CallStats, store: Store) -> Metrics:
    changes = Changes()
    changes.alerts = [
        alert("inductor", 1, False),
        alert("inductor", 2, True),
        alert("rocm", 1, True),
    ]
    await store.save_changes(changes)
    return Metrics(calls=calls, repo_labels=True)


@pytest.fixture
async def client(
    store: Store, metrics: Metrics, aiohttp_client: ClientMaker
) -> TestClient[Any, Any]:
    app = make_app(SECRET, store, EVENTS)
    add_ops_routes(app, store=store, metrics=metrics)
    return await aiohttp_client(app)


async def post_delivery(client: TestClient[Any, Any], delivery_id: str) -> int:
    body = json.dumps(
        load_payload("workflow_run/pkg-pr-new.completed.failure.pull_request-event.json")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": signature_for(SECRET, body),
    }
    response = await client.post("/webhook", data=body, headers=headers)
    return response.status


async def scrape(client: TestClient[Any, Any]) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- /metrics ------------------------------------------------------------------------------


async def test_metrics_parse_and_move_when_deliveries_arrive(
    client: TestClient[Any, Any],
) -> None:
    received = "trunkwatch_deliveries_received_total"
    before = await scrape(client)
    assert value(before, received, event="workflow_run", outcome="accepted") is None
    assert value(before, "trunkwatch_inbox_pending") == 0

    assert await post_delivery(client, "d-1") == 202
    assert await post_delivery(client, "d-2") == 202
    assert await post_delivery(client, "d-1") == 200  # a redelivery
    after = await scrape(client)
    assert value(after, received, event="workflow_run", outcome="accepted") == 2
    assert value(after, received, event="workflow_run", outcome="duplicate") == 1
    assert value(after, "trunkwatch_inbox_pending") == 2
    oldest = value(after, "trunkwatch_inbox_oldest_age_seconds")
    assert oldest is not None and 0 <= oldest < 60
    assert value(after, "trunkwatch_store_up") == 1


async def test_metrics_show_latency_github_calls_rate_limits_and_open_alerts(
    client: TestClient[Any, Any], metrics: Metrics, calls: CallStats
) -> None:
    metrics.observe(0.03)
    metrics.observe(2.0)
    samples = await scrape(client)
    latency = "trunkwatch_delivery_processing_seconds"
    assert value(samples, f"{latency}_count") == 2
    assert value(samples, f"{latency}_sum") == pytest.approx(2.03)
    assert value(samples, f"{latency}_bucket", le="0.05") == 1
    assert value(samples, f"{latency}_bucket", le="+Inf") == 2

    api = "trunkwatch_github_api_calls_total"
    jobs = "/repos/{owner}/{repo}/actions/runs/{id}/jobs"
    assert value(samples, api, method="GET", endpoint=jobs, status="200") == 2
    assert (
        value(samples, api, method="POST", endpoint="/repos/{owner}/{repo}/issues", status="502")
        == 1
    )
    remaining = "trunkwatch_github_rate_limit_remaining"
    assert value(samples, remaining, installation="7") == 4987
    assert value(samples, remaining, installation="app") == 4999

    alerts = "trunkwatch_open_alerts"
    assert value(samples, alerts, repo="o/r", branch="main", group="inductor") == 1
    assert value(samples, alerts, repo="o/r", branch="main", group="rocm") == 1

    # Read at scrape time: a call made after the first scrape shows in the next one.
    calls.record("GET", jobs, 200)
    assert value(await scrape(client), api, method="GET", endpoint=jobs, status="200") == 3


async def test_metrics_name_no_repository_unless_asked(
    store: Store, metrics: Metrics, aiohttp_client: ClientMaker
) -> None:
    metrics.repo_labels = False
    app = make_app(SECRET, store, EVENTS)
    add_ops_routes(app, store=store, metrics=metrics)
    client = await aiohttp_client(app)
    text = await (await client.get("/metrics")).text()
    assert "o/r" not in text
    samples = await scrape(client)
    assert value(samples, "trunkwatch_open_alerts", group="inductor") == 1
    assert value(samples, "trunkwatch_open_alerts", group="rocm") == 1


async def test_open_alerts_come_from_the_store_for_any_process(
    store: Store, tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    """Another process on the same database (a replica, or this one restarted) reports the
    alerts the first one recorded."""
    changes = Changes()
    changes.alerts = [alert("inductor", 1, True)]
    await store.save_changes(changes)
    other = open_store(f"sqlite:///{tmp_path}/t.db")
    await other.open()
    try:
        app = make_app(SECRET, other, EVENTS)
        add_ops_routes(app, store=other, metrics=Metrics())
        samples = await scrape(await aiohttp_client(app))
    finally:
        await other.close()
    assert value(samples, "trunkwatch_open_alerts", group="inductor") == 1


async def test_metrics_on_their_own_app_leave_the_main_one(
    store: Store, metrics: Metrics, aiohttp_client: ClientMaker
) -> None:
    app, metrics_app = make_app(SECRET, store, EVENTS), web.Application()
    add_ops_routes(app, store=store, metrics=metrics, metrics_app=metrics_app)
    assert (await (await aiohttp_client(app)).get("/metrics")).status == 404
    assert (await (await aiohttp_client(app)).get("/readyz")).status == 200
    assert (await (await aiohttp_client(metrics_app)).get("/metrics")).status == 200


async def test_metrics_still_answer_when_the_store_is_down(
    client: TestClient[Any, Any], store: Store
) -> None:
    await store.close()
    samples = await scrape(client)
    assert value(samples, "trunkwatch_store_up") == 0
    assert value(samples, "trunkwatch_inbox_pending") is None


def test_metrics_use_a_registry_of_their_own() -> None:
    from prometheus_client import REGISTRY

    first, second = Metrics(), Metrics()
    first.observe(1.0)
    assert first.registry is not second.registry is not REGISTRY
    assert second.registry.get_sample_value("trunkwatch_delivery_processing_seconds_count") == 0
    assert REGISTRY.get_sample_value("trunkwatch_delivery_processing_seconds_count") is None


# --- /readyz -------------------------------------------------------------------------------


async def test_ready_when_the_store_answers_and_the_inbox_moves(
    client: TestClient[Any, Any],
) -> None:
    assert await post_delivery(client, "fresh") == 202
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_not_ready_when_the_store_is_closed(
    client: TestClient[Any, Any], store: Store
) -> None:
    await store.close()
    response = await client.get("/readyz")
    assert response.status == 503
    assert "store" in (await response.json())["reason"]


async def test_not_ready_when_a_pending_delivery_is_too_old(
    client: TestClient[Any, Any], store: Store
) -> None:
    stuck = Delivery("stuck", "push", "o/r", 7, b"{}", received_at=time.time() - 301)
    assert await store.add_delivery(stuck)
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "not ready"
    assert "inbox is stuck" in body["reason"]


class SlowStore:
    async def inbox_stats(self, now: float) -> tuple[int, float]:
        await asyncio.sleep(30)
        return 0, 0.0


async def test_not_ready_when_the_store_is_too_slow(
    store: Store, aiohttp_client: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.web.metrics.STORE_TIMEOUT_SECONDS", 0.05)
    app = make_app(SECRET, store, EVENTS)
    add_ops_routes(app, store=SlowStore(), metrics=Metrics())  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    started = time.monotonic()
    response = await client.get("/readyz")
    assert response.status == 503
    assert time.monotonic() - started < 5
    assert "did not answer" in (await response.json())["reason"]


# --- the Dockerfile, statically --------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", "", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def exec_form(args: str) -> list[str]:
    parsed = json.loads(args)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
    return parsed


def test_base_image_is_a_pinned_slim_python() -> None:
    (base,) = of("FROM")
    image, _, tag = base.partition(":")
    assert image == "python"
    assert "@sha256:" in base or re.fullmatch(r"\d+\.\d+\.\d+-slim(-\w+)?", tag), base
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(n) for n in requires.removeprefix(">=").split("."))
    assert tuple(int(n) for n in tag.split("-")[0].split(".")[:2]) >= minimum


def test_runs_as_a_non_root_user() -> None:
    users = of("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    keywords = [kw for kw, _ in instructions()]
    assert keywords.index("CMD") > len(keywords) - 1 - keywords[::-1].index("USER")


def test_dependencies_are_a_layer_before_the_source() -> None:
    steps = instructions()
    copies = [i for i, (kw, _) in enumerate(steps) if kw == "COPY"]
    assert steps[copies[0]][1].split() == ["pyproject.toml", "./"]
    installs = [i for i, (kw, args) in enumerate(steps) if kw == "RUN" and "pip" in args]
    source = next(i for i in copies if "bot/" in steps[i][1].split())
    assert installs[0] < source < installs[-1]
    assert "--no-deps" in steps[installs[-1]][1]


def test_the_dependency_step_installs_exactly_the_declared_dependencies() -> None:
    first_install = next(args for kw, args in instructions() if kw == "RUN" and "pip" in args)
    code = shlex.split(first_install)[shlex.split(first_install).index("-c") + 1]
    installed: list[list[str]] = []

    class Subprocess:
        @staticmethod
        def check_call(argv: list[str]) -> None:
            installed.append(argv)

    real_import = __import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return Subprocess if name == "subprocess" else real_import(name, *args, **kwargs)

    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(code, {"__builtins__": {**__builtins__, "__import__": fake_import}})  # type: ignore[dict-item]
    finally:
        os.chdir(cwd)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (argv,) = installed
    assert argv[1:4] == ["-m", "pip", "install"]
    assert argv[4:] == declared


def test_healthcheck_hits_healthz_without_curl() -> None:
    (check,) = of("HEALTHCHECK")
    assert "/healthz" in check
    assert "curl" not in check and "wget" not in check
    command = exec_form(check[check.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")


def test_exposes_the_default_port() -> None:
    assert of("EXPOSE") == [str(Settings().port)]


def test_the_command_is_trunkwatch_serve_from_the_installed_package() -> None:
    (cmd,) = of("CMD")
    entry, *args = exec_form(cmd)
    assert (entry, args) == ("trunkwatch", ["serve"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts[entry].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    (installed,) = importlib.metadata.entry_points(group="console_scripts", name=entry)
    assert installed.value == scripts[entry]
    assert installed.load() is main
    with pytest.raises(SystemExit) as exited:  # `serve` is a command it knows
        main(["serve", "--help"])
    assert exited.value.code == 0


def test_every_copy_source_exists_and_is_not_docker_ignored() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"  # an allow-list: only what is named below is sent to the build
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for args in of("COPY"):
        *sources, _ = args.split()
        for source in sources:
            assert not source.startswith("--"), "COPY --from/--chown: check by hand"
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
