"""Group commit for the inbox: concurrent `add_delivery` calls share one transaction.

While one batch is being written, the next accumulates; each caller gets its own outcome
(new, duplicate, or the error of its row) once its batch is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.store.base import Delivery

WriteBatch = Callable[[list[Delivery]], Awaitable[list[bool | Exception]]]


class GroupCommit:
    def __init__(self, write: WriteBatch) -> None:
        self._write = write
        self._queued: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, delivery: Delivery) -> bool:
        """True when the delivery is new; returns once it is committed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append((delivery, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait for the batch being written (before closing the store)."""
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        """Write queued deliveries, one transaction per batch, until the queue is empty."""
        batch: list[tuple[Delivery, asyncio.Future[bool]]] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                outcomes: list[bool | Exception]
                try:
                    outcomes = await self._write([d for d, _ in batch])
                except Exception as exc:  # never leave a caller waiting on its future
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled; the row is written anyway
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        except asyncio.CancelledError:
            for _, future in [*batch, *self._queued]:
                future.cancel()
            self._queued = []
            raise
        finally:
            self._flusher = None
