"""The `trunkwatch` command line: serve, demo, replay, backtest, check-config."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import io
import os
import sys
import traceback
from pathlib import Path
from typing import IO, TextIO, cast

from bot.backtest import cli as backtest_cli
from bot.process.settings import SettingsError, load_settings
from bot.runtime.replay import ReplayError, replay

SERVE_SETTINGS = """\
settings (from the environment; a .env file in the working directory is read too):
  GITHUB_APP_ID              the App's number (required)
  GITHUB_PRIVATE_KEY         the App's PEM private key, inline; \\n for newlines is fine
  GITHUB_PRIVATE_KEY_PATH    ... or the file that holds it (one of the two is required)
  GITHUB_WEBHOOK_SECRET      the webhook secret (required)
  GITHUB_API_URL             REST API root, for GitHub Enterprise Server
                             (default https://api.github.com)
  TRUNKWATCH_DATABASE_URL    sqlite:///relative.db, sqlite:////absolute.db or
                             postgresql://user@host/db (default sqlite:///trunkwatch.db)
  HOST, PORT                 where to listen (default 0.0.0.0 and 3000)
  LOG_LEVEL                  debug, info, warning or error (default info); debug also
                             prints a traceback when startup fails
  TRUNKWATCH_LEASE_SECONDS   how long a replica's claim on a delivery lasts (default 120)
  TRUNKWATCH_STATUS_PAGE     private (needs TRUNKWATCH_STATUS_TOKEN), public or off
                             (default private)
  TRUNKWATCH_STATUS_TOKEN    the status page's token (?token=... or Authorization: Bearer)
  TRUNKWATCH_METRICS_ADDR    host:port for /metrics instead of the webhook's port
  TRUNKWATCH_METRICS_REPOS   on: /metrics names repositories (default off)

A setting that is missing or wrong stops serve before it listens, with one line naming it
and exit status 2.
"""


def version() -> str:
    try:
        return importlib.metadata.version("trunkwatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkwatch",
        description="A GitHub App that watches a repository's trunk and files one alert per "
        "CI breakage.",
    )
    parser.add_argument("--version", action="version", version=f"trunkwatch {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="run the App (settings from the environment / .env)",
        description="Run the App: POST /webhook, GET /healthz, /readyz, /metrics and the "
        "status page.",
        epilog=SERVE_SETTINGS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo = commands.add_parser(
        "demo", help="the whole App against a simulated GitHub and a simulated trunk"
    )
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the server up after the story ends"
    )
    demo.add_argument("--port", type=int, default=0, help="port for the App (default: any free)")
    rep = commands.add_parser(
        "replay", help="feed recorded deliveries through the App; print the actions it would take"
    )
    rep.add_argument("file", type=Path, metavar="FILE.jsonl")
    rep.add_argument("--config", type=Path, help="a trunkwatch.yml (default: the embedded one)")
    rep.add_argument("--json", action="store_true", help="one JSON object per action")
    backtest_cli.add_parser(commands)
    check = commands.add_parser(
        "check-config",
        help="validate a trunkwatch.yml",
        description="Validate a trunkwatch.yml. A file that uses _extends is merged with its "
        "base, read from GITHUB_API_URL (with GITHUB_TOKEN when set), when it can be; "
        "otherwise it is checked on its own and the output says so. Exit 1 on errors (wrong "
        "values, an unreadable file); unknown keys are warnings, and fail only with --strict.",
    )
    check.add_argument("path", type=Path, metavar="PATH")
    check.add_argument(
        "--repo", metavar="OWNER/NAME", help="the repository the file belongs to (for _extends)"
    )
    check.add_argument(
        "--strict", action="store_true", help="unknown keys fail the check too (exit 1)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from bot.process.service import serve

            return asyncio.run(serve(load_settings()))
        if args.command == "demo":
            from bot.sim.demo import run_demo

            return asyncio.run(run_demo(keep_running=args.keep_running, port=args.port))
        if args.command == "replay":
            return _replay(args.file, args.config, args.json)
        if args.command == "backtest":
            return asyncio.run(backtest_cli.main(args))
        if args.command == "check-config":
            return asyncio.run(_check_config(args.path, args.repo, strict=args.strict))
    except SettingsError as exc:
        if os.environ.get("LOG_LEVEL", "").strip().lower() == "debug":
            traceback.print_exc()
        print(f"trunkwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def _replay(path: Path, config_path: Path | None, as_json: bool) -> int:
    from bot.config import load_default, read_file

    if config_path is None:
        config = load_default()
    else:
        checked = read_file(config_path)
        for warning in checked.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for error in checked.errors:
            print(error, file=sys.stderr)
        if checked.errors or checked.config is None:
            return 2
        config = checked.config
    try:
        out = cast(IO[str], ClosedPipeQuits(sys.stdout))  # writes are all replay needs
        asyncio.run(replay(path, config, out, as_json))
    except OSError as exc:
        print(f"trunkwatch: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except ReplayError as exc:
        print(f"trunkwatch: {exc}", file=sys.stderr)
        return 1
    return 0


class ClosedPipeQuits(io.TextIOBase):
    """stdout for `replay … | head`: once the reader has gone, stop quietly (exit 0) instead
    of failing every delivery with BrokenPipeError."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        try:
            written = self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            # Python flushes stdout again at exit; point it somewhere that takes it.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._out.fileno())
            raise SystemExit(0) from None
        return written


async def _check_config(path: Path, repo: str | None, *, strict: bool = False) -> int:
    import aiohttp
    import gidgethub.aiohttp

    from bot.config.checking import check_path
    from bot.process.settings import DEFAULT_API_URL

    api_url = os.environ.get("GITHUB_API_URL", DEFAULT_API_URL).rstrip("/")
    token = os.environ.get("GITHUB_TOKEN") or None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        gh = gidgethub.aiohttp.GitHubAPI(session, "trunkwatch", oauth_token=token, base_url=api_url)
        report = await check_path(path, repo=repo, gh=gh)
    for error in report.errors:
        print(error)
    for warning in report.warnings:
        print(f"warning: {warning}")
    for note in report.notes:
        print(f"warning: {note}")
    if report.errors:
        print(f"{len(report.errors)} error(s) in {path}", file=sys.stderr)
        return 1
    if report.warnings and strict:
        print(f"{len(report.warnings)} unknown key(s) in {path} (--strict)", file=sys.stderr)
        return 1
    unknown = f" ({len(report.warnings)} unknown key(s) skipped)" if report.warnings else ""
    print(f"{path}: ok{unknown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
