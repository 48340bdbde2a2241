"""`trunkwatch serve`: the store, the GitHub client, the worker and the web app, wired
together and run until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from cachetools import TTLCache
from gidgethub.abc import GitHubAPI

from bot.actions import escalation
from bot.actions.alert_lifecycle import GitHubSink
from bot.actions.config_report import report_config
from bot.actions.culprit import RETRY_SWEEP_SECONDS, GitHubProber, Prober, retry_refused
from bot.commands import suppressed
from bot.commands.limits import ReplyLimits
from bot.config import ConfigLoader
from bot.engine import DecisionSink, Engine, RepoConfigLike
from bot.github import GitHubApp, RetryPolicy
from bot.handlers import EVENTS, router
from bot.policies import policy_for
from bot.process.logs import setup_logging
from bot.process.settings import Settings, SettingsError
from bot.runtime import installations
from bot.runtime.recovery import RECOVERY_SECONDS, DeliveryRecovery
from bot.runtime.timers import TIMER_CHECK_SECONDS, enqueue_due
from bot.runtime.worker import Worker
from bot.store import StoreError, open_store
from bot.store.base import Store
from bot.store.carry_over import carry_state_over
from bot.store.record_view import Records
from bot.tracker.model import CommitInfo
from bot.web.metrics import Metrics
from bot.web.ops import add_ops_routes
from bot.web.server import WEBHOOK_KEY, make_app
from bot.web.status_page import add_status_routes
from bot.web.status_views import PageConfig

log = logging.getLogger(__name__)


class GitHubConfigSource:
    """Each repository's `.github/trunkwatch.yml`, read through the API and cached; a broken
    file is reported to the repository once (and the report closed when it is fixed)."""

    def __init__(self, loader: ConfigLoader, store: Store) -> None:
        self._loader = loader
        self._store = store

    async def for_repo(
        self, gh: GitHubAPI | None, repo: str, default_branch: str
    ) -> RepoConfigLike | None:
        if gh is None:
            return None
        result = await self._loader.get(gh, repo, default_branch)
        await report_config(gh, Records(self._store), repo, result)
        return result.config

    def invalidate(self, repo: str) -> None:
        self._loader.invalidate(repo)


class PageConfigs:
    """A repository's configuration for the status page, read from GitHub as the installation
    and cached by the loader the engine uses; the engine's, without owners, when GitHub does
    not answer. Never reports a broken file: that is the worker's to do."""

    def __init__(
        self, engine: Engine, store: Store, github: GitHubApp, loader: ConfigLoader
    ) -> None:
        self._engine = engine
        self._store = store
        self._github = github
        self._loader = loader
        self._default_branches: TTLCache[str, str] = TTLCache(4096, DEFAULT_BRANCH_TTL)

    async def page_config(self, repo: str) -> PageConfig | None:
        try:
            return await self._read(repo)
        except Exception as exc:
            loaded = self._engine.loaded(repo)
            if loaded is None:
                raise
            log.warning(
                "status page: using the engine's configuration",
                extra={"repo": repo, "error": type(exc).__name__},
            )
            return PageConfig(loaded.config)

    async def _read(self, repo: str) -> PageConfig | None:
        installation_id = await self._store.installation_for_repo(repo)
        if installation_id is None:
            return None
        gh = await self._github.installation_client(installation_id)
        branch = self._default_branches.get(repo)
        if branch is None:
            owner, _, name = repo.partition("/")
            data = await gh.getitem("/repos/{owner}/{repo}", {"owner": owner, "repo": name})
            branch = self._default_branches[repo] = str(data["default_branch"])
        config = (await self._loader.get(gh, repo, branch)).config
        return PageConfig.of(config, branch) if config is not None else None


DEFAULT_BRANCH_TTL = 3600.0
ESCALATION_CHECK_SECONDS = 60.0
PRUNE_SECONDS = 3600.0
# How long a finished delivery is kept: also how long a redelivery is recognised as one.
DELIVERY_RETENTION_SECONDS = 7 * 24 * 3600.0
# On SIGTERM: how long the deliveries being received and the one being processed get to
# finish. Within the 30 s a container platform usually waits before SIGKILL.
STOP_GRACE_SECONDS = 20.0


SLUG_RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 60.0, 300.0)  # then every 5 minutes


async def app_slug(github: GitHubApp) -> str:
    """The App's slug (for `@slug` commands and recognising its own comments)."""
    app = await github.app_client().getitem("/app")
    return str(app["slug"])


async def learn_app_slug(github: GitHubApp, sink: object, then: Callable[[], None]) -> None:
    """Read the App's slug in the background until GitHub answers, give it to the sink, and
    then start the worker: startup never waits on GitHub, while deliveries (acknowledged and
    kept in the inbox meanwhile) are processed only once the App knows its own login, which
    is how it recognises its issues and comments."""
    for attempt in itertools.count():
        try:
            slug = await app_slug(github)
        except Exception as exc:
            delay = SLUG_RETRY_SECONDS[min(attempt, len(SLUG_RETRY_SECONDS) - 1)]
            if getattr(exc, "status_code", None) == 401:
                log.error(
                    "GitHub refused the App's JWT (401): GITHUB_APP_ID and the private key are"
                    " not the same App's; nothing is processed until they are",
                    extra={"retry_in_seconds": delay},
                )
            else:
                log.warning(
                    "could not read the App's slug; will retry",
                    extra={"error": type(exc).__name__, "retry_in_seconds": delay},
                )
            await asyncio.sleep(delay)
            continue
        if hasattr(sink, "app_slug"):
            sink.app_slug = slug
        log.info("the App's slug", extra={"slug": slug})
        then()
        return


def github_sink(store: Store, engine: Engine) -> GitHubSink:
    def commits_for(repo: str) -> Callable[[str], CommitInfo | None]:
        def lookup(sha: str) -> CommitInfo | None:
            tracker = engine.loaded(repo)
            return tracker.commit(sha) if tracker else None

        return lookup

    return GitHubSink(
        partial(Records, store),
        commits_for,
        policy_for=policy_for,
        on_closed_by_human=engine.closed_by_person,
        quiet=lambda repo, branch, group, now: suppressed(store, repo, branch, group, now),
        prober_for=GitHubProber,
        passed_since=engine.passed_since,
    )


def store_failure(settings: Settings, exc: StoreError) -> SettingsError:
    """One line naming TRUNKWATCH_DATABASE_URL, what went wrong and what to do."""
    cause = exc.__cause__
    name = type(cause).__name__
    if name == "InvalidCatalogNameError":
        fix = "create the database (createdb NAME) or name an existing one"
    elif name == "InvalidPasswordError" or name == "InvalidAuthorizationSpecificationError":
        fix = "check the user and password in the URL"
    elif isinstance(cause, OSError | TimeoutError):
        fix = "is PostgreSQL running, and reachable from here at that host and port?"
    elif settings.database_url.strip().lower().startswith("sqlite"):
        fix = "does the file's directory exist, and may this user write there?"
    else:
        fix = "check the URL and that the database answers"
    return SettingsError(f"TRUNKWATCH_DATABASE_URL: cannot open the store ({exc}): {fix}")


def bind_failure(host: str, port: int, exc: OSError, names: str) -> SettingsError:
    if exc.errno == errno.EADDRINUSE:
        fix = f"another process listens on port {port}: stop it or choose another"
    elif exc.errno == errno.EACCES:
        fix = f"port {port} needs privileges: use a port above 1023"
    elif exc.errno == errno.EADDRNOTAVAIL:
        fix = f"{host} is not an address of this machine: use 0.0.0.0, 127.0.0.1 or one it has"
    elif isinstance(exc, socket.gaierror):
        fix = f"{host!r} is not a host name or address: use 0.0.0.0, 127.0.0.1 or one it has"
    else:
        fix = "check the host and the port"
    reason = exc.strerror or type(exc).__name__
    return SettingsError(f"{names}: cannot listen on {host}:{port} ({reason}): {fix}")


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
    """Check the settings, open the store, bind the port(s), start the worker; close all of
    them on exit. A failure to start is a `SettingsError` naming the setting and the fix.
    `policy`: how the GitHub client retries (tests shrink its delays)."""
    settings.check_serve()
    store = open_store(settings.database_url)
    try:
        await store.open()
    except StoreError as exc:
        raise store_failure(settings, exc) from exc
    github = GitHubApp(
        settings.app_id, settings.private_key, base_url=settings.api_url, policy=policy
    )
    background: list[asyncio.Task[None]] = []
    runners: list[web.AppRunner] = []
    worker: Worker | None = None
    try:
        await carry_state_over(store)
        # SQLite serves one process: claims left by a previous, killed process are void.
        released = await store.release_claims()
        if released:
            log.warning("requeued deliveries left mid-processing", extra={"count": released})
        loader = ConfigLoader()
        configs = GitHubConfigSource(loader, store)
        engine = Engine(store, configs)
        if sink is None:
            sink = github_sink(store, engine)
        worker_options.setdefault("lease_seconds", settings.lease_seconds)
        worker_options.setdefault("handler_options", {"command_limits": ReplyLimits()})
        worker = Worker(store, engine, router, sink, configs, github, **worker_options)
        recovery = DeliveryRecovery(store, github.app_client, worker.worker_id)
        metrics = Metrics(
            calls=github.stats,
            repo_labels=settings.metrics_repos,
            recovery=lambda: recovery.counts,
            failures=lambda: worker.failures,
            runner_failures=engine.runner_failures,
        )
        worker.observe = metrics.observe
        worker.every(RECOVERY_SECONDS, recovery.run_once, "recover-deliveries")
        worker.every(
            ESCALATION_CHECK_SECONDS,
            lambda: escalation.check_escalations(
                Records(store), github.installation_client, time.time()
            ),
            "escalations",
        )

        async def prober_for(repo: str) -> Prober | None:
            installation = await store.installation_for_repo(repo)
            if installation is None:
                return None
            return GitHubProber(await github.installation_client(int(installation)))

        worker.every(
            RETRY_SWEEP_SECONDS,
            lambda: retry_refused(Records(store), prober_for, time.time(), worker.worker_id),
            "culprit-retries",
        )
        worker.every(
            PRUNE_SECONDS,
            lambda: store.prune_deliveries(time.time() - DELIVERY_RETENTION_SECONDS),
            "prune-inbox",
        )
        worker.every(PRUNE_SECONDS, engine.prune, "prune-commits")
        worker.every(TIMER_CHECK_SECONDS, lambda: enqueue_due(engine, store), "timers")
        app = make_app(settings.webhook_secret, store, EVENTS, worker.notify)
        metrics_app = web.Application() if settings.metrics_addr else None
        add_ops_routes(app, store=store, metrics=metrics, metrics_app=metrics_app)
        add_status_routes(
            app,
            configs=PageConfigs(engine, store, github, loader).page_config,
            store=store,
            token=settings.status_token or None,
            enabled=settings.status_page,
            public=settings.status_public,
            live=engine.loaded_at,
        )
        sites: list[tuple[web.Application, str, int, str]] = [
            (app, settings.host, settings.port, "HOST/PORT")
        ]
        if metrics_app is not None and settings.metrics_addr is not None:
            sites.append((metrics_app, *settings.metrics_addr, "TRUNKWATCH_METRICS_ADDR"))
        for site_app, host, port, names in sites:
            runner = web.AppRunner(site_app, access_log=None)
            runners.append(runner)
            await runner.setup()
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise bind_failure(host, port, exc, names) from exc
        slug = learn_app_slug(github, sink, then=worker.start)
        background.append(asyncio.create_task(slug, name="app-slug"))
        background.append(
            asyncio.create_task(installations.keep_synced(github, store), name="installations")
        )
        yield Service(settings, store, github, engine, worker, app, recovery)
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if worker is not None:
            await worker.stop(grace=STOP_GRACE_SECONDS)
        for runner in runners:
            await runner.cleanup()
        await github.close()
        await store.close()


async def serve(settings: Settings) -> int:
    settings.check_serve()
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
