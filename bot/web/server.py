"""The aiohttp app: `/webhook`, `/healthz`.

The webhook answer never waits on GitHub: a delivery is verified, written durably to the
inbox, and answered 202; the worker processes it afterwards.

The edge is where bad input stops. What the headers alone can refuse (no signature, an
encoded or oversized body) is refused before the body is read; bodies are read within one
shared budget of bytes; and a body is stored only once `bot.web.payload_check` has found it fit
for every later reader, so no sender can make the App answer 5xx, fail another delivery of
the same group commit, or grow its memory or its metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import mmap
import re
import time
from collections.abc import AsyncIterator, Callable, Collection

from aiohttp import web

from bot.store.base import Delivery, Store
from bot.web.payload_check import BadPayload, parse_payload

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_BODY_BYTES = 25 * 1024 * 1024 + 1024  # GitHub caps payloads at 25 MB
# Bodies being read and checked at once, all senders together: what keeps memory bounded
# whatever the senders do. A body that does not fit waits for others to finish, a while.
IN_FLIGHT_BYTES = 32 * 1024 * 1024
IN_FLIGHT_WAIT_SECONDS = 5.0
OTHER_EVENT = "other"  # the metric label of every event the App does not handle

_SIGNATURE_SHAPE = re.compile(r"sha256=[0-9a-fA-F]{64}")
_DELIVERY_SHAPE = re.compile(r"[\x21-\x7e]{1,200}")  # GitHub's are GUIDs
_REPO_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")

STORE_KEY = web.AppKey("store", Store)


def signature_for(secret: str, body: bytes | memoryview) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes | memoryview, header: str) -> bool:
    return hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode())


def _reject(status: int, reason: str, *, unread: bool = False) -> web.Response:
    response = web.json_response({"error": reason}, status=status)
    if unread:  # the body was never read: close rather than read it to keep the connection
        response.force_close()
    return response


class BodyBudget:
    """How many body bytes the webhook holds at once, across all requests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = asyncio.Condition()

    async def acquire(self, size: int, wait_seconds: float) -> bool:
        """Hold `size` bytes; False if they did not become free within `wait_seconds`."""
        async with self._changed:
            try:
                if self.held + size > self.limit:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.held + size <= self.limit),
                        wait_seconds,
                    )
            except TimeoutError:
                return False
            self.held += size
            return True

    async def release(self, size: int) -> None:
        async with self._changed:
            self.held -= size
            self._changed.notify_all()


class WebhookView:
    """POST /webhook: verify, dedupe, store, answer."""

    def __init__(
        self,
        secret: str,
        store: Store,
        events: Collection[str],
        on_stored: Callable[[], None],
        clock: Callable[[], float] = time.time,
        in_flight_bytes: int = IN_FLIGHT_BYTES,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self._secret = secret
        self._store = store
        self._events = frozenset(events)
        self._on_stored = on_stored
        self._clock = clock
        self._budget = BodyBudget(max(in_flight_bytes, MAX_BODY_BYTES))
        self._accepting = True
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.received: dict[tuple[str, str], int] = {}  # (event, outcome) → count

    def _count(self, event: str, outcome: str) -> None:
        # Labels from a fixed set: a sender must not be able to grow /metrics.
        label = event if event in self._events or event == "ping" else OTHER_EVENT
        key = (label, outcome)
        self.received[key] = self.received.get(key, 0) + 1

    async def stop_accepting(self, wait_seconds: float) -> bool:
        """From now on answer 503 (GitHub records a failed delivery, which recovery asks for
        again); wait up to `wait_seconds` for the deliveries being stored. True if they were."""
        self._accepting = False
        try:
            await asyncio.wait_for(self._idle.wait(), wait_seconds)
        except TimeoutError:
            return False
        return True

    async def handle(self, request: web.Request) -> web.Response:
        event = request.headers.get(EVENT_HEADER, "")
        refused = self._refuse_unread(request, event)
        if refused is not None:
            return refused
        length = request.content_length or 0
        if not await self._budget.acquire(length, IN_FLIGHT_WAIT_SECONDS):
            self._count(event, "busy")
            response = _reject(503, "too many deliveries in flight; try again", unread=True)
            response.headers["Retry-After"] = "5"
            return response
        self._in_hand += 1
        self._idle.clear()
        try:
            return await self._receive(request, event)
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()
            await self._budget.release(length)

    def _refuse_unread(self, request: web.Request, event: str) -> web.Response | None:
        """What can be refused from the headers alone, before a byte of the body is read."""
        if not self._accepting:
            self._count(event, "stopping")
            return _reject(503, "trunkwatch is shutting down", unread=True)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            self._count(event, "unsigned")
            return _reject(401, f"missing {SIGNATURE_HEADER} header", unread=True)
        if not _SIGNATURE_SHAPE.fullmatch(signature.strip()):
            self._count(event, "bad_signature")
            return _reject(401, "signature does not match the payload", unread=True)
        if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            self._count(event, "bad_encoding")
            reason = "Content-Encoding is not accepted: send the JSON as is"
            return _reject(415, reason, unread=True)
        if request.content_length is None:
            self._count(event, "malformed")
            return _reject(411, "a Content-Length header is required", unread=True)
        if request.content_length > MAX_BODY_BYTES:
            self._count(event, "too_large")
            return _reject(413, "payloads are at most 25 MB", unread=True)
        return None

    async def _receive(self, request: web.Request, event: str) -> web.Response:
        length = request.content_length or 0
        async with _body_buffer(request, length) as received:
            if received is None:
                self._count(event, "malformed")
                return _reject(400, "the body is shorter than its Content-Length")
            view = memoryview(received)[:length]
            try:
                if not signature_matches(self._secret, view, request.headers[SIGNATURE_HEADER]):
                    self._count(event, "bad_signature")
                    return _reject(401, "signature does not match the payload")
                body = bytes(view)
            finally:
                view.release()
        return await self._store_checked(request, event, body)

    async def _store_checked(self, request: web.Request, event: str, body: bytes) -> web.Response:
        if request.content_type != "application/json":
            self._count(event, "bad_content_type")
            return _reject(415, "payloads must be sent as application/json")
        if not event:
            self._count(event, "malformed")
            return _reject(400, f"missing {EVENT_HEADER} header")
        delivery_id = request.headers.get(DELIVERY_HEADER, "").strip()
        if not _DELIVERY_SHAPE.fullmatch(delivery_id):
            self._count(event, "malformed")
            return _reject(400, f"missing or invalid {DELIVERY_HEADER} header")
        try:
            data = parse_payload(body)
        except BadPayload as exc:
            self._count(event, "malformed")
            return _reject(400, str(exc))
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
        if repo is not None and not (isinstance(repo, str) and _REPO_SHAPE.fullmatch(repo)):
            self._count(event, "malformed")
            return _reject(400, "repository.full_name is not owner/name")
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            repo=repo or "",
            installation_id=installation_id if type(installation_id) is int else None,
            body=body,
            received_at=self._clock(),
        )
        try:
            added = await self._store.add_delivery(delivery)
        except Exception:
            self._count(event, "store_error")
            log.exception("could not store a delivery", extra={"delivery_id": delivery_id})
            return _reject(503, "the delivery could not be stored; try again")
        if not added:
            self._count(event, "duplicate")
            return web.json_response({"duplicate": delivery_id})
        self._count(event, "accepted")
        self._on_stored()
        return web.json_response({"accepted": delivery_id}, status=202)


WEBHOOK_KEY = web.AppKey("webhook", WebhookView)


@contextlib.asynccontextmanager
async def _body_buffer(request: web.Request, length: int) -> AsyncIterator[mmap.mmap | None]:
    """The body, read into one anonymous mapping of its declared length; None if the sender
    stopped short. A mapping goes back to the OS when closed, where a heap buffer of that
    size would stay in the process after a burst of big bodies."""
    buffer = mmap.mmap(-1, max(length, 1))
    try:
        filled = 0
        while filled < length:
            chunk = await request.content.readany()
            if not chunk:
                break
            buffer[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        yield buffer if filled == length else None
    finally:
        buffer.close()


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
    app[WEBHOOK_KEY] = view
    app.router.add_post("/webhook", view.handle)
    app.router.add_get("/healthz", healthz)
    return app
