"""What is wrong with a configuration file, said so that a person can find and fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem: the file, its line (1-based; 0 when it concerns the whole file), the key
    path (`groups.inductor.threshold`, `alerts.labels[1]`; "" for the whole document), and
    what was set aside because of it (`ignored`: "the group 'inductor' is ignored",
    "the default applies: 3"; "" when nothing is said)."""

    path: str
    line: int
    key: str
    message: str
    ignored: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text}; {self.ignored}" if self.ignored else text


class ConfigInvalid(Exception):
    """A configuration that cannot be used; `errors` lists every problem found, in file order."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors: list[ConfigError] = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))
