"""The README and the configuration reference stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli.main import _parser
from bot.commands import COMMANDS
from bot.config import load_text

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "configuration.md").read_text()


def test_every_slash_command_is_in_the_readme_with_its_example() -> None:
    rows = {
        line.split("`")[1].split()[1]: line
        for line in README.splitlines()
        if line.startswith("| `/trunkwatch ")
    }
    for spec in COMMANDS:
        assert spec.name in rows, spec.name
        # The whole example, as `help` writes it, in the command's own row of the table.
        assert f"| `{spec.example_line()}` |" in rows[spec.name], spec.name


def test_every_command_line_subcommand_is_in_the_readme() -> None:
    subcommands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in subcommands:
        assert f"| `{name}" in README, name


def test_the_config_examples_in_the_readme_and_the_reference_are_valid() -> None:
    for text in (README, REFERENCE):
        block = re.search(r"```yaml\n(.*?)```", text, re.S)
        assert block is not None
        config = load_text(block.group(1), "example")
        assert config.group("inductor") is not None


def test_the_readme_starts_with_the_two_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[0].endswith("trunkwatch demo")
    assert blocks[1].endswith("scripts/test")
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
