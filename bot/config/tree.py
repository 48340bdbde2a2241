"""Reading a configuration file into a tree that remembers where each value came from.

PyYAML composes the node tree (which carries line marks) with SafeLoader semantics; the
tree is then turned into plain `Map`/`Seq`/`Scalar` values that name their file and line,
so that files from several repositories can be merged (`_extends`) and every error still
points at the line that caused it. Anchors and aliases are refused outright: a config file
has no need for them, and refusing them is the simplest defence against documents that
expand without bound ("billion laughs"). YAML tags other than the plain ones refuse the file
too: a value read in some other way than it was written is not one to act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, Event, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.config.errors import ConfigError

MAX_BYTES = 64 * 1024
SEQ_TAG, MAP_TAG = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
MAX_DEPTH = 32  # the schema is four levels deep; this only stops pathological nesting


@dataclass(frozen=True, slots=True)
class Where:
    source: str  # the file, as errors name it
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class Scalar:
    value: object  # str, int, float, bool, None, or a date/timestamp YAML recognised
    where: Where


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Value, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    key_where: Where
    value: Value


@dataclass(frozen=True, slots=True)
class Map:
    entries: dict[str, Entry]  # in file order
    where: Where

    def get(self, key: str) -> Value | None:
        entry = self.entries.get(key)
        return entry.value if entry else None


Value = Scalar | Seq | Map


class _Refused(Exception):
    def __init__(self, line: int, message: str, key: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.key = key


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and bounds nesting, before composing."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        if isinstance(event, AliasEvent) or (
            isinstance(event, NodeEvent) and event.anchor is not None
        ):
            raise _Refused(
                _line(event.start_mark),
                "YAML anchors and aliases (&name, *name) are not allowed in this file",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(_line(event.start_mark), "nested too deeply")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_document(data: str | bytes, source: str) -> tuple[Map | None, list[ConfigError]]:
    """The file's top-level mapping (None when the file cannot be read), and the problems
    found.

    Problems that leave a usable mapping (a duplicate key, a key that is not a string: the
    entry is skipped) come back alongside it, so that validation can report its own errors
    as well.
    """
    if len(data) > MAX_BYTES:
        return None, [_whole(source, f"the file is {len(data)} bytes; the limit is {MAX_BYTES}")]
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [_whole(source, f"not UTF-8 text (byte {exc.start})")]
    if len(data.encode("utf-8")) > MAX_BYTES:
        return None, [_whole(source, f"the file is larger than {MAX_BYTES} bytes")]
    loader = _Loader(data)
    try:
        node = loader.get_single_node()
    except _Refused as exc:
        return None, [ConfigError(source, exc.line, "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        return None, [_yaml_error(source, exc)]
    except yaml.YAMLError as exc:
        return None, [_whole(source, f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [_whole(source, "the file is empty; expected a mapping with `groups:`")]
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        return None, [
            ConfigError(
                source,
                node.start_mark.line + 1,
                "",
                f"expected a mapping of settings (key: value) at the top, got {kind}",
            )
        ]
    errors: list[ConfigError] = []
    try:
        tree = _convert(node, source, loader, "", errors)
    except _Refused as exc:
        return None, [ConfigError(source, exc.line, exc.key, exc.message)]
    assert isinstance(tree, Map)
    return tree, errors


def _convert(
    node: Node, source: str, loader: _Loader, path: str, errors: list[ConfigError]
) -> Value:
    where = Where(source, node.start_mark.line + 1)
    unsupported = f"unsupported YAML tag {node.tag!r} (plain values only)"
    if isinstance(node, ScalarNode):
        try:
            return Scalar(loader.construct_object(node), where)
        except yaml.YAMLError:
            raise _Refused(where.line, unsupported, path) from None
    if node.tag not in (SEQ_TAG, MAP_TAG):
        raise _Refused(where.line, unsupported, path)
    if isinstance(node, SequenceNode):
        items = tuple(
            _convert(item, source, loader, f"{path}[{index}]", errors)
            for index, item in enumerate(node.value)
        )
        return Seq(items, where)
    assert isinstance(node, MappingNode)
    entries: dict[str, Entry] = {}
    for key_node, value_node in node.value:
        key_where = Where(source, key_node.start_mark.line + 1)
        if not isinstance(key_node, ScalarNode) or not key_node.value:
            errors.append(
                ConfigError(
                    source, key_where.line, path, "keys must be plain names", "the entry is ignored"
                )
            )
            continue
        key = str(key_node.value)
        key_path = f"{path}.{key}" if path else key
        if key in entries:
            first = entries[key].key_where.line
            errors.append(
                ConfigError(
                    source,
                    key_where.line,
                    key_path,
                    f"duplicate key (first on line {first})",
                    "the first one applies",
                )
            )
            continue
        value = _convert(value_node, source, loader, key_path, errors)
        entries[key] = Entry(key, key_where, value)
    return Map(entries, where)


def merge(base: Map, override: Map) -> Map:
    """`override` on top of `base`: mappings merge key by key, anything else is replaced."""
    entries = dict(base.entries)
    for key, entry in override.entries.items():
        below = entries.get(key)
        if below is not None and isinstance(below.value, Map) and isinstance(entry.value, Map):
            entry = Entry(key, entry.key_where, merge(below.value, entry.value))
        entries[key] = entry
    return Map(entries, override.where)


def without(tree: Map, key: str) -> Map:
    """The mapping without `key`."""
    return Map({k: e for k, e in tree.entries.items() if k != key}, tree.where)


def _line(mark: object) -> int:
    """1-based line of a PyYAML mark (pure-Python and libyaml marks alike); 0 when unknown."""
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else 0


def _whole(source: str, message: str) -> ConfigError:
    return ConfigError(source, 0, "", message)


def _yaml_error(source: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    line = _line(exc.problem_mark or exc.context_mark)
    if isinstance(exc, ComposerError) and "single document" in str(exc.context):
        return ConfigError(source, line, "", "expected one YAML document, found several (---)")
    problem = exc.problem or exc.context or "syntax error"
    return ConfigError(source, line, "", f"not valid YAML: {problem}")
