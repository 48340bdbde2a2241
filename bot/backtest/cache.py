"""What a backtest keeps on disk: the ETag cache of a branch's listings, and whole answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any


class PageCache(MutableMapping[str, Any]):
    """gidgethub's ETag cache (`url → (etag, last_modified, data, next_url)`) on disk, for
    the listings of a branch (the other answers are kept whole by `Backtest`)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    def _path(self, url: str) -> Path:
        return self._dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".json")

    @staticmethod
    def _kept(url: str) -> bool:
        path = url.partition("?")[0]
        return path.endswith(("/commits", "/actions/runs"))

    def __getitem__(self, url: str) -> Any:
        path = self._path(url)
        if not self._kept(url) or not path.is_file():
            raise KeyError(url)
        return tuple(json.loads(path.read_text(encoding="utf-8"))["entry"])

    def __setitem__(self, url: str, value: Any) -> None:
        if self._kept(url):
            entry = {"url": url, "entry": list(value)}
            self._path(url).write_text(json.dumps(entry), encoding="utf-8")

    def __delitem__(self, url: str) -> None:
        path = self._path(url)
        if not path.is_file():
            raise KeyError(url)
        path.unlink()

    def __iter__(self) -> Iterator[str]:
        for path in sorted(self._dir.glob("*.json")):
            yield str(json.loads(path.read_text(encoding="utf-8"))["url"])

    def __len__(self) -> int:
        return sum(1 for _ in self._dir.glob("*.json"))


class AnswerCache:
    """Answers kept whole, one JSON file per name; `fresh` ones younger than `max_age`."""

    def __init__(self, directory: Path, clock: Callable[[], float], max_age: float) -> None:
        self.directory = directory
        self.clock = clock
        self.max_age = max_age

    def load(self, name: str) -> Any | None:
        path = self.directory / f"{name}.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def save(self, name: str, value: Any) -> None:
        path = self.directory / f"{name}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(value), encoding="utf-8")
        temporary.replace(path)  # a run killed mid-write leaves the previous file whole

    def fresh(self, name: str) -> Any | None:
        kept = self.load(name)
        if kept is None or self.clock() - kept["fetched_at"] > self.max_age:
            return None
        return kept["items"]
