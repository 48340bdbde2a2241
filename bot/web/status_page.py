"""The status page: `GET /` and `GET /{owner}/{repo}`, read-only HTML for people.

For each watched branch and group of a repository: green or broken, each failing job's
streak, the last green commit, the suspects, the open alert's issue, and a grid of the newest
commits by the group's jobs. Everything comes from the store (commits, results, alerts), so
every replica shows the same page, right after a restart too; a repository's tracker is
rebuilt when its version in the store moves. Its configuration comes from `configs` (the
engine's, or read from GitHub and cached). Only repositories the App is installed on (and not
suspended) are shown; any other name is a 404, the same answer as for a repository that does
not exist.

Private by default: it needs `TRUNKWATCH_STATUS_TOKEN`, given as `?token=…` or
`Authorization: Bearer …` (else 401; with no token set, every request is a 401 that says so),
unless `TRUNKWATCH_STATUS_PAGE=public`; `off` removes the routes (so 404).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from bot.store.base import Store
from bot.tracker import RepoTracker
from bot.web.status_templates import PageContext, RepoView, render_index, render_repo
from bot.web.status_views import PageConfig, RepoSnapshot, ViewBuilder

log = logging.getLogger(__name__)

TOKEN_PARAM = "token"
REPO_ROUTE = "/{owner:[A-Za-z0-9_.-]+}/{repo:[A-Za-z0-9_.-]+}"
# No scripts at all: whatever a commit message holds, the page cannot run it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# A repository's configuration as the page needs it; None when it watches nothing.
PageConfigs = Callable[[str], Awaitable[PageConfig | None]]


# The engine's tracker of a repository if it reflects this version of the store, else None.
LiveTrackers = Callable[[str, int], RepoTracker | None]


async def load_snapshot(store: Store, repo: str, config: PageConfig) -> RepoSnapshot:
    """A repository's tracker from what the store holds (as the engine loads one)."""
    tracker = RepoTracker(repo, config.tracker, await store.load_alerts(repo))
    commits = await store.load_commits(repo)
    results = await store.load_results(repo)
    tracker.load([(c.branch, c.commit, c.parent) for c in commits], results)
    return RepoSnapshot(tracker, config.owners)


@dataclass
class _Built:
    version: int
    config: PageConfig
    snapshot: RepoSnapshot


class StoreTrackers:
    """Snapshots for the page: the engine's tracker when it is as new as the store (this
    replica did the latest work), else one rebuilt from the store, kept until the
    repository's version moves."""

    def __init__(
        self, store: Store, configs: PageConfigs, live: LiveTrackers | None = None
    ) -> None:
        self._store = store
        self._configs = configs
        self._live = live
        self._built: dict[str, _Built] = {}

    async def get(self, repo: str) -> RepoSnapshot | None:
        """The repository's snapshot; None when it watches nothing or its configuration
        cannot be read now."""
        try:
            config = await self._configs(repo)
        except Exception as exc:
            log.warning(
                "status page: no configuration", extra={"repo": repo, "error": type(exc).__name__}
            )
            config = None
        if config is None:
            return None
        version = await self._store.repo_version(repo)
        live = self._live(repo, version) if self._live is not None else None
        if live is not None and live.config == config.tracker:
            self._built.pop(repo, None)
            return RepoSnapshot(live, config.owners)
        built = self._built.get(repo)
        if built is None or built.version != version or built.config != config:
            built = _Built(version, config, await load_snapshot(self._store, repo, config))
            self._built[repo] = built
        return built.snapshot


def token_matches(request: web.Request, token: str) -> bool:
    offered = request.query.get(TOKEN_PARAM, "")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not offered and scheme.lower() == "bearer":
        offered = credentials.strip()
    return hmac.compare_digest(offered.encode(), token.encode())


NO_TOKEN_SET = (
    "401: this status page is private and no token is configured: set TRUNKWATCH_STATUS_TOKEN"
    " (then open it with ?token=…), or TRUNKWATCH_STATUS_PAGE=public\n"
)


class StatusPage:
    def __init__(
        self, trackers: StoreTrackers, store: Store, token: str | None, public: bool = False
    ) -> None:
        self._trackers = trackers
        self._store = store
        self._token = token or None
        self._public = public

    def _check(self, request: web.Request) -> str:
        """The query string internal links carry (the token, when it came in the URL)."""
        challenge = {"WWW-Authenticate": 'Bearer realm="trunkwatch status"'}
        if self._public:
            return ""
        if self._token is None:
            raise web.HTTPUnauthorized(text=NO_TOKEN_SET, headers=challenge)
        if not token_matches(request, self._token):
            raise web.HTTPUnauthorized(
                text="401: this status page needs its token\n", headers=challenge
            )
        if TOKEN_PARAM in request.query:
            return "?" + urlencode({TOKEN_PARAM: request.query[TOKEN_PARAM]})
        return ""

    async def _installed(self) -> dict[str, str]:
        """Installed repositories, lower-cased name → name (GitHub names ignore case)."""
        names: dict[str, str] = {}
        for installation in await self._store.installations():
            if not installation.suspended:
                names.update((repo.lower(), repo) for repo in installation.repos)
        return names

    async def _view(self, repo: str, now: datetime, with_grid: bool) -> RepoView:
        # A repository the App never recorded anything for needs no configuration read.
        if await self._store.repo_version(repo) == 0:
            return RepoView(repo, (), recorded=False)
        snapshot = await self._trackers.get(repo)
        if snapshot is None:
            return RepoView(repo, (), watched=False)
        return await ViewBuilder(self._store, snapshot, now).repo_view(with_grid)

    async def index(self, request: web.Request) -> web.Response:
        context = PageContext(datetime.now(UTC), self._check(request))
        repos = sorted((await self._installed()).values(), key=str.lower)
        views = [await self._view(repo, context.now, with_grid=False) for repo in repos]
        return _html(render_index(views, context))

    async def repository(self, request: web.Request) -> web.Response:
        context = PageContext(datetime.now(UTC), self._check(request))
        asked = f"{request.match_info['owner']}/{request.match_info['repo']}"
        repo = (await self._installed()).get(asked.lower())
        if repo is None:
            raise web.HTTPNotFound(text="404: no such repository here\n")
        view = await self._view(repo, context.now, with_grid=True)
        return _html(render_repo(view, context))


def _html(text: str) -> web.Response:
    response = web.Response(text=text, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def add_status_routes(
    app: web.Application,
    *,
    configs: PageConfigs,
    store: Store,
    token: str | None,
    enabled: bool,
    public: bool = False,
    live: LiveTrackers | None = None,
) -> None:
    """Serve the status page on `app`; when not `enabled`, add nothing (so `/` is a 404).
    Unless `public`, every request needs `token` (and with none set, none gets in)."""
    if not enabled:
        return
    page = StatusPage(StoreTrackers(store, configs, live), store, token, public)
    app.router.add_get("/", page.index)
    app.router.add_get(REPO_ROUTE, page.repository)
    app.router.add_get(REPO_ROUTE + "/", page.repository)
