"""The aiohttp app: `/webhook`, `/healthz`.

The webhook answer never waits on GitHub: a delivery is verified, written durably to the
inbox, and answered 202; the worker processes it afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web

from bot.store.base import Delivery, Store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_BODY_BYTES = 25 * 1024 * 1024 + 1024  # GitHub caps payloads at 25 MB

STORE_KEY = web.AppKey("store", Store)


def signature_for(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode())


def _reject(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class WebhookView:
    """POST /webhook: verify, dedupe, store, answer."""

    def __init__(
        self,
        secret: str,
        store: Store,
        events: Collection[str],
        on_stored: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self._secret = secret
        self._store = store
        self._events = frozenset(events)
        self._on_stored = on_stored
        self._clock = clock
        self.received: dict[tuple[str, str], int] = {}  # (event, outcome) → count

    def _count(self, event: str, outcome: str) -> None:
        key = (event, outcome)
        self.received[key] = self.received.get(key, 0) + 1

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = request.headers.get(EVENT_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            self._count(event, "unsigned")
            return _reject(401, f"missing {SIGNATURE_HEADER} header")
        if not signature_matches(self._secret, body, signature):
            self._count(event, "bad_signature")
            return _reject(401, "signature does not match the payload")
        if request.content_type != "application/json":
            self._count(event, "bad_content_type")
            return _reject(415, "payloads must be sent as application/json")
        if not event:
            self._count(event, "malformed")
            return _reject(400, f"missing {EVENT_HEADER} header")
        delivery_id = request.headers.get(DELIVERY_HEADER, "").strip()
        if not delivery_id or len(delivery_id) > 200:
            self._count(event, "malformed")
            return _reject(400, f"missing or invalid {DELIVERY_HEADER} header")
        try:
            data: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            self._count(event, "malformed")
            return _reject(400, "body is not valid JSON")
        if not isinstance(data, dict):
            self._count(event, "malformed")
            return _reject(400, "body is not a JSON object")
        if event == "ping":
            self._count(event, "pong")
            return web.json_response({"ok": "pong"})
        if event not in self._events:
            self._count(event, "ignored")
            return web.json_response({"ignored": f"trunkwatch does not handle {event} events"})
        repository = data.get("repository")
        installation = data.get("installation")
        repo = repository.get("full_name") if isinstance(repository, dict) else None
        installation_id = installation.get("id") if isinstance(installation, dict) else None
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            repo=repo if isinstance(repo, str) else "",
            installation_id=installation_id if isinstance(installation_id, int) else None,
            body=body,
            received_at=self._clock(),
        )
        if not await self._store.add_delivery(delivery):
            self._count(event, "duplicate")
            return web.json_response({"duplicate": delivery_id})
        self._count(event, "accepted")
        self._on_stored()
        return web.json_response({"accepted": delivery_id}, status=202)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(
    secret: str,
    store: Store,
    events: Collection[str],
    on_stored: Callable[[], None] = lambda: None,
) -> web.Application:
    """The web app alone: routes and the webhook view; lifecycle is the caller's."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE_KEY] = store
    view = WebhookView(secret, store, events, on_stored)
    app.router.add_post("/webhook", view.handle)
    app.router.add_get("/healthz", healthz)
    return app
