"""The App's identity: one HTTP session, the app JWT and cached installation tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import aiohttp
import jwt as pyjwt
from cachetools import LRUCache
from gidgethub import apps

from bot.github.client import DEFAULT_API_URL, CallStats, GitHubClient, RetryPolicy

USER_AGENT = "trunkwatch"
# Installation tokens live an hour; stop using one this long before it expires.
TOKEN_REFRESH_MARGIN = 5 * 60
# gidgethub's JWTs are valid for under ten minutes; mint a new one well before that.
JWT_REFRESH_AFTER = 5 * 60
ETAG_CACHE_SIZE = 1000


class GitHubAuthError(Exception):
    """The App could not authenticate. The message never holds the key, JWT or token."""


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float

    def usable_at(self, now: float, margin: float) -> bool:
        return now < self.expires_at - margin


class GitHubApp:
    """Makes authenticated `GitHubClient`s for the App and for each installation.

    Holds the process's one `aiohttp.ClientSession` (created on first use unless given),
    the per-installation ETag caches, the shared `CallStats`, and installation tokens
    cached until `refresh_margin` seconds before they expire.
    """

    def __init__(
        self,
        app_id: int | str,
        private_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        session: aiohttp.ClientSession | None = None,
        requester: str = USER_AGENT,
        policy: RetryPolicy | None = None,
        stats: CallStats | None = None,
        etag_cache_size: int = ETAG_CACHE_SIZE,
        refresh_margin: float = TOKEN_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = str(app_id)
        self._private_key = private_key
        self.base_url = base_url
        self.requester = requester
        self.policy = policy or RetryPolicy()
        self.stats = stats if stats is not None else CallStats()
        self.etag_cache_size = etag_cache_size
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._jwt: tuple[str, float] | None = None
        self._tokens: dict[int, InstallationToken] = {}
        self._token_locks: dict[int, asyncio.Lock] = {}
        self._etag_caches: dict[int, LRUCache[str, Any]] = {}
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"<GitHubApp id={self.app_id} at {self.base_url}>"

    async def __aenter__(self) -> GitHubApp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def jwt(self) -> str:
        """The App's JWT (RS256), reused for a few minutes."""
        now = self._clock()
        if self._jwt is None or now >= self._jwt[1]:
            try:
                token = apps.get_jwt(app_id=self.app_id, private_key=self._private_key)
            except (ValueError, TypeError, pyjwt.PyJWTError) as exc:
                # The cause may quote the key material: drop it.
                raise GitHubAuthError(
                    f"the App's private key cannot sign a JWT ({type(exc).__name__})"
                ) from None
            self._jwt = (token, now + JWT_REFRESH_AFTER)
        return self._jwt[0]

    def app_client(self) -> GitHubClient:
        """A client authenticated as the App itself (for /app, /app/installations, …)."""

        async def bearer() -> str:
            return f"bearer {self.jwt()}"

        return GitHubClient(
            self.session,
            self.requester,
            auth=bearer,
            base_url=self.base_url,
            policy=self.policy,
            stats=self.stats,
            clock=self._clock,
        )

    async def installation_client(self, installation_id: int) -> GitHubClient:
        """A client acting as one installation; its token is fetched now if not cached."""
        await self.installation_token(installation_id)

        async def token() -> str:
            return f"token {await self.installation_token(installation_id)}"

        cache = self._etag_caches.get(installation_id)
        if cache is None:
            cache = self._etag_caches[installation_id] = LRUCache(maxsize=self.etag_cache_size)
        return GitHubClient(
            self.session,
            self.requester,
            auth=token,
            base_url=self.base_url,
            cache=cache,
            policy=self.policy,
            stats=self.stats,
            installation_id=installation_id,
            clock=self._clock,
        )

    async def installation_token(self, installation_id: int) -> str:
        """The cached token, or a new one; concurrent callers share one fetch."""
        cached = self._tokens.get(installation_id)
        if cached is not None and cached.usable_at(self._clock(), self.refresh_margin):
            return cached.token
        lock = self._token_locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and cached.usable_at(self._clock(), self.refresh_margin):
                return cached.token
            fresh = await self._fetch_token(installation_id)
            self._tokens[installation_id] = fresh
            return fresh.token

    def forget_installation(self, installation_id: int) -> None:
        """Drop the token and ETag cache of an installation that was removed."""
        self._tokens.pop(installation_id, None)
        self._etag_caches.pop(installation_id, None)

    async def _fetch_token(self, installation_id: int) -> InstallationToken:
        self.jwt()  # a key that cannot sign fails here, as GitHubAuthError
        data = await apps.get_installation_access_token(
            self.app_client(),
            installation_id=str(installation_id),
            app_id=self.app_id,
            private_key=self._private_key,
        )
        self.tokens_fetched += 1
        try:
            expires_at = datetime.fromisoformat(data["expires_at"]).timestamp()
            return InstallationToken(token=str(data["token"]), expires_at=expires_at)
        except (KeyError, TypeError, ValueError):
            raise GitHubAuthError(
                f"installation {installation_id}: unexpected access token answer"
            ) from None
