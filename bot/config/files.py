"""Configurations from local files: `check-config`, `replay --config`, the embedded default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.extends import extends_target
from bot.config.model import RepoConfig
from bot.config.schema import EXTENDS, in_file_order, validate
from bot.config.tree import MAX_BYTES, parse_document, without

DEFAULT_RESOURCE = "defaults/trunkwatch.yml"


def load_text(data: str | bytes, source: str) -> RepoConfig:
    """A configuration from text naming no `_extends`; raises ConfigInvalid."""
    config, errors = _check(data, source, follow_extends=False)
    if errors or config is None:
        raise ConfigInvalid(errors)
    return config


def load_file(path: str | Path) -> RepoConfig:
    """A configuration file on disk; raises ConfigInvalid. `_extends` cannot be followed
    from a local file, so a file that uses it is refused here."""
    return load_text(_read(path), str(path))


def check_file(path: str | Path) -> list[ConfigError]:
    """Every problem of a configuration file on disk (empty when it is valid).

    A file with `_extends` is checked as a part: its keys are validated, but a `groups:` it
    may inherit is not required.
    """
    try:
        data = _read(path)
    except ConfigInvalid as exc:
        return exc.errors
    return _check(data, str(path), follow_extends=True)[1]


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


def _check(
    data: str | bytes, source: str, *, follow_extends: bool
) -> tuple[RepoConfig | None, list[ConfigError]]:
    tree, errors = parse_document(data, source)
    if tree is None:
        return None, errors
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
    config = None
    try:
        config = validate(tree, partial=partial)
    except ConfigInvalid as exc:
        errors.extend(exc.errors)
    return config, in_file_order(errors)
