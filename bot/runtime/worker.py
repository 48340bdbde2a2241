"""The worker: drains the inbox, one repository at a time, in arrival order.

Each delivery is dispatched to the handlers, its decisions acted on, and then its facts,
alert states and completion are committed together. A failure is retried with exponential
backoff; after `max_attempts` the delivery is kept as dead with its error, never dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

import aiohttp
import gidgethub
import tenacity
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.engine import ConfigSource, DecisionSink, Engine, Unit
from bot.events import PayloadError
from bot.github.client import GitHubUnreachable
from bot.handlers import NO_CLIENT_EVENTS
from bot.store.base import Delivery, Store

log = logging.getLogger(__name__)


class ClientFactory(Protocol):
    async def installation_client(self, installation_id: int) -> GitHubAPI: ...


class Worker:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        router: routing.Router,
        sink: DecisionSink,
        configs: ConfigSource,
        github: ClientFactory | None = None,
        *,
        concurrency: int = 4,
        lease_seconds: float = 120.0,
        max_attempts: int = 5,
        max_transient_attempts: int = 20,
        retry_base: float = 2.0,
        max_retry_delay: float = 600.0,
        poll_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
        observe: Callable[[float], None] = lambda seconds: None,
        handler_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.router = router
        self.sink = sink
        self.configs = configs
        self.github = github
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.max_transient_attempts = max_transient_attempts
        self.retry_base = retry_base
        self.max_retry_delay = max_retry_delay
        self.failures: collections.Counter[str] = collections.Counter()  # for /metrics
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.observe = observe  # processing latency, for /metrics
        # More keyword arguments for the handlers (the command reply limits of `serve`).
        self.handler_options = dict(handler_options or {})
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.processed = 0
        # Idle loops wait here; an arrival wakes one of them, not all (each wake is a claim).
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._missed = False  # an arrival found no idle loop: the next one to idle goes on
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._periodic: list[tuple[Callable[[], Coroutine[Any, Any, None]], str]] = []

    def notify(self) -> None:
        """A delivery arrived: wake one idle loop now instead of at its next poll."""
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._missed = True

    async def _nap(self) -> None:
        if self._missed:
            self._missed = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        try:
            await asyncio.wait_for(waiter, self.poll_seconds)
        except TimeoutError:
            pass
        finally:
            if waiter in self._idle:
                self._idle.remove(waiter)

    def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"worker-{i}") for i in range(self.concurrency)
        ]
        self._tasks += [asyncio.create_task(loop(), name=name) for loop, name in self._periodic]

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; give the deliveries being processed up to `grace` seconds to
        finish, then cancel what is left (a cancelled delivery is processed again later)."""
        self._stopping = True
        loops = [t for t in self._tasks if t.get_name().startswith("worker-")]
        for waiter in self._idle:
            if not waiter.done():
                waiter.set_result(None)
        if grace > 0 and loops:
            await asyncio.wait(loops, timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                await self._nap()

    async def run_once(self) -> bool:
        """Claim and process one delivery; False when none is ready."""
        delivery = await self.store.claim_next(self.worker_id, self.clock(), self.lease_seconds)
        if delivery is None:
            return False
        await self.process(delivery)
        return True

    async def drain(self) -> int:
        """Process until nothing is ready (replay, tests). Returns how many were processed."""
        count = 0
        while await self.run_once():
            count += 1
        return count

    async def process(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        unit = Unit(delivery.delivery_id)
        context = {
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "repo": delivery.repo,
        }
        try:
            data = json.loads(delivery.body)
            if not isinstance(data, dict):
                raise PayloadError("body is not a JSON object")
            event = sansio.Event(data, event=delivery.event, delivery_id=delivery.delivery_id)
            gh = await self._client(delivery)
            await self.router.dispatch(
                event,
                gh,
                engine=self.engine,
                store=self.store,
                config=self.configs,
                unit=unit,
                sink=self.sink,
                **self.handler_options,
            )
            await self.act(unit, gh)
            await self.store.complete(delivery.delivery_id, unit.changes)
            self.engine.committed(unit)
        except (PayloadError, json.JSONDecodeError) as exc:
            # Malformed payloads do not get better with retries.
            self.engine.forget(delivery.repo)
            await self.store.fail(delivery.delivery_id, _describe(exc), None)
            log.error(
                "delivery is malformed; kept as dead", extra=context | {"error": _describe(exc)}
            )
        except Exception as exc:
            self.engine.forget(delivery.repo)
            attempts = delivery.attempts + 1
            # GitHub down or limiting us is no reason to drop what the delivery should do:
            # try for hours rather than seconds before giving up on it.
            limit = self.max_transient_attempts if transient(exc) else self.max_attempts
            retry_at = None if attempts >= limit else self.clock() + self._backoff(attempts)
            await self.store.fail(delivery.delivery_id, _describe(exc), retry_at)
            extra = context | {"attempt": attempts, "error": _describe(exc)}
            if retry_at is None:
                self.failures["dead"] += 1
                log.error("delivery kept as dead; its effects are not applied", extra=extra)
            else:
                self.failures["retried"] += 1
                log.warning("delivery failed; will retry", extra=extra)
        else:
            self.processed += 1
            self.observe(time.perf_counter() - started)
            log.info(
                "delivery processed",
                extra=context
                | {
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "decisions": len(unit.decisions),
                },
            )

    async def act(self, unit: Unit, gh: GitHubAPI | None) -> None:
        """Act on the unit's decisions, and on those that acting leads to (an alert issue
        found closed by a person resolves the alert, which decides again)."""
        acted = 0
        while acted < len(unit.decisions):
            batch, acted = unit.decisions[acted:], len(unit.decisions)
            for repo, config in unit.configs.items():
                decisions = [d for d in batch if d.repo == repo]
                if decisions:
                    await self.sink.act(decisions, gh, config, unit)

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `job` every `seconds` while the worker runs (timers live in the store, so a
        restart loses nothing)."""

        async def loop() -> None:
            while not self._stopping:
                try:
                    await job()
                except Exception:
                    log.exception("periodic job failed", extra={"job": name})
                await asyncio.sleep(seconds)

        self._periodic.append((loop, name))

    async def _client(self, delivery: Delivery) -> GitHubAPI | None:
        if (
            self.github is None
            or delivery.installation_id is None
            or delivery.event in NO_CLIENT_EVENTS
        ):
            return None
        return await self.github.installation_client(delivery.installation_id)

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: between d/2 and d seconds after the nth failure,
        d = min(base·2^(n-1), max): half of d fixed, the other half tenacity's full jitter."""
        half, half_max = self.retry_base / 2, self.max_retry_delay / 2
        wait = tenacity.wait_exponential(
            multiplier=half, max=half_max
        ) + tenacity.wait_random_exponential(multiplier=half, max=half_max)
        # The retry is kept in the store, not slept on here: only its wait is tenacity's.
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempts
        return wait(state)


def transient(exc: BaseException) -> bool:
    """Whether a failure is GitHub's (or the network's) for now: 5xx, rate limits, no answer."""
    if isinstance(exc, gidgethub.GitHubBroken | gidgethub.RateLimitExceeded | GitHubUnreachable):
        return True
    if isinstance(exc, gidgethub.BadRequest):
        status = int(exc.status_code)
        return status == 429 or (status == 403 and "rate limit" in str(exc).lower())
    return isinstance(exc, aiohttp.ClientError | TimeoutError)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
