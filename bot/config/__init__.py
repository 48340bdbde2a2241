"""The repository's `.github/trunkwatch.yml`: schema, defaults, `_extends`, org fallback,
validation with line numbers, and the per-repository cache. See docs/configuration.md."""

from bot.config.errors import ConfigError, ConfigInvalid
from bot.config.extends import FileRef, FileUnusable, ReadFailed
from bot.config.files import (
    check_file,
    load_default,
    load_file,
    load_text,
    read_file,
    read_text,
)
from bot.config.loader import (
    ConfigLoader,
    ConfigResult,
    LoadedConfig,
    NoConfig,
    fetch_file,
    push_touches_config,
)
from bot.config.model import (
    CONFIG_PATH,
    AlertsConfig,
    CommandsConfig,
    ConfirmMode,
    CulpritConfig,
    GroupConfig,
    RepoConfig,
    RevertMode,
    SuspectsConfig,
    is_team,
)
from bot.config.schema import Checked, check_tree, validate
from bot.config.tree import MAX_BYTES, merge, parse_document
from bot.config.values import parse_duration

__all__ = [
    "CONFIG_PATH",
    "MAX_BYTES",
    "AlertsConfig",
    "Checked",
    "CommandsConfig",
    "ConfigError",
    "ConfigInvalid",
    "ConfigLoader",
    "ConfigResult",
    "ConfirmMode",
    "CulpritConfig",
    "FileRef",
    "FileUnusable",
    "GroupConfig",
    "LoadedConfig",
    "NoConfig",
    "ReadFailed",
    "RepoConfig",
    "RevertMode",
    "SuspectsConfig",
    "check_file",
    "check_tree",
    "fetch_file",
    "is_team",
    "load_default",
    "load_file",
    "load_text",
    "merge",
    "parse_document",
    "parse_duration",
    "push_touches_config",
    "read_file",
    "read_text",
    "validate",
]
