"""Slash commands: parsing, permissions, running them, and what mutes and snoozes suppress."""

from bot.commands.parser import COMMANDS, Command, CommandError, help_text, parse_comment
from bot.commands.quiet import suppressed

__all__ = ["COMMANDS", "Command", "CommandError", "help_text", "parse_comment", "suppressed"]
