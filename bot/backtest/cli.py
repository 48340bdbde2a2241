"""`trunkwatch backtest`'s command line: credentials, the cache, progress, the report."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp
import gidgethub

from bot.backtest.backtest import Backtest, BacktestError, parse_since
from bot.backtest.cache import PageCache
from bot.backtest.report import as_html, as_json, as_markdown
from bot.github.app import USER_AGENT, GitHubApp, GitHubAuthError
from bot.github.client import CallStats, GitHubClient, GitHubUnreachable
from bot.process.settings import Settings, SettingsError, load_settings

DEFAULT_CACHE = Path(".trunkwatch-cache")


def add_parser(commands: Any) -> None:
    """The `backtest` subcommand (`commands` is the parser's subparsers action)."""
    parser = commands.add_parser(
        "backtest",
        help="read a repository's history from the API and report the alerts it would have had",
    )
    parser.add_argument("repo", metavar="OWNER/REPO")
    parser.add_argument("--branch", help="the branch to read (default: the default branch)")
    parser.add_argument(
        "--since", default="30d", help="how far back: 30d, 12h, 2w or a date (default: 30d)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="a trunkwatch.yml (default: the repository's own, else the embedded one)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the report as JSON")
    output.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML timeline")
    parser.add_argument(
        "--token",
        help="a token to read with instead of the App's installation token"
        " (default: GITHUB_TOKEN if set)",
    )
    parser.add_argument(
        "--budget", type=int, help="most API calls to spend (default: half of what remains)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"default: {DEFAULT_CACHE}"
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=3600.0,
        help="seconds a cached listing of the branch is reused (default: 3600)",
    )


class ProgressBar:
    """One line on a terminal, rewritten in place; nothing when the output is not one."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._live = out.isatty()

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self._live:
            return
        if total:
            filled = 30 * done // total
            bar = "#" * filled + "-" * (30 - filled)
            line = f"\rreading {what:<8} [{bar}] {done}/{total}"
        else:
            line = f"\rreading {what}…"
        self._out.write(line.ljust(60))
        self._out.flush()

    def done(self) -> None:
        if self._live:
            self._out.write("\r" + " " * 60 + "\r")
            self._out.flush()


@asynccontextmanager
async def _client(
    settings: Settings, repo: str, token: str | None, cache: PageCache, stats: CallStats
) -> AsyncIterator[GitHubClient]:
    async with aiohttp.ClientSession() as session:
        if token:
            yield GitHubClient(
                session,
                USER_AGENT,
                oauth_token=token,
                base_url=settings.api_url,
                cache=cache,
                stats=stats,
            )
            return
        if not settings.app_id or not settings.private_key:
            raise BacktestError(
                "backtest needs a token (--token or GITHUB_TOKEN), or the App's"
                " GITHUB_APP_ID and GITHUB_PRIVATE_KEY / GITHUB_PRIVATE_KEY_PATH"
            )
        app = GitHubApp(
            settings.app_id,
            settings.private_key,
            base_url=settings.api_url,
            session=session,
            stats=stats,
        )
        installation_id = await _installation_for(app, repo)

        async def auth() -> str:
            return f"token {await app.installation_token(installation_id)}"

        yield GitHubClient(
            session,
            USER_AGENT,
            auth=auth,
            base_url=settings.api_url,
            cache=cache,
            stats=stats,
            installation_id=installation_id,
        )


async def _installation_for(app: GitHubApp, repo: str) -> int:
    owner = repo.partition("/")[0].lower()
    async for installation in app.app_client().getiter("/app/installations"):
        if str(installation["account"]["login"]).lower() == owner:
            return int(installation["id"])
    raise BacktestError(
        f"the App is not installed on {owner}: give a token with --token or GITHUB_TOKEN"
    )


class _CachedFiles:
    """What the configuration loader asks of `gh`, answered through the backtest's cache."""

    def __init__(self, backtest: Backtest) -> None:
        self._backtest = backtest

    async def getitem(self, url: str) -> Any:
        return await self._backtest.read_file(url)


async def _repository_config(backtest: Backtest) -> None:
    """Use the repository's own configuration, as the App would; the embedded default when
    it has none."""
    from bot.config import ConfigLoader

    repository = await backtest.repository()
    result = await ConfigLoader().get(
        _CachedFiles(backtest), backtest.repo, str(repository["default_branch"])
    )
    if result.errors:
        raise BacktestError(
            f"the configuration {result.source} is invalid:\n"
            + "\n".join(str(error) for error in result.errors)
        )
    if result.config is not None:
        backtest.config = result.config
        backtest.config_source = result.source
    else:
        backtest.config_source += " (the repository has no .github/trunkwatch.yml)"


async def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from bot.config import ConfigInvalid, load_default, read_file

    if "/" not in args.repo:
        raise BacktestError(f"expected OWNER/REPO, got {args.repo!r}")
    config = load_default()
    if args.config:
        checked = read_file(args.config)
        for warning in checked.warnings:
            err.write(f"warning: {warning}\n")
        if checked.errors or checked.config is None:
            raise ConfigInvalid(checked.errors)
        config = checked.config
    settings = load_settings()
    token = args.token or os.environ.get("GITHUB_TOKEN") or None
    stats = CallStats()
    cache = PageCache(args.cache_dir / args.repo.replace("/", "__") / "pages")
    progress = ProgressBar(err)
    async with _client(settings, args.repo, token, cache, stats) as gh:
        backtest = Backtest(
            gh,
            stats,
            args.repo,
            config,
            args.cache_dir,
            branch=args.branch,
            since=parse_since(args.since, datetime.now(UTC)),
            budget=args.budget,
            max_age=args.max_age,
            progress=progress,
            config_source=str(args.config) if args.config else "the embedded default",
        )
        if args.config is None:
            await _repository_config(backtest)
        report = await backtest.run(io.StringIO())
    progress.done()
    if args.json:
        out.write(as_json(report) + "\n")
    else:
        out.write(as_markdown(report))
    if args.html:
        args.html.write_text(as_html(report), encoding="utf-8")
    return 0 if report.complete else 3


async def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 done, 3 stopped by the budget (run again to go on), 2 cannot run."""
    from bot.config import ConfigInvalid

    try:
        return await run(args, sys.stdout, sys.stderr)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
    except (BacktestError, SettingsError, GitHubAuthError) as exc:
        print(f"trunkwatch: {exc}", file=sys.stderr)
    except gidgethub.BadRequest as exc:
        print(f"trunkwatch: GitHub answered {exc.status_code}: {exc}", file=sys.stderr)
    except GitHubUnreachable as exc:
        print(f"trunkwatch: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"trunkwatch: {exc.strerror}: {exc.filename}", file=sys.stderr)
    return 2
