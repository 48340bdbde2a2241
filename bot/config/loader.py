"""Reading `.github/trunkwatch.yml` from GitHub, cached per repository.

Modelled on torchci's CachedConfigTracker: the value is cached per repository for a few
minutes and dropped on a push that touches the file. A file with unknown keys or wrong values
applies in part (see `schema.check_tree`); only when a freshly read file cannot be read at
all (YAML syntax, too large, not a mapping, an `_extends` chain that cannot be followed), or
GitHub cannot be reached, does the last configuration read stay in force.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import gidgethub
from cachetools import LRUCache, TTLCache

from bot.config.errors import ConfigError
from bot.config.extends import FileRef, FileUnusable, ReadFailed, label_for, resolve
from bot.config.model import CONFIG_PATH, RepoConfig
from bot.config.schema import check_tree, in_file_order
from bot.config.tree import MAX_BYTES

log = logging.getLogger(__name__)

ORG_CONFIG_REPO = ".github"  # the organisation-wide fallback lives in owner/.github


class FileReader(Protocol):
    """What the loader asks of `gh`: a GET of the contents API (a `GitHubAPI` answers it;
    the backtest answers from its disk cache)."""

    async def getitem(self, url: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A configuration in force.

    Read from the newest file, `errors` are its wrong values (each voided the group or the
    setting that holds it: its `ignored` says which) and `warnings` its unknown keys; the
    rest of the file applies. With `fallback`, the newest file cannot be read at all:
    `errors` say why, and `config` is the last one read. `report_errors` is True the first
    time these problems come back, so the App tells the repository once.
    """

    config: RepoConfig
    source: str  # the file read first, "owner/repo:.github/trunkwatch.yml"
    errors: tuple[ConfigError, ...] = ()
    report_errors: bool = False
    warnings: tuple[ConfigError, ...] = ()
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class NoConfig:
    """No configuration in force: the App does nothing for the repository.

    Either no file exists (`source` None), or one exists but has never been readable
    (`errors` say why).
    """

    source: str | None = None
    errors: tuple[ConfigError, ...] = ()
    report_errors: bool = False
    config: None = None
    warnings: tuple[ConfigError, ...] = ()
    fallback: bool = False


ConfigResult = LoadedConfig | NoConfig
R = TypeVar("R", LoadedConfig, NoConfig)


def push_touches_config(commits: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a push payload's `commits` add, modify or remove the configuration file."""
    return any(
        CONFIG_PATH in (commit.get(kind) or ())
        for commit in commits
        for kind in ("added", "modified", "removed")
    )


@dataclass(frozen=True, slots=True)
class _Cached:
    result: ConfigResult
    files: frozenset[str]  # repositories read ("owner/name", lowercased), for invalidation


class ConfigLoader:
    """Per-repository configurations read from GitHub (a `ConfigSource` for the engine)."""

    def __init__(
        self,
        *,
        ttl: float = 600.0,
        maxsize: int = 4096,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TTLCache[str, _Cached] = TTLCache(maxsize, ttl, timer=timer)
        self._last_valid: LRUCache[str, LoadedConfig] = LRUCache(maxsize)
        self._reported: LRUCache[str, tuple[ConfigError, ...]] = LRUCache(maxsize)

    async def get(self, gh: FileReader, repo: str, default_branch: str) -> ConfigResult:
        """The configuration in force for `repo` ("owner/name")."""
        key = repo.lower()
        cached = self._cache.get(key)
        if cached is not None:
            return replace(cached.result, report_errors=False)
        try:
            result, files = await self._read(gh, repo, default_branch)
        except ReadFailed as exc:
            last = self._last_valid.get(key)
            if last is None:
                raise
            log.warning("config of %s unreadable (%s); keeping the last valid one", repo, exc)
            return last
        self._cache[key] = _Cached(result, files)
        return result

    async def for_repo(self, gh: FileReader, repo: str, default_branch: str) -> RepoConfig | None:
        """The engine's view: the configuration in force, or None when nothing is watched."""
        return (await self.get(gh, repo, default_branch)).config

    def invalidate(self, repo: str) -> None:
        """Forget what was read for `repo`, and for every repository whose configuration
        came from it (the organisation fallback, an `_extends` base). Last valid values stay."""
        name = repo.lower()
        for key in [k for k, cached in self._cache.items() if k == name or name in cached.files]:
            self._cache.pop(key, None)

    async def _read(
        self, gh: FileReader, repo: str, default_branch: str
    ) -> tuple[ConfigResult, frozenset[str]]:
        key = repo.lower()
        owner, _, name = repo.partition("/")

        async def fetch(ref: FileRef) -> str | bytes | None:
            return await fetch_file(gh, ref)

        candidates = [FileRef(repo, CONFIG_PATH, default_branch)]
        if name.lower() != ORG_CONFIG_REPO:
            candidates.append(FileRef(f"{owner}/{ORG_CONFIG_REPO}"))
        errors: list[ConfigError] = []
        files = {ref.repo.lower() for ref in candidates}
        for top in candidates:
            try:
                data = await fetch(top)
            except FileUnusable as exc:
                errors.append(ConfigError(label_for(top, repo), 0, "", str(exc)))
                break
            if data is None:
                continue
            resolved = await resolve(top, data, fetch, repo)
            files.update(ref.repo.lower() for ref in resolved.files)
            errors.extend(resolved.errors)
            if resolved.tree is not None and resolved.complete:
                checked = check_tree(resolved.tree)
                assert checked.config is not None  # a tree always gives one
                loaded = LoadedConfig(
                    checked.config,
                    str(top),
                    tuple(in_file_order([*errors, *checked.errors])),
                    warnings=checked.warnings,
                )
                self._last_valid[key] = LoadedConfig(loaded.config, loaded.source)
                return self._reporting(key, repo, loaded), frozenset(files)
            break
        else:
            self._reported.pop(key, None)
            return NoConfig(), frozenset(files)
        source = str(top)
        ordered = tuple(in_file_order(errors))
        log.warning("config of %s cannot be read: %d error(s)", repo, len(ordered))
        last = self._last_valid.get(key)
        if last is not None:
            fallback = LoadedConfig(last.config, last.source, ordered, fallback=True)
            return self._reporting(key, repo, fallback), frozenset(files)
        return self._reporting(key, repo, NoConfig(source, ordered)), frozenset(files)

    def _reporting(self, key: str, repo: str, result: R) -> R:
        """`result`, with `report_errors` set when its problems are new since the last read."""
        problems = (*result.errors, *result.warnings)
        if not problems:
            self._reported.pop(key, None)
            return result
        if result.errors and not result.fallback:
            log.warning(
                "config of %s applies in part: %d error(s), %d warning(s)",
                repo,
                len(result.errors),
                len(result.warnings),
            )
        report = self._reported.get(key) != problems
        self._reported[key] = problems
        return replace(result, report_errors=report)


async def fetch_file(gh: FileReader, ref: FileRef) -> str | bytes | None:
    """A file's bytes through the contents API; None on 404.

    Raises FileUnusable when GitHub answers but the file cannot be used (not a file, too
    large, no access), ReadFailed when GitHub cannot be asked (5xx, rate limit, network).
    """
    url = f"/repos/{ref.repo}/contents/{quote(ref.path)}"
    if ref.ref:
        url += f"?ref={quote(ref.ref, safe='')}"
    try:
        body = await gh.getitem(url)
    except gidgethub.RateLimitExceeded as exc:
        raise ReadFailed(f"rate limit exceeded reading {ref}") from exc
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise FileUnusable(f"GitHub answered {int(exc.status_code)} ({exc})") from exc
    except (gidgethub.GitHubException, aiohttp.ClientError, TimeoutError) as exc:
        raise ReadFailed(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(body, dict) or body.get("type") != "file":
        raise FileUnusable("not a file")
    size = body.get("size")
    if isinstance(size, int) and size > MAX_BYTES:
        raise FileUnusable(f"the file is {size} bytes; the limit is {MAX_BYTES}")
    if body.get("encoding") != "base64" or not isinstance(body.get("content"), str):
        raise FileUnusable("GitHub sent no base64 content for the file")
    try:
        return base64.b64decode(body["content"])
    except (binascii.Error, ValueError) as exc:
        raise FileUnusable("the file's content is not valid base64") from exc
