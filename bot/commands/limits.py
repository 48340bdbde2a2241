"""How much one person, or one repository, can make the App say.

A comment runs at most `MAX_COMMANDS` distinct command lines and gets one reply. Replies are
rate limited per user in a repository and per repository, over a sliding window: past the
limit, commands that only answer (`help`, `status`, a line that does not parse, a refusal)
are skipped without a call to GitHub, and commands that change state still run for people
with write access, with their reaction but without a reply.

The counts live in the process (each replica counts its own), and are forgotten on restart.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_COMMANDS = 5
WINDOW_SECONDS = 600.0
REPLIES_PER_USER = 5  # per repository, per window
REPLIES_PER_REPO = 30  # per window


@dataclass
class ReplyLimits:
    per_user: int = REPLIES_PER_USER
    per_repo: int = REPLIES_PER_REPO
    window: float = WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    _sent: dict[tuple[str, str], collections.deque[float]] = field(default_factory=dict)

    def _recent(self, key: tuple[str, str]) -> collections.deque[float]:
        sent = self._sent.setdefault(key, collections.deque())
        horizon = self.clock() - self.window
        while sent and sent[0] <= horizon:
            sent.popleft()
        if not sent:
            del self._sent[key]  # the table holds only who replied within the window
            return collections.deque()
        return sent

    def allows(self, repo: str, user: str) -> bool:
        """Whether one more reply to `user` in `repo` is within both limits."""
        repo, user = repo.lower(), user.lower()
        return (
            len(self._recent((repo, user))) < self.per_user
            and len(self._recent((repo, ""))) < self.per_repo
        )

    def record(self, repo: str, user: str) -> None:
        repo, user = repo.lower(), user.lower()
        now = self.clock()
        for key in ((repo, user), (repo, "")):
            self._sent.setdefault(key, collections.deque()).append(now)
