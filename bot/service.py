"""`trunkwatch serve`: the store, the GitHub client, the worker and the web app, wired
together and run until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.actions import owners
from bot.actions.config_report import report_config
from bot.actions.github_sink import GitHubSink
from bot.commands import suppressed
from bot.config import ConfigLoader
from bot.engine import DecisionSink, Engine, RepoConfigLike
from bot.github import GitHubApp, RetryPolicy
from bot.handlers import EVENTS, router
from bot.logs import setup_logging
from bot.metrics import Metrics
from bot.ops import add_ops_routes
from bot.recovery import RECOVERY_SECONDS, DeliveryRecovery
from bot.server import WEBHOOK_KEY, make_app
from bot.settings import Settings
from bot.status_page import add_status_routes
from bot.store import open_store
from bot.store.base import Store
from bot.store.carry_over import carry_state_over
from bot.tracker.model import CommitInfo
from bot.worker import Worker

log = logging.getLogger(__name__)


class GitHubConfigSource:
    """Each repository's `.github/trunkwatch.yml`, read through the API and cached; a broken
    file is reported to the repository once (and the report closed when it is fixed)."""

    def __init__(self, loader: ConfigLoader, store: Store) -> None:
        self._loader = loader
        self._store = store

    async def for_repo(self, gh: Any, repo: str, default_branch: str) -> RepoConfigLike | None:
        if gh is None:
            return None
        result = await self._loader.get(gh, repo, default_branch)
        await report_config(gh, self._store, repo, result)
        return result.config

    def invalidate(self, repo: str) -> None:
        self._loader.invalidate(repo)


ESCALATION_CHECK_SECONDS = 60.0
PRUNE_SECONDS = 3600.0
# How long a finished delivery is kept: also how long a redelivery is recognised as one.
DELIVERY_RETENTION_SECONDS = 7 * 24 * 3600.0
# On SIGTERM: how long the deliveries being received and the one being processed get to
# finish. Within the 30 s a container platform usually waits before SIGKILL.
STOP_GRACE_SECONDS = 20.0


async def app_slug(github: GitHubApp) -> str:
    """The App's slug (for `@slug` commands and recognising its own comments)."""
    try:
        app = await github.app_client().getitem("/app")
        return str(app["slug"])
    except Exception:
        log.warning("could not read the App's slug; assuming 'trunkwatch'", exc_info=True)
        return "trunkwatch"


async def github_sink(store: Store, engine: Engine, github: GitHubApp) -> GitHubSink:
    def commits_for(repo: str) -> Callable[[str], CommitInfo | None]:
        def lookup(sha: str) -> CommitInfo | None:
            tracker = engine.loaded(repo)
            return tracker.commit(sha) if tracker else None

        return lookup

    return GitHubSink(
        store,
        commits_for,
        app_slug=await app_slug(github),
        on_closed_by_human=engine.closed_by_person,
        quiet=lambda repo, branch, group, now: suppressed(store, repo, branch, group, now),
    )


@dataclass
class Service:
    """Everything `serve` runs, for tests and the demo to start the same way."""

    settings: Settings
    store: Store
    github: GitHubApp
    engine: Engine
    worker: Worker
    app: web.Application
    recovery: DeliveryRecovery

    async def stop_accepting(self) -> None:
        """New deliveries get 503 from now on (recovery asks for them again after the
        restart); those being received are stored first."""
        if not await self.app[WEBHOOK_KEY].stop_accepting(STOP_GRACE_SECONDS):
            log.warning("deliveries still being received at shutdown were cut off")


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings,
    sink: DecisionSink | None = None,
    *,
    policy: RetryPolicy | None = None,
    **worker_options: Any,
) -> AsyncIterator[Service]:
    """Open the store, start the worker and the web server; close all of them on exit.
    `policy`: how the GitHub client retries (tests shrink its delays)."""
    settings.require_serve()
    store = open_store(settings.database_url)
    await store.open()
    # SQLite serves one process: claims left by a previous, killed process are void.
    await carry_state_over(store)
    released = await store.release_claims()
    if released:
        log.warning("requeued deliveries left mid-processing", extra={"count": released})
    github = GitHubApp(
        settings.app_id, settings.private_key, base_url=settings.api_url, policy=policy
    )
    try:
        configs = GitHubConfigSource(ConfigLoader(), store)
        engine = Engine(store, configs)
        if sink is None:
            sink = await github_sink(store, engine, github)
        worker_options.setdefault("lease_seconds", settings.lease_seconds)
        worker = Worker(store, engine, router, sink, configs, github, **worker_options)
        recovery = DeliveryRecovery(store, github.app_client, worker.worker_id)
        metrics = Metrics(
            calls=github.stats,
            alerts=engine.loaded_alerts,
            recovery=lambda: recovery.counts,
            failures=lambda: worker.failures,
        )
        worker.observe = metrics.observe
        worker.every(RECOVERY_SECONDS, recovery.run_once, "recover-deliveries")
        worker.every(
            ESCALATION_CHECK_SECONDS,
            lambda: owners.check_escalations(store, github.installation_client, time.time()),
            "escalations",
        )
        worker.every(
            PRUNE_SECONDS,
            lambda: store.prune_deliveries(time.time() - DELIVERY_RETENTION_SECONDS),
            "prune-inbox",
        )
        worker.every(PRUNE_SECONDS, engine.prune, "prune-commits")
        app = make_app(settings.webhook_secret, store, EVENTS, worker.notify)
        add_ops_routes(app, store=store, metrics=metrics)
        add_status_routes(
            app,
            engine=engine,
            store=store,
            token=settings.status_token or None,
            enabled=settings.status_page,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        worker.start()
        try:
            yield Service(settings, store, github, engine, worker, app, recovery)
        finally:
            await worker.stop(grace=STOP_GRACE_SECONDS)
            await runner.cleanup()
    finally:
        await github.close()
        await store.close()


async def serve(settings: Settings) -> int:
    settings.require_serve()
    setup_logging(settings.log_level, settings.secrets())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(settings) as service:
        log.info("serving", extra={"host": settings.host, "port": settings.port})
        await stop.wait()
        log.info("stopping: new deliveries get 503, the ones in hand are finished")
        await service.stop_accepting()
    log.info("stopped")
    return 0
