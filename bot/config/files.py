"""Configurations from local files: `check-config`, `replay --config`, the embedded default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.extends import extends_target
from bot.config.model import RepoConfig
from bot.config.schema import EXTENDS, Checked, check_tree, in_file_order
from bot.config.tree import MAX_BYTES, parse_document, without

DEFAULT_RESOURCE = "defaults/trunkwatch.yml"


def read_text(data: str | bytes, source: str) -> Checked:
    """A configuration from text, as far as it can be read (never raises). A file naming
    `_extends` cannot be read whole here: its `config` is None."""
    return _check(data, source, follow_extends=False)


def load_text(data: str | bytes, source: str) -> RepoConfig:
    """A configuration from text naming no `_extends`, with nothing wrong or unknown in it;
    raises ConfigInvalid listing every problem otherwise."""
    return _strict(read_text(data, source))


def read_file(path: str | Path) -> Checked:
    """A configuration file on disk, as far as it can be read (never raises)."""
    try:
        data = _read(path)
    except ConfigInvalid as exc:
        return Checked(None, tuple(exc.errors))
    return read_text(data, str(path))


def load_file(path: str | Path) -> RepoConfig:
    """A configuration file on disk; raises ConfigInvalid on any problem. `_extends` cannot
    be followed from a local file, so a file that uses it is refused here."""
    return _strict(read_file(path))


def check_file(path: str | Path) -> Checked:
    """Every problem of a configuration file on disk, and what of it applies.

    A file with `_extends` is checked as a part: its keys are validated, but a `groups:` it
    may inherit is not required.
    """
    try:
        data = _read(path)
    except ConfigInvalid as exc:
        return Checked(None, tuple(exc.errors))
    return _check(data, str(path), follow_extends=True)


def load_default() -> RepoConfig:
    """The embedded default configuration (`trunkwatch demo`, `replay` without --config)."""
    text = resources.files("bot").joinpath(DEFAULT_RESOURCE).read_text(encoding="utf-8")
    return load_text(text, f"<trunkwatch>/{DEFAULT_RESOURCE}")


def _read(path: str | Path) -> bytes:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_BYTES:
            message = f"the file is {file.stat().st_size} bytes; the limit is {MAX_BYTES}"
            raise ConfigInvalid([ConfigError(str(path), 0, "", message)])
        return file.read_bytes()
    except OSError as exc:
        raise ConfigInvalid(
            [ConfigError(str(path), 0, "", f"cannot read: {exc.strerror}")]
        ) from None


def _strict(checked: Checked) -> RepoConfig:
    if checked.problems or checked.config is None:
        raise ConfigInvalid(checked.problems)
    return checked.config


def _check(data: str | bytes, source: str, *, follow_extends: bool) -> Checked:
    tree, errors = parse_document(data, source)
    if tree is None:
        return Checked(None, tuple(errors))
    spec = tree.entries.get(EXTENDS)
    partial = spec is not None and follow_extends
    if spec is not None:
        target = extends_target(spec.value, "owner", source)
        if isinstance(target, ConfigError):
            errors.append(target)
        elif not follow_extends:
            message = "cannot be followed when the file is read locally; inline the base file"
            errors.append(ConfigError(source, spec.key_where.line, EXTENDS, message))
        tree = without(tree, EXTENDS)
    checked = check_tree(tree, partial=partial)
    whole = spec is None or follow_extends  # without its base, the file is not the config
    return Checked(
        checked.config if whole else None,
        tuple(in_file_order([*errors, *checked.errors])),
        checked.warnings,
    )
