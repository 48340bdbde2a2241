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
from typing import Any

MAX_DEPTH = 64  # GitHub's payloads nest about 8 deep
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # longer than any int64, short enough to refuse before converting


class BadPayload(ValueError):
    """The body is not something trunkwatch will store; the message says why."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadPayload naming what is wrong with it."""
    if body.startswith(codecs.BOM_UTF8):
        raise BadPayload("body starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_int=_int64,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise BadPayload(f"body nests deeper than {MAX_DEPTH} levels") from None
    except BadPayload:
        raise
    except ValueError as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPayload("body is not a JSON object")
    _check_tree(data)
    return data


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
    value = int(text) if len(text) <= _MAX_INT_DIGITS else None
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise BadPayload(f"body has an integer outside the 64-bit range: {text[:30]}")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadPayload(f"body has a number too large for a double: {text[:30]}")
    return value


def _check_tree(data: dict[str, Any]) -> None:
    """Depth and strings, walked without recursion (the body may nest on purpose)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadPayload(f"body nests deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key in value:
                    _check_text(key)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPayload("body has a string with a lone surrogate (\\ud800-\\udfff)") from None
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise BadPayload("body has a string with a NUL character")
