"""Routes for the people and machines that run the App: `/metrics` and `/readyz`.

`/healthz` (in `bot.web.server`) says the process is up; `/readyz` says it can do its job: the
store answers, and the inbox is moving (its oldest unfinished delivery is not too old).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.store.base import Store
from bot.web.metrics import DeliveryCounts, Metrics

# A delivery retried with backoff waits at most ~16 s between attempts; five minutes
# without finishing means the worker is stuck or gone.
MAX_INBOX_AGE_SECONDS = 300.0
WEBHOOK_PATH = "/webhook"


class OpsViews:
    def __init__(self, store: Store, metrics: Metrics, max_inbox_age: float) -> None:
        self._store = store
        self._metrics = metrics
        self._max_inbox_age = max_inbox_age

    async def metrics(self, request: web.Request) -> web.Response:
        await self._metrics.refresh_inbox(self._store)
        await self._metrics.refresh_alerts(self._store)
        await self._metrics.refresh_culprits(self._store)
        body = generate_latest(self._metrics.registry)
        # CONTENT_TYPE_LATEST carries its charset, which aiohttp wants given apart.
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def readyz(self, request: web.Request) -> web.Response:
        inbox = await self._metrics.refresh_inbox(self._store)
        if not inbox.reachable:
            return _not_ready("the store did not answer within 2 s")
        if inbox.oldest_age_seconds > self._max_inbox_age:
            return _not_ready(
                f"the inbox is stuck: the oldest of {inbox.pending} unfinished deliveries "
                f"is {inbox.oldest_age_seconds:.0f} s old (limit {self._max_inbox_age:.0f} s)"
            )
        return web.json_response(
            {
                "status": "ready",
                "inbox_pending": inbox.pending,
                "inbox_oldest_age_seconds": round(inbox.oldest_age_seconds, 3),
            }
        )


def _not_ready(reason: str) -> web.Response:
    return web.json_response({"status": "not ready", "reason": reason}, status=503)


def webhook_counts(app: web.Application) -> DeliveryCounts | None:
    """The (event, outcome) counts of the app's `/webhook` view, if it has one."""
    for route in app.router.routes():
        if route.method == "POST" and route.resource and route.resource.canonical == WEBHOOK_PATH:
            view: Any = getattr(route.handler, "__self__", None)
            received = getattr(view, "received", None)
            if isinstance(received, dict):
                return received
    return None


def add_ops_routes(
    app: web.Application,
    *,
    store: Store,
    metrics: Metrics,
    max_inbox_age: float = MAX_INBOX_AGE_SECONDS,
    metrics_app: web.Application | None = None,
) -> None:
    """Add `GET /metrics` and `GET /readyz` to a `make_app` app; `/metrics` goes on
    `metrics_app` instead when given (TRUNKWATCH_METRICS_ADDR: another address or port).
    Deliveries are counted from the webhook view unless `metrics.received` was given."""
    if metrics.received is None:
        counts = webhook_counts(app)
        if counts is not None:
            metrics.received = lambda: counts
    views = OpsViews(store, metrics, max_inbox_age)
    (app if metrics_app is None else metrics_app).router.add_get("/metrics", views.metrics)
    app.router.add_get("/readyz", views.readyz)
