"""The `trunkwatch` command line: serve, demo, replay, backtest, check-config."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot import backtest_cli
from bot.replay import ReplayError, replay
from bot.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkwatch",
        description="A GitHub App that watches a repository's trunk and files one alert per "
        "CI breakage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the App (settings from the environment / .env)")
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
    check = commands.add_parser("check-config", help="validate a trunkwatch.yml")
    check.add_argument("path", type=Path, metavar="PATH")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from bot.service import serve

            return asyncio.run(serve(load_settings()))
        if args.command == "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(keep_running=args.keep_running, port=args.port))
        if args.command == "replay":
            return _replay(args.file, args.config, args.json)
        if args.command == "backtest":
            return asyncio.run(backtest_cli.main(args))
        if args.command == "check-config":
            return _check_config(args.path)
    except SettingsError as exc:
        print(f"trunkwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def _replay(path: Path, config_path: Path | None, as_json: bool) -> int:
    from bot.config import ConfigInvalid, load_default, load_file

    try:
        config = load_file(config_path) if config_path else load_default()
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"trunkwatch: cannot read {config_path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        asyncio.run(replay(path, config, sys.stdout, as_json))
    except OSError as exc:
        print(f"trunkwatch: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except ReplayError as exc:
        print(f"trunkwatch: {exc}", file=sys.stderr)
        return 1
    return 0


def _check_config(path: Path) -> int:
    from bot.config import check_file

    errors = check_file(path)
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} error(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
