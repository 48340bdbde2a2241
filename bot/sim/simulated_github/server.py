"""`SimulatedGitHub`: a stateful imitation of GitHub's REST API on 127.0.0.1.

One fake for the whole test suite and for `trunkwatch demo`. Seed it (`add_repo`,
`add_commit`, `add_run`, …), point a `GitHubApp` at `await sim.start()`, and read back what
the App did (`sim.requests`, `issues`, `comments`, `labels_of`, `pulls`, `tags`). `fail_next`,
`disconnect_next` and `stall_next` inject the failures the client must survive. `set_ci`
gives a repository a CI that runs reruns and bisect tags (see `ci.py`); GraphQL answers the
`revertPullRequest` mutation (see `graphql.py`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple

import jwt as pyjwt
from aiohttp import web

from bot.sim.simulated_github.answers import DOCS, INSTALLATION, JSON_BODY, ApiError
from bot.sim.simulated_github.ci import DEFAULT_TAG_PATTERN, CiConfig, SimulatedCI, Truth
from bot.sim.simulated_github.graphql import GraphQL, graphql_path
from bot.sim.simulated_github.hooks import HookDeliveries
from bot.sim.simulated_github.keys import generate_private_key_pem, public_key_pem
from bot.sim.simulated_github.routes import Routes
from bot.sim.simulated_github.seeding import Seeding
from bot.sim.simulated_github.state import Installation, Repo

RATE_LIMITS = {"core": 5000, "search": 30, "graphql": 5000}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RecordedRequest(NamedTuple):
    """One request as tests assert on it: `("POST", "/repos/o/r/issues", {...})`."""

    method: str
    path: str
    json_body: Any


@dataclass
class ReceivedRequest:
    """The same request with its query and headers (authorization left out)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json_body: Any


@dataclass
class Injected:
    method: str
    pattern: str
    times: int
    status: int = 0  # 0: no HTTP answer (disconnect or stall)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    stall: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method.upper() and fnmatch.fnmatchcase(path, self.pattern)


class SimulatedGitHub(Seeding):
    def __init__(
        self,
        *,
        app_id: int = 1,
        app_key: str | None = None,
        app_slug: str = "trunkwatch",
        prefix: str = "",
        token_ttl: float = 3600.0,
    ) -> None:
        """`app_key` is the App's private key PEM (one is generated when omitted); only
        its public half is used, to verify JWTs. `prefix` imitates GHES (`/api/v3`)."""
        self.app_id = app_id
        self.app_key = app_key or generate_private_key_pem()
        self._public_key = public_key_pem(self.app_key)
        self.app_slug = app_slug
        self.prefix = prefix.rstrip("/")
        self.token_ttl = token_ttl
        self.repos: dict[str, Repo] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token → (installation, expires)
        self.requests: list[RecordedRequest] = []
        self.received: list[ReceivedRequest] = []
        self._injected: list[Injected] = []
        self._faults: tuple[float, float, random.Random] | None = None
        self._budgets: dict[tuple[str, str], list[float]] = {}  # → [used, reset]
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.hooks = HookDeliveries()  # the App's webhook: `hooks.configure(url, secret)`
        self.ci = SimulatedCI(self)
        self.graphql_path = graphql_path(self.prefix)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a random 127.0.0.1 port; returns the API root (with the prefix)."""
        app = web.Application(middlewares=[self._middleware])
        Routes(self).register(app.router, self.prefix)
        app.router.add_get(self.prefix + "/app/hook/deliveries", self.hooks.list_deliveries)
        app.router.add_post(
            self.prefix + r"/app/hook/deliveries/{delivery_id:\d+}/attempts", self.hooks.redeliver
        )
        app.router.add_post(self.graphql_path, GraphQL(self).handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}{self.prefix}"
        return self.base_url

    async def stop(self) -> None:
        await self.ci.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the simulated CI -----------------------------------------------------------------

    def set_ci(
        self,
        repo: str,
        workflows: dict[str, list[str]],
        truth: Truth,
        *,
        tag_pattern: str = DEFAULT_TAG_PATTERN,
        step_delay: float = 0.0,
    ) -> None:
        """Give `repo` a CI: `workflows` maps each workflow's name to its jobs' names, and
        `truth(sha, workflow, job, attempt)` is each job's conclusion. Re-running a job or a
        run's failed jobs makes a new attempt; a tag matching `tag_pattern` runs every
        workflow on its commit. `step_delay` seconds pass between a run's steps."""
        self.repo(repo)
        self.ci.configure(repo, CiConfig(dict(workflows), truth, tag_pattern, step_delay))

    async def ci_settle(self) -> None:
        """Wait until every run (and ref `push`) started so far has been delivered."""
        await self.ci.settle()

    # --- failure injection --------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `times` matching requests with `status`. `path_pattern` is a
        glob over the path (no prefix, no query), e.g. `/repos/o/r/actions/runs/*/jobs`.
        A 403 without a body says "secondary rate limit", as GitHub does."""
        self._injected.append(
            Injected(method, path_pattern, times, status, dict(headers or {}), body)
        )

    def disconnect_next(self, method: str, path_pattern: str, times: int = 1) -> None:
        """Close the connection without answering (the client sees a reset)."""
        self._injected.append(Injected(method, path_pattern, times))

    def stall_next(self, method: str, path_pattern: str, seconds: float, times: int = 1) -> None:
        """Wait `seconds` before answering normally (to make the client time out)."""
        self._injected.append(Injected(method, path_pattern, times, stall=seconds))

    # --- reading back ------------------------------------------------------------------

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method == method and fnmatch.fnmatchcase(r.path, path_pattern)
        ]

    # --- the HTTP plumbing -------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path.removeprefix(self.prefix) or "/"
        if request.path == self.graphql_path:
            path = "/graphql"  # beside the prefix on GHES (/api/graphql), not under it
        body: Any = None
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.method, path, body))
        self.received.append(
            ReceivedRequest(
                request.method,
                path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
                body,
            )
        )
        request[JSON_BODY] = body
        identity = "anonymous"
        try:
            identity = self._authenticate(request, path)
            injected = self._take_injection(request.method, path) or self._random_fault(path)
            if injected is not None:
                if injected.stall:
                    await asyncio.sleep(injected.stall)
                elif injected.status:
                    return self._finish(request, identity, path, self._injected_response(injected))
                else:
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            response = ApiError(exc.status, exc.reason).response()
        return self._finish(request, identity, path, response)

    def inject_faults(
        self, server_errors: float, secondary_limits: float, seed: int | None = None
    ) -> None:
        """From now on answer a random `server_errors` share of API requests with a 5xx and a
        `secondary_limits` share with a secondary rate limit (403), as GitHub does on a bad
        day. Nothing happens on a refused request. The App's webhook log is left alone."""
        self._faults = (server_errors, secondary_limits, random.Random(seed))

    def _random_fault(self, path: str) -> Injected | None:
        if self._faults is None or path.startswith("/app/hook/"):
            return None
        server_errors, secondary_limits, rng = self._faults
        draw = rng.random()
        if draw < server_errors:
            return Injected("", "", 1, rng.choice([500, 502, 503]))
        if draw < server_errors + secondary_limits:
            return Injected("", "", 1, 403)
        return None

    def _take_injection(self, method: str, path: str) -> Injected | None:
        for injected in self._injected:
            if injected.times > 0 and injected.matches(method, path):
                injected.times -= 1
                return injected
        return None

    def _injected_response(self, injected: Injected) -> web.Response:
        body = injected.body
        if body is None:
            message = (
                SECONDARY_MESSAGE
                if injected.status == 403 and "x-ratelimit-remaining" not in injected.headers
                else HTTPStatus(injected.status).phrase
            )
            body = {"message": message, "documentation_url": DOCS}
        response = web.json_response(body, status=injected.status)
        response.headers.update(injected.headers)
        return response

    def _authenticate(self, request: web.Request, path: str) -> str:
        """The caller's identity (`app` or `installation:<id>`), or 401."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if path.startswith("/app"):
            if scheme.lower() != "bearer":
                raise ApiError(401, "A JSON web token could not be decoded")
            try:
                claims = pyjwt.decode(
                    credential,
                    self._public_key,
                    algorithms=["RS256"],
                    options={"require": ["exp", "iat", "iss"]},
                )
            except pyjwt.PyJWTError:
                raise ApiError(401, "A JSON web token could not be decoded") from None
            if str(claims["iss"]) != str(self.app_id):
                raise ApiError(401, "Integration not found")
            if claims["exp"] - claims["iat"] > 600:
                raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
            return "app"
        known = self.tokens.get(credential)
        if scheme.lower() not in ("token", "bearer") or known is None or known[1] < time.time():
            raise ApiError(401, "Bad credentials")
        request[INSTALLATION] = self.installations[known[0]]
        return f"installation:{known[0]}"

    def issue_token(self, installation_id: int) -> tuple[str, float]:
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = time.time() + self.token_ttl
        self.tokens[token] = (installation_id, expires)
        return token, expires

    def _finish(
        self, request: web.Request, identity: str, path: str, response: web.StreamResponse
    ) -> web.StreamResponse:
        resource = (
            "search" if path.startswith("/search/") else "graphql" if path == "/graphql" else "core"
        )
        assert isinstance(response, web.Response)
        etag = None
        if request.method == "GET" and response.status == 200 and response.body is not None:
            payload = response.body if isinstance(response.body, bytes) else b""
            etag = f'W/"{hashlib.sha256(payload).hexdigest()[:32]}"'
            response.headers["ETag"] = etag
        not_modified = etag is not None and etag in request.headers.get("if-none-match", "")
        free = not_modified or path == "/rate_limit"
        used, reset = self._spend(identity, resource, spend=not free)
        limit = RATE_LIMITS[resource]
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - int(used), 0)),
            "x-ratelimit-used": str(int(used)),
            "x-ratelimit-reset": str(int(reset)),
            "x-ratelimit-resource": resource,
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": secrets.token_hex(8).upper(),
        }
        if not_modified:
            assert etag is not None
            return web.Response(status=304, headers=headers | {"ETag": etag})
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    def rate_limit_of(self, identity: str, resource: str) -> dict[str, int]:
        """`GET /rate_limit`'s view of one budget."""
        used, reset = self._spend(identity, resource, spend=False)
        limit = RATE_LIMITS[resource]
        return {
            "limit": limit,
            "used": int(used),
            "remaining": max(limit - int(used), 0),
            "reset": int(reset),
        }

    def _spend(self, identity: str, resource: str, *, spend: bool) -> tuple[float, float]:
        now = time.time()
        budget = self._budgets.setdefault((identity, resource), [0.0, now + 3600])
        if now >= budget[1]:
            budget[:] = [0.0, now + 3600]
        if spend:
            budget[0] += 1
        return budget[0], budget[1]
