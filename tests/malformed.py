"""Malformed webhook bodies, thousands of them, generated from a real payload.

Each is something a signed sender could post: JSON nested past any parser's stack, integers
past 64 bits, lone surrogates, NaN, duplicate keys, a byte order mark, other encodings,
truncations, wrong types where the App reads a field, and random byte damage. The server
must answer each with a 4xx or store it (202): never 5xx.
"""

from __future__ import annotations

import codecs
import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

Mutation = Callable[[random.Random, dict[str, Any]], bytes]


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


def _deep(rng: random.Random, base: dict[str, Any]) -> bytes:
    depth = rng.choice([65, 200, 999, 1001, 5000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    nested = opener * depth + "1" + closer * depth
    return _dump(base)[:-1] + b', "deep": ' + nested.encode() + b"}"


def _huge_int(rng: random.Random, base: dict[str, Any]) -> bytes:
    number = rng.choice([2**63, 2**64, 2**70, -(2**63) - 1, 10**30])
    text = str(number) if rng.random() < 0.9 else "9" * rng.choice([5000, 50_000])
    where = rng.choice(["installation", "run_id", "size"])
    rest = {key: value for key, value in base.items() if key != where}
    value = "{" + f'"id": {text}' + "}" if where == "installation" else text
    field = f'"{where}": {value}'
    return _dump(rest)[:-1] + b", " + field.encode() + b"}"


def _lone_surrogate(rng: random.Random, base: dict[str, Any]) -> bytes:
    surrogate = rng.choice(["\\ud800", "\\udfff", "\\udc00x", "a\\ud83d"])
    field = rng.choice(["full_name", "message", "key"])
    text = _dump(base).decode()
    if field == "full_name":
        return text.replace('"full_name": "', f'"full_name": "{surrogate}', 1).encode()
    if field == "message":
        return (text[:-1] + f', "message": "x{surrogate}y"}}').encode()
    return (text[:-1] + f', "{surrogate}": 1}}').encode()


def _constant(rng: random.Random, base: dict[str, Any]) -> bytes:
    constant = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
    return _dump(base)[:-1] + b', "value": ' + constant.encode() + b"}"


def _duplicate_key(rng: random.Random, base: dict[str, Any]) -> bytes:
    key = rng.choice(["repository", "installation", "action", "ref"])
    return _dump(base)[:-1] + f', "{key}": {rng.choice(["1", "null", "{}"])}}}'.encode()


def _encoding(rng: random.Random, base: dict[str, Any]) -> bytes:
    text = json.dumps(base, ensure_ascii=False)
    choice = rng.choice(["bom", "utf-16", "utf-32", "latin-1", "bad-bytes"])
    if choice == "bom":
        return codecs.BOM_UTF8 + text.encode()
    if choice == "bad-bytes":
        raw = bytearray(text.encode())
        raw[rng.randrange(len(raw))] = rng.choice([0x80, 0xC0, 0xFF, 0xFE])
        return bytes(raw)
    return (text + ' "é"').encode(choice) if choice == "latin-1" else text.encode(choice)


def _truncated(rng: random.Random, base: dict[str, Any]) -> bytes:
    raw = _dump(base)
    return raw[: rng.randrange(len(raw))]


def _not_object(rng: random.Random, base: dict[str, Any]) -> bytes:
    return rng.choice([b"[]", b"null", b"1", b'"x"', b"", b" ", b"[{}]", b"true"])


def _wrong_type(rng: random.Random, base: dict[str, Any]) -> bytes:
    value = copy.deepcopy(base)
    target = rng.choice(["repository", "installation", "full_name", "id"])
    odd: Any = rng.choice(
        [None, 1, -1, 1.5, True, "", [], {}, "x" * 300, "a/b/c", "\u0000", "o/\u202er"]
    )
    if target == "repository":
        value["repository"] = odd
    elif target == "installation":
        value["installation"] = odd
    elif target == "full_name" and isinstance(value.get("repository"), dict):
        value["repository"]["full_name"] = odd
    else:
        value["installation"] = {"id": odd}
    return _dump(value)


def _nul(rng: random.Random, base: dict[str, Any]) -> bytes:
    return _dump(base)[:-1] + b', "message": "a\\u0000b"}'


def _byte_damage(rng: random.Random, base: dict[str, Any]) -> bytes:
    raw = bytearray(_dump(base))
    for _ in range(rng.randint(1, 5)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


MUTATIONS: dict[str, Mutation] = {
    "deep": _deep,
    "huge-int": _huge_int,
    "lone-surrogate": _lone_surrogate,
    "nan-infinity": _constant,
    "duplicate-key": _duplicate_key,
    "encoding": _encoding,
    "truncated": _truncated,
    "not-an-object": _not_object,
    "wrong-type": _wrong_type,
    "nul": _nul,
    "byte-damage": _byte_damage,
}


def malformed_bodies(
    base: dict[str, Any], count: int, seed: int = 9
) -> Iterator[tuple[str, bytes]]:
    """`count` (kind, body) pairs, every kind in turn, reproducible from `seed`."""
    rng = random.Random(seed)
    kinds = list(MUTATIONS.items())
    for index in range(count):
        kind, mutate = kinds[index % len(kinds)]
        yield kind, mutate(rng, base)
