"""What a webhook body must be before it is stored: checked at the edge, once.

The inbox keeps the raw bytes as they came, but only bytes that every later reader can take:
strict UTF-8 JSON, one object, no duplicate keys, no NaN or Infinity, integers that fit a
64-bit column, strings without lone surrogates or NUL characters, and nesting no deeper than
any GitHub payload goes. A body that breaks one of these is refused with a 400 that says
which, so that nothing downstream (the inbox insert, the worker's parse, a handler) meets it.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # GitHub's payloads nest about 8 deep
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BadPayload(ValueError):
    """The body is not something trunkwatch will store; the message says why."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadPayload naming what is wrong with it.

    The common case costs little more than `json.loads`: the exact checks of keys and of
    scalars run only when a cheap look at the text says they might find something."""
    if body.startswith(codecs.BOM_UTF8):
        raise BadPayload("body starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None
    try:
        data = json.loads(
            text, parse_constant=_no_constant, parse_int=_int64, parse_float=_finite_float
        )
    except RecursionError:
        raise BadPayload(f"body nests deeper than {MAX_DEPTH} levels") from None
    except BadPayload:
        raise
    except ValueError as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPayload("body is not a JSON object")
    if _count_keys(data) != text.count('":'):
        json.loads(text, object_pairs_hook=_unique_keys)  # a key repeated, or just odd text
    if _SUSPECT_ESCAPE.search(text):
        _check_strings(data)
    return data


# A key is a string and a colon: counting `":` in the text and the keys in the parsed
# objects tells when a key may have been repeated (a string that merely contains `\":`, or
# a space before a colon, makes the counts differ too; the exact check then finds nothing).
# What a lone surrogate or a NUL needs in the text: a `\ud800`-`\udfff` or `\u0000` escape.
_SUSPECT_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|\\u0000")


def _count_keys(data: dict[str, Any]) -> int:
    """How many keys the objects hold, all told; refuses nesting past MAX_DEPTH. Walked
    without recursion (the body may nest on purpose)."""
    keys = 0
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadPayload(f"body nests deeper than {MAX_DEPTH} levels")
        if type(value) is dict:
            keys += len(value)
            items: Any = value.values()
        else:
            items = value
        stack.extend((item, depth + 1) for item in items if type(item) in _CONTAINERS)
    return keys


_CONTAINERS = (dict, list)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadPayload(f"body repeats the key {key[:80]!r}")
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise BadPayload(f"body contains {name}, which is not JSON")


def _int64(text: str) -> int:
    value = int(text) if len(text) <= 20 else None  # longer than any int64: not converted
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise BadPayload(f"body has an integer outside the 64-bit range: {text[:30]}")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadPayload(f"body has a number too large for a double: {text[:30]}")
    return value


def _check_strings(data: dict[str, Any]) -> None:
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key in value:
                _check_text(key)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPayload("body has a string with a lone surrogate (\\ud800-\\udfff)") from None
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise BadPayload("body has a string with a NUL character")
