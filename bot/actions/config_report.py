"""Telling the repository what is wrong with its `.github/trunkwatch.yml`, once, and when fixed.

While a read of the configuration has problems, one open issue labelled `trunkwatch: config
error` lists them (file:line, key, message): the wrong values and what each one voided (a
group, or a setting that keeps its default), the unknown keys that were skipped, or why the
file cannot be read at all and what is in force instead. A read with other problems edits it
in place. A clean read (or no file at all) closes it with a comment. The issue is found by the store
(namespace `config_report`, key: the repository) and, when the store has lost it, by its
hidden marker among the open issues carrying the label, so repeating a report is harmless.
In the steady state (nothing changed since the last report) no call is made to GitHub.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Protocol

from gidgethub.abc import GitHubAPI

from bot.actions import issue_calls
from bot.actions import markdown as md
from bot.actions.book import RecordBook
from bot.github.rest import Issue
from bot.records import ConfigReport

log = logging.getLogger(__name__)

CONFIG_PATH = ".github/trunkwatch.yml"  # the file reported on (bot.config.CONFIG_PATH)


class Problem(Protocol):
    """One problem of the file (`bot.config.ConfigError`); its str() is its one-line form."""

    @property
    def path(self) -> str: ...
    @property
    def line(self) -> int: ...  # 0: the whole file
    @property
    def key(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def ignored(self) -> str: ...  # what was set aside because of it


class Group(Protocol):
    """A group the configuration watches (`bot.config.GroupConfig`)."""

    @property
    def name(self) -> str: ...


class InForce(Protocol):
    """The configuration in force after a read (`bot.config.RepoConfig`)."""

    @property
    def groups(self) -> Sequence[Group]: ...


class ConfigRead(Protocol):
    """A read of the configuration (`bot.config.ConfigResult`): its problems, and what is in
    force after it (`config`: None when nothing is; `fallback`: the last good one, read from
    `source`)."""

    @property
    def errors(self) -> Sequence[Problem]: ...
    @property
    def warnings(self) -> Sequence[Problem]: ...
    @property
    def config(self) -> InForce | None: ...
    @property
    def fallback(self) -> bool: ...
    @property
    def source(self) -> str | None: ...


REPORTS = "config_report"  # before typed records (carried over at start)
LABEL = "trunkwatch: config error"
MARKER_KIND = "config_error"
TITLE = f"trunkwatch: {CONFIG_PATH} has errors"
TITLE_WARNINGS = f"trunkwatch: {CONFIG_PATH} has unknown keys"
ERRORS_SHOWN = 50
OPEN, CLOSED = "open", "closed"


def _digest(problems: Sequence[Problem]) -> str:
    text = "\n".join(str(problem) for problem in problems)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def error_line(error: Problem) -> str:
    where = f"{error.path}:{error.line}" if error.line else error.path
    key = f" {md.escape(error.key, 120)}:" if error.key else ""
    ignored = f" — {md.escape(error.ignored, 200)}" if error.ignored else ""
    return f"- **{md.escape(where, 200)}**{key} {md.escape(error.message, 300)}{ignored}"


def title_for(result: ConfigRead) -> str:
    return TITLE if result.errors else TITLE_WARNINGS


def _listed(problems: Sequence[Problem], room: int) -> list[str]:
    lines = [error_line(problem) for problem in problems[: max(room, 0)]]
    if len(problems) > room:
        lines.append(f"- … and {len(problems) - max(room, 0)} more.")
    return lines


def _in_force(result: ConfigRead) -> str:
    if result.config is None:
        return "trunkwatch watches nothing in this repository until the file can be read."
    if result.fallback:
        return (
            "trunkwatch keeps using the last valid configuration"
            f" (from {md.escape(result.source or '', 200)}) until the file is fixed."
        )
    watched = [f"`{md.escape(group.name, 100)}`" for group in result.config.groups]
    if not watched:
        return (
            "The rest of the file applies, but no group is left to watch:"
            " trunkwatch watches nothing in this repository until the file is fixed."
        )
    return f"The rest of the file applies: trunkwatch watches {', '.join(watched)}."


def report_body(repo: str, result: ConfigRead) -> str:
    errors, warnings = result.errors, result.warnings
    if result.config is None or result.fallback:
        summary = f"The newest `{CONFIG_PATH}` cannot be used: {len(errors)} error(s)."
    else:
        counts = [f"{len(errors)} wrong value(s)"] if errors else []
        counts += [f"{len(warnings)} unknown key(s)"] if warnings else []
        summary = f"The newest `{CONFIG_PATH}` applies in part: {' and '.join(counts)}."
    lines = [md.marker(MARKER_KIND, repo=repo), f"{summary} {_in_force(result)}"]
    if errors:
        heading = (
            "**Why it cannot be read:**"
            if result.config is None or result.fallback
            else "**Ignored, wrong values** (each voids its group, or its setting keeps the"
            " default):"
        )
        lines += ["", heading, *_listed(errors, ERRORS_SHOWN)]
    if warnings:
        lines += [
            "",
            "**Unknown keys**, skipped (perhaps from a newer trunkwatch, or a typo):",
            *_listed(warnings, ERRORS_SHOWN - len(errors)),
        ]
    return "\n".join(
        [
            *lines,
            "",
            "`trunkwatch check-config .github/trunkwatch.yml` prints the same list locally."
            " This issue closes by itself once a file without problems is pushed to the"
            " default branch.",
        ]
    )


async def _find_open(gh: GitHubAPI, repo: str) -> Issue | None:
    """The open report issue on GitHub, by its label and marker (only the App's own)."""
    listing = gh.getiter(
        issue_calls.ISSUES_PATH + "{?state,labels,per_page}",
        issue_calls.repo_vars(repo, state="open", labels=LABEL, per_page=100),
    )
    item: Issue
    async for item in listing:
        user = item.get("user")
        mine = user is not None and user.get("type") == "Bot"
        found = md.find_marker(item.get("body"), MARKER_KIND, repo=repo)
        if mine and found is not None and "pull_request" not in item:
            return item.copy()
    return None


async def _report(gh: GitHubAPI, repo: str, result: ConfigRead, record: ConfigReport | None) -> int:
    """File or edit the report; returns its issue number."""
    body, title = report_body(repo, result), title_for(result)
    number = record.number if record is not None and record.state == OPEN else 0
    if number:
        edited = await issue_calls.edit(gh, repo, number, title=title, body=body)
        if edited is not None and edited.get("state") == OPEN:
            return number
    found = await _find_open(gh, repo)
    if found is not None:
        await issue_calls.edit(gh, repo, int(found["number"]), title=title, body=body)
        return int(found["number"])
    await issue_calls.ensure_label(gh, repo, LABEL, set())
    created = await issue_calls.create(gh, repo, title, body, [LABEL])
    log.info("config error reported", extra={"repo": repo, "issue": created["number"]})
    return int(created["number"])


def fixed_comment(result: ConfigRead) -> str:
    if result.config is not None:  # a file without problems, rather than none
        return f"✅ `{CONFIG_PATH}` is valid again; trunkwatch uses all of it from now on."
    return f"✅ `{CONFIG_PATH}` is gone, and with it the errors; trunkwatch watches nothing here."


async def _close(gh: GitHubAPI, repo: str, number: int, text: str) -> None:
    url_vars = issue_calls.repo_vars(repo, number=number)
    await gh.post(issue_calls.COMMENTS_PATH, url_vars, data={"body": text})
    await issue_calls.edit(gh, repo, number, state="closed", state_reason="completed")
    log.info("config error report closed", extra={"repo": repo, "issue": number})


async def report_config(gh: GitHubAPI, records: RecordBook, repo: str, result: ConfigRead) -> None:
    """Bring the repository's config-error issue in line with a fresh read of its
    configuration: open or edit it while the read has errors or warnings, close it once it
    has none."""
    key = repo.lower()
    record = await records.get(ConfigReport, key)
    problems = (*result.errors, *result.warnings)
    if problems:
        digest = _digest(problems)
        if record is not None and record.state == OPEN and record.digest == digest:
            return
        number = await _report(gh, repo, result, record)
        await records.put(ConfigReport(key, OPEN, digest, number))
        return
    if record is not None and record.state == CLOSED:
        return
    number = record.number if record is not None and record.state == OPEN else 0
    if not number:  # nothing known: one look on GitHub, then never again until an error
        found = await _find_open(gh, repo)
        number = int(found["number"]) if found is not None else 0
    if number:
        current = await issue_calls.get(gh, repo, number)
        if current is not None and current.get("state") == OPEN:
            await _close(gh, repo, number, fixed_comment(result))
    await records.put(ConfigReport(key, CLOSED, "", number))
