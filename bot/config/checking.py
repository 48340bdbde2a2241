"""`trunkwatch check-config`: a file on disk checked as the App would read it.

A file that `_extends` another is merged with its base when the base can be read (through
`GITHUB_API_URL`, with `GITHUB_TOKEN` when set) and checked whole; when it cannot, the file is
checked on its own and the report says so. Beyond errors (a threshold larger than the commits
kept is one), the report warns of settings that are valid but cannot work: `min_failing_jobs`
larger than the jobs a group names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.extends import FileRef, ReadFailed, extends_target, resolve
from bot.config.files import check_file
from bot.config.loader import fetch_file
from bot.config.model import RepoConfig
from bot.config.schema import EXTENDS, in_file_order, validate
from bot.config.tree import parse_document

GLOB_CHARACTERS = frozenset("*?[")


@dataclass
class CheckReport:
    errors: list[ConfigError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings, and what was not checked


def warnings(config: RepoConfig, source: str) -> list[str]:
    """Valid settings that cannot do what they say."""
    found = []
    for group in config.groups:
        where = f"{source}: groups.{group.name}"
        named = [job for job in group.jobs if not GLOB_CHARACTERS & set(job)]
        if len(named) == len(group.jobs) and group.min_failing_jobs > len(named):
            found.append(
                f"{where}.min_failing_jobs: {group.min_failing_jobs} is more than the"
                f" {len(named)} job(s) the group names: this group can never break"
            )
    return found


async def check_path(path: Path, *, repo: str | None = None, gh: Any | None = None) -> CheckReport:
    """Check `path`; `repo` ("owner/name") is where the file lives, for a bare `_extends:
    repo`; `gh` reads the bases (None: they are not read)."""
    report = CheckReport(errors=check_file(path))
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        return report  # check_file said why
    tree, _ = parse_document(data, str(path))
    spec = tree.entries.get(EXTENDS) if tree is not None else None
    if tree is None or (report.errors and spec is None):
        return report
    if spec is None:
        report.notes += warnings(validate(tree), str(path))  # valid: check_file found nothing
        return report
    base = extends_target(spec.value, (repo or "").partition("/")[0], str(path))
    if isinstance(base, ConfigError):
        return report
    why_not = _cannot_follow(base, repo, gh)
    if why_not is None:
        top = FileRef(repo or base.repo, str(path))
        try:
            # Errors name a base by repository and path; this file by its path.
            home = repo or "-"
            resolved = await resolve(top, data, lambda ref: fetch_file(gh, ref), home)
        except ReadFailed as exc:
            why_not = f"GitHub did not answer ({exc})"
    if why_not is not None:
        report.notes.append(
            f"{path}: _extends: {base} was not read ({why_not}); this file was checked on its"
            " own, so what it inherits is not checked"
        )
        return report
    report.errors = list(resolved.errors)
    if resolved.tree is not None:
        try:
            config = validate(resolved.tree, partial=not resolved.complete)
        except ConfigInvalid as exc:
            report.errors += exc.errors
        else:
            report.notes += warnings(config, f"{path} with {base}")
    report.errors = in_file_order(report.errors)
    return report


def _cannot_follow(base: FileRef, repo: str | None, gh: Any | None) -> str | None:
    if gh is None:
        return "no GitHub to read it from"
    if not base.owner:
        return "a bare repository name needs --repo OWNER/NAME to know its owner"
    return None
