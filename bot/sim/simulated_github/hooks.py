"""The App's webhook as GitHub runs it: deliveries sent to the App, every attempt recorded,
listed by `GET /app/hook/deliveries` and sent again by
`POST /app/hook/deliveries/{delivery_id}/attempts`.

Tests send deliveries through `SimulatedGitHub.deliver(...)` instead of posting them
directly, so that a delivery the App did not take (down, 503, no answer) is on record, as it
is on GitHub, and the App's recovery can find it and have it sent again, for real.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import aiohttp
from aiohttp import web

from bot.sim.simulated_github.answers import MAX_PER_PAGE, ApiError, answer, int_param

DEFAULT_PER_PAGE = 30
NO_ANSWER = 0  # status_code of an attempt that got no HTTP answer


@dataclass
class Attempt:
    """One attempt to deliver one event (its `guid`); a redelivery is a new attempt."""

    id: int
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    body: bytes
    delivered_at: float
    redelivery: bool
    status_code: int = NO_ANSWER
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def item(self) -> dict[str, Any]:
        """The shape of one element of `GET /app/hook/deliveries`."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": datetime.fromtimestamp(self.delivered_at, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 2),
            "status": _status_text(self.status_code),
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


def _status_text(status_code: int) -> str:
    if status_code == NO_ANSWER:
        return "failed to connect to host"
    if 200 <= status_code < 300:
        return "OK"
    return f"Invalid HTTP Response: {status_code}"


class HookDeliveries:
    def __init__(self) -> None:
        self.url = ""  # the App's webhook URL; deliveries go nowhere while it is unset
        self.secret = ""
        self.attempts: list[Attempt] = []  # finished attempts: GitHub lists no others
        self._ids = 0
        self._pending: set[asyncio.Task[Attempt]] = set()

    def configure(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    async def deliver(
        self, event: str, payload: dict[str, Any], guid: str | None = None
    ) -> Attempt:
        """Send an event to the App's webhook once, as GitHub would; recorded either way."""
        body = json.dumps(payload).encode()
        installation = payload.get("installation")
        repository = payload.get("repository")
        attempt = self._record(
            guid=guid or str(uuid.uuid4()),
            event=event,
            action=payload.get("action") if isinstance(payload.get("action"), str) else None,
            installation_id=installation.get("id") if isinstance(installation, dict) else None,
            repository_id=repository.get("id") if isinstance(repository, dict) else None,
            body=body,
            redelivery=False,
        )
        return await self._send(attempt)

    def of(self, guid: str) -> list[Attempt]:
        return [a for a in self.attempts if a.guid == guid]

    async def settle(self) -> None:
        """Wait for the redeliveries requested so far to be sent."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _record(self, **fields: Any) -> Attempt:
        self._ids += 1
        return Attempt(id=self._ids, delivered_at=time.time(), **fields)

    async def _send(self, attempt: Attempt) -> Attempt:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/simulated",
            "X-GitHub-Event": attempt.event,
            "X-GitHub-Delivery": attempt.guid,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": "sha256="
            + hmac.new(self.secret.encode(), attempt.body, sha256).hexdigest(),
        }
        started = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.post(self.url, data=attempt.body, headers=headers) as response,
            ):
                await response.read()
                attempt.status_code = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError):
            attempt.status_code = NO_ANSWER
        attempt.duration = time.monotonic() - started
        self.attempts.append(attempt)
        return attempt

    # --- the REST endpoints (App JWT) --------------------------------------------------

    async def list_deliveries(self, request: web.Request) -> web.Response:
        """Newest first; `cursor` is where the page starts (ids below it), as GitHub's."""
        per_page = min(max(int_param(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        cursor = request.query.get("cursor")
        try:
            below = int(cursor) if cursor else None
        except ValueError:
            raise ApiError(400, "Invalid cursor") from None
        newest_first = sorted(self.attempts, key=lambda a: a.id, reverse=True)
        if request.query.get("redelivery") in ("true", "false"):
            wanted = request.query["redelivery"] == "true"
            newest_first = [a for a in newest_first if a.redelivery == wanted]
        if below is not None:
            newest_first = [a for a in newest_first if a.id < below]
        page = newest_first[:per_page]
        response = answer([a.item() for a in page])
        if len(newest_first) > per_page:
            following = request.url.update_query(per_page=per_page, cursor=str(page[-1].id))
            response.headers["Link"] = f'<{following}>; rel="next"'
        return response

    async def redeliver(self, request: web.Request) -> web.Response:
        delivery_id = int(request.match_info["delivery_id"])
        original = next((a for a in self.attempts if a.id == delivery_id), None)
        if original is None:
            raise ApiError(404, "Not Found")
        again = self._record(
            guid=original.guid,
            event=original.event,
            action=original.action,
            installation_id=original.installation_id,
            repository_id=original.repository_id,
            body=original.body,
            redelivery=True,
        )
        # GitHub answers 202 at once and sends the delivery afterwards.
        task = asyncio.create_task(self._send(again))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return answer({}, 202)
