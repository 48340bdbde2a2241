"""Reading one value out of a configuration tree: each reader returns the value, or records
an error naming the key path and the line (and returns None), so that one pass over a file
reports everything that is wrong with it."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from bot.config.errors import ConfigError
from bot.config.model import SHA_PLACEHOLDER, TAGS_PREFIX
from bot.config.tree import Map, Scalar, Seq, Value, Where

T = TypeVar("T")

PRIORITY = re.compile(r"P[0-4]")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
TEAM = re.compile(rf"@({LOGIN.pattern})/[A-Za-z0-9][A-Za-z0-9_.-]*")
DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
BRANCH_BAD = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{|^/|/$|^-")
# git check-ref-format: what a ref name may not contain (controls, space, ~^:?*[\, "..",
# "@{", "//"), begin or end with ("/"), or end with (".", ".lock" for any component).
REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|(?:^|/)\.|\.lock(?:/|$)")
LABEL_MAX = 50  # GitHub's limit on a label's name


class Checker:
    """Reads values out of the tree, recording an error for each one that is wrong."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []

    def error(self, where: Where, key: str, message: str, ignored: str = "") -> None:
        self.errors.append(ConfigError(where.source, where.line, key, message, ignored))

    def void(self, since: int, ignored: str, *, override: bool = False) -> bool:
        """Say what was set aside for the errors recorded since `since`; whether any were."""
        for index in range(since, len(self.errors)):
            error = self.errors[index]
            if override or not error.ignored:
                self.errors[index] = replace(error, ignored=ignored)
        return len(self.errors) > since

    def mapping(self, value: Value | None, key: str, allowed: tuple[str, ...]) -> Map | None:
        """A mapping with only `allowed` keys (null counts as empty); None when it is wrong."""
        if value is None or (isinstance(value, Scalar) and value.value is None):
            return None
        if not isinstance(value, Map):
            ignored = f"every {key} setting keeps its default" if key else ""
            self.error(value.where, key, f"expected a mapping, got {describe(value)}", ignored)
            return None
        for name, entry in value.entries.items():
            if name not in allowed:
                self.unknown(entry.key_where, f"{key}.{name}" if key else name, name, allowed)
        return value

    def unknown(self, where: Where, path: str, name: str, allowed: tuple[str, ...]) -> None:
        offered = [k for k in allowed if not k.startswith("_")]  # `_extends` is not a typo fix
        close = difflib.get_close_matches(name, offered, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.warnings.append(ConfigError(where.source, where.line, path, f"unknown key{hint}"))

    def field(
        self,
        section: Map | None,
        key: str,
        path: str,
        read: Callable[[Value, str], T | None],
        default: T,
    ) -> T:
        """`section[key]` read by `read` (which returns None after recording an error);
        `default` when it is absent or wrong."""
        value = section.get(key) if section is not None else None
        if value is None:
            return default
        since = len(self.errors)
        result = read(value, f"{path}.{key}" if path else key)
        if result is None:
            self.void(since, f"the default applies: {shown(default)}")
            return default
        return result

    def integer(self, value: Value, key: str, minimum: int = 1) -> int | None:
        kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        if not isinstance(value, Scalar) or type(value.value) is not int:
            self.error(value.where, key, f"expected {kind}, got {describe(value)}")
            return None
        if value.value < minimum:
            self.error(value.where, key, f"expected {kind}, got {value.value}")
            return None
        return value.value

    def boolean(self, value: Value, key: str) -> bool | None:
        if not isinstance(value, Scalar) or not isinstance(value.value, bool):
            self.error(value.where, key, f"expected true or false, got {describe(value)}")
            return None
        return value.value

    def string(self, value: Value, key: str) -> str | None:
        if not isinstance(value, Scalar) or not isinstance(value.value, str) or not value.value:
            self.error(value.where, key, f"expected a non-empty string, got {describe(value)}")
            return None
        return value.value

    def strings(
        self, value: Value, key: str, item: Callable[[Value, str], str | None], nonempty: bool
    ) -> tuple[str, ...] | None:
        if not isinstance(value, Seq):
            hint = f" (write [{json.dumps(value.value)}])" if isinstance(value, Scalar) else ""
            self.error(value.where, key, f"expected a list, got {describe(value)}{hint}")
            return None
        if nonempty and not value.items:
            self.error(value.where, key, "expected at least one entry")
            return None
        results = [item(element, f"{key}[{index}]") for index, element in enumerate(value.items)]
        if any(result is None for result in results):
            return None
        return tuple(result for result in results if result is not None)

    def glob(self, value: Value, key: str) -> str | None:
        pattern = self.string(value, key)
        if pattern is not None and (problem := glob_problem(pattern)):
            self.error(value.where, key, f"bad glob {pattern!r}: {problem}")
            return None
        return pattern

    def label(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is not None and len(text) > LABEL_MAX:
            self.error(value.where, key, f"a label is at most {LABEL_MAX} characters")
            return None
        return text

    def owner(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is None:
            return None
        if TEAM.fullmatch(text):
            return text
        login = text.removeprefix("@")
        if LOGIN.fullmatch(login):
            return login
        self.error(value.where, key, f"expected a GitHub login or @org/team, got {text!r}")
        return None

    def branch(self, value: Value, key: str) -> str | None:
        name = self.string(value, key)
        if name is not None and BRANCH_BAD.search(name):
            self.error(value.where, key, f"not a branch name: {name!r}")
            return None
        return name

    def priority(self, value: Value, key: str) -> str | None:
        text = value.value if isinstance(value, Scalar) else None
        if not isinstance(text, str) or not PRIORITY.fullmatch(text):
            self.error(
                value.where, key, f"expected one of P0, P1, P2, P3, P4, got {describe(value)}"
            )
            return None
        return text

    def duration(self, value: Value, key: str) -> timedelta | None:
        text = value.value if isinstance(value, Scalar) else None
        parsed = parse_duration(text) if isinstance(text, str) else None
        if parsed is None:
            self.error(
                value.where,
                key,
                f"expected a duration such as 30m, 2h, 1d, 1w or 1h30m, got {describe(value)}",
            )
        return parsed

    def choice(self, value: Value, key: str, choices: tuple[T, ...]) -> T | None:
        """One of `choices`; YAML 1.1 reads a bare `off` as false, which counts as "off"."""
        raw = value.value if isinstance(value, Scalar) else None
        text = "off" if raw is False else raw
        for option in choices:
            if option == text:
                return option
        expected = ", ".join(str(option) for option in choices)
        self.error(value.where, key, f"expected one of {expected}, got {describe(value)}")
        return None

    def tag(self, value: Value, key: str) -> str | None:
        """A tag name containing `{sha}` once; "" when bisection is off (empty, off, null)."""
        raw = value.value if isinstance(value, Scalar) else value
        if raw is None or raw is False or raw == "":
            return ""
        if not isinstance(raw, str):
            got = describe(value)
            self.error(value.where, key, f"expected a tag name with {{sha}}, or off, got {got}")
            return None
        problem = tag_problem(raw)
        if problem:
            self.error(value.where, key, f"{problem}, got {raw!r}")
            return None
        return raw

    def prefix(self, value: Value, key: str) -> str | None:
        text = self.string(value, key)
        if text is not None and not re.fullmatch(r"/\S+", text):
            self.error(value.where, key, f"expected a word starting with '/', got {text!r}")
            return None
        return text


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `2h`, `1d`, `1w`, or units combined largest first (`1d12h`, `1h30m`)."""
    match = DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    return duration if duration > timedelta(0) else None


def glob_problem(pattern: str) -> str | None:
    """What is wrong with an fnmatch pattern, read the way fnmatch reads `[...]` classes."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                return f"'[' at position {i + 1} is never closed"
            i = j
        i += 1
    return None


def tag_problem(name: str) -> str | None:
    """What makes `name` unusable as a bisection tag pattern; None when it is fine."""
    if name.count(SHA_PLACEHOLDER) != 1:
        return f"must contain {SHA_PLACEHOLDER} exactly once"
    if name.startswith(TAGS_PREFIX) or name.startswith("refs/"):
        return "a tag name, without refs/tags/"
    if name == SHA_PLACEHOLDER:
        return None
    if REF_BAD.search(name.replace(SHA_PLACEHOLDER, "0" * 40)) or name == "@":
        return "not a valid git tag name"
    return None


def shown(value: object) -> str:
    """A setting's value as it would be written in the file."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_duration(duration: timedelta) -> str:
    """`parse_duration`'s inverse: 1h30m, 2d, 1w."""
    minutes = int(duration.total_seconds()) // 60
    parts = []
    for unit, size in (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60), ("m", 1)):
        if minutes >= size:
            parts.append(f"{minutes // size}{unit}")
            minutes %= size
    return "".join(parts) or "0m"


def describe(value: Value | None) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Seq):
        return "a list"
    if isinstance(value, Map):
        return "a mapping"
    raw = value.value
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, str):
        return repr(raw)
    return repr(str(raw))
