"""`trunkwatch check-config`: a file on disk checked as the App would read it.

A file that `_extends` another is merged with its base when the base can be read (through
`GITHUB_API_URL`, with `GITHUB_TOKEN` when set) and checked whole; when it cannot, the file is
checked on its own and the report says so. Errors are wrong values (each voids its group or
its setting, as the App would); warnings are unknown keys (skipped, the rest applies). Beyond
those, the report notes settings that are valid but cannot work: `min_failing_jobs` larger
than the jobs a group names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from gidgethub.abc import GitHubAPI

from bot.config.errors import ConfigError
from bot.config.extends import FileRef, ReadFailed, extends_target, resolve
from bot.config.files import check_file
from bot.config.loader import fetch_file
from bot.config.model import RepoConfig
from bot.config.schema import EXTENDS, check_tree, in_file_order
from bot.config.tree import parse_document

GLOB_CHARACTERS = frozenset("*?[")


@dataclass
class CheckReport:
    errors: list[ConfigError] = field(default_factory=list)  # wrong values
    warnings: list[ConfigError] = field(default_factory=list)  # unknown keys
    notes: list[str] = field(default_factory=list)  # settings that cannot work, what was not read


def cannot_work(config: RepoConfig, source: str) -> list[str]:
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


async def check_path(
    path: Path, *, repo: str | None = None, gh: GitHubAPI | None = None
) -> CheckReport:
    """Check `path`; `repo` ("owner/name") is where the file lives, for a bare `_extends:
    repo`; `gh` reads the bases (None: they are not read)."""
    checked = check_file(path)
    report = CheckReport(list(checked.errors), list(checked.warnings))
    if checked.config is None:
        return report  # the file cannot be read: check_file said why
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:  # gone since: what check_file read stands
        return report
    tree, _ = parse_document(data, str(path))
    spec = tree.entries.get(EXTENDS) if tree is not None else None
    if spec is None:
        report.notes += cannot_work(checked.config, str(path))
        return report
    base = extends_target(spec.value, (repo or "").partition("/")[0], str(path))
    if isinstance(base, ConfigError):
        return report
    why_not = _cannot_follow(base, repo, gh)
    if why_not is None:
        assert gh is not None  # else `_cannot_follow` says why not
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
    report.errors, report.warnings = list(resolved.errors), []
    if resolved.tree is not None:
        whole = check_tree(resolved.tree, partial=not resolved.complete)
        report.errors += whole.errors
        report.warnings += whole.warnings
        if whole.config is not None:
            report.notes += cannot_work(whole.config, f"{path} with {base}")
    report.errors = in_file_order(report.errors)
    return report


def _cannot_follow(base: FileRef, repo: str | None, gh: GitHubAPI | None) -> str | None:
    if gh is None:
        return "no GitHub to read it from"
    if not base.owner:
        return "a bare repository name needs --repo OWNER/NAME to know its owner"
    return None
