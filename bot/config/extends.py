"""`_extends`: a file that inherits from another repository's file, merged before validation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config.errors import ConfigError
from bot.config.model import CONFIG_PATH
from bot.config.schema import EXTENDS, EXTENDS_SPEC
from bot.config.tree import Map, Scalar, Value, merge, parse_document, without

MAX_FILES = 3  # the file itself and two levels of bases


@dataclass(frozen=True, slots=True)
class FileRef:
    """A configuration file in a repository; `ref` None means its default branch."""

    repo: str  # "owner/name"
    path: str = CONFIG_PATH
    ref: str | None = None

    def __str__(self) -> str:
        return f"{self.repo}:{self.path}"

    @property
    def owner(self) -> str:
        return self.repo.partition("/")[0]


class ReadFailed(Exception):
    """GitHub could not be asked for a file (5xx, rate limit, network): try again later."""


class FileUnusable(Exception):
    """GitHub answered, but the file cannot be used (no access, not a file, too large)."""


# A file's contents; None when it does not exist. Raises ReadFailed or FileUnusable.
Fetch = Callable[[FileRef], Awaitable[str | bytes | None]]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The merged tree (None when a file is unreadable), its problems, and the files read."""

    tree: Map | None
    errors: tuple[ConfigError, ...]
    files: tuple[FileRef, ...]
    complete: bool = True  # False when the chain was cut short: the tree lacks a base


def extends_target(value: Value, owner: str, label: str) -> FileRef | ConfigError:
    """`repo`, `owner/repo` or `owner/repo:path`; a bare `repo` belongs to `owner`."""
    text = value.value if isinstance(value, Scalar) else None
    match = EXTENDS_SPEC.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return ConfigError(
            label,
            value.where.line,
            EXTENDS,
            f"expected 'repo', 'owner/repo' or 'owner/repo:path', got {text!r}"
            if isinstance(text, str)
            else "expected 'repo', 'owner/repo' or 'owner/repo:path'",
        )
    base_owner, name, path = match.groups()
    return FileRef(f"{base_owner or owner}/{name}", path or CONFIG_PATH)


def label_for(ref: FileRef, home: str) -> str:
    """How errors name a file: the bare path in the repository being configured."""
    return ref.path if ref.repo.lower() == home.lower() else str(ref)


async def resolve(top: FileRef, data: str | bytes, fetch: Fetch, home: str) -> Resolved:
    """Parse `data` (the text of `top`), follow its `_extends` chain, merge (the extending
    file wins), and drop `_extends`. Cycles, over-long chains, missing or unusable bases are
    errors; ReadFailed (GitHub unreachable) propagates, as the caller retries later."""
    chain: list[Map] = []
    complete = False
    errors: list[ConfigError] = []
    files = [top]
    ref = top
    while True:
        tree, problems = parse_document(data, label_for(ref, home))
        errors.extend(problems)
        if tree is None:
            return Resolved(None, tuple(errors), tuple(files), False)
        chain.append(tree)
        spec = tree.entries.get(EXTENDS)
        if spec is None:
            complete = True
            break
        where = spec.key_where
        base = extends_target(spec.value, ref.owner, where.source)
        if isinstance(base, ConfigError):
            errors.append(base)
            break
        seen = [str(file).lower() for file in files]
        if str(base).lower() in seen:
            cycle = " → ".join([*map(str, files[seen.index(str(base).lower()) :]), str(base)])
            errors.append(ConfigError(where.source, where.line, EXTENDS, f"cycle: {cycle}"))
            break
        if len(files) >= MAX_FILES:
            message = f"too many levels of _extends (at most {MAX_FILES - 1}): {base} not read"
            errors.append(ConfigError(where.source, where.line, EXTENDS, message))
            break
        files.append(base)
        try:
            fetched = await fetch(base)
        except FileUnusable as exc:
            errors.append(
                ConfigError(where.source, where.line, EXTENDS, f"cannot read {base}: {exc}")
            )
            break
        if fetched is None:
            errors.append(ConfigError(where.source, where.line, EXTENDS, f"{base} does not exist"))
            break
        ref, data = base, fetched
    merged = without(chain[-1], EXTENDS)
    for tree in reversed(chain[:-1]):
        merged = merge(merged, without(tree, EXTENDS))
    return Resolved(merged, tuple(errors), tuple(files), complete)
