"""`python -m bot` and the `trunkwatch` console script; the command line is bot/cli/main.py."""

import sys

from bot.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
