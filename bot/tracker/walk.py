"""The walk over one group's trunk: the episodes its job keys make.

An episode opens at the first commit where the group is broken (at least `min_failing_jobs`
keys with a streak of at least `threshold`); while it is open, keys that reach the threshold
join it; it recovers at the first commit where every key that joined has passed
`recovery_passes` times since it last reached the threshold (and the group is not broken).

The walk only visits commits where some key's run starts, ends or recovers, and resumes from
a cached snapshot at or before the lowest commit that changed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.tracker.model import GroupRule, JobKey
from bot.tracker.timeline import OFF, ON, RECOVERED, KeyLine

if TYPE_CHECKING:
    from bot.tracker.group import BranchFacts

SNAPSHOT_EVERY = 32  # commits between cached walk states


@dataclass(frozen=True, slots=True)
class Episode:
    opened: int  # commit index where the group broke
    recovered: int | None  # commit index where it recovered; None while open
    opening: frozenset[JobKey]  # keys over the threshold when it opened
    keys: frozenset[JobKey]  # every key that joined


@dataclass(slots=True)
class WalkState:
    index: int  # the next commit index to visit
    on: set[JobKey]  # keys with a streak at or over the threshold
    suppressed: set[JobKey]  # keys of a resolved alert that have not passed since
    open_at: int | None = None
    opening: frozenset[JobKey] = frozenset()
    joined: set[JobKey] = field(default_factory=set)
    unrecovered: set[JobKey] = field(default_factory=set)
    episodes: list[Episode] = field(default_factory=list)  # recovered ones, oldest first

    def copy(self) -> WalkState:
        return WalkState(
            self.index,
            set(self.on),
            set(self.suppressed),
            self.open_at,
            self.opening,
            set(self.joined),
            set(self.unrecovered),
            list(self.episodes),
        )

    def all_episodes(self) -> list[Episode]:
        if self.open_at is None:
            return list(self.episodes)
        current = Episode(self.open_at, None, self.opening, frozenset(self.joined))
        return [*self.episodes, current]


class Walk:
    """The walk of a `GroupTrack` (which keeps the key lines, the run events by commit and the
    commit from which they changed)."""

    rule: GroupRule
    facts: BranchFacts
    lines: dict[JobKey, KeyLine]
    _buckets: dict[int, list[tuple[int, JobKey]]]
    _event_indices: list[int]
    _snapshots: list[WalkState]
    _walk_for: tuple[int, frozenset[JobKey]] | None
    _covered: frozenset[JobKey]
    _goes_on: frozenset[JobKey]
    _final: WalkState | None
    _dirty_from: int | None

    def walk(
        self, start: int, suppressed: frozenset[JobKey], covered: frozenset[JobKey] = frozenset()
    ) -> WalkState:
        """The episodes from commit `start` on (`suppressed`: keys of a resolved alert;
        `covered`: keys of the alert that recovered at `start`, which go on from it only if
        their streak does: a pass there that turned pending, then a pass, is no new
        breakage)."""
        # (which of them go on depends on their verdicts from `start`: checked each time)
        goes_on = frozenset(
            k
            for k in covered
            if (line := self.lines.get(k)) is not None and line.goes_on_from(start)
        )
        if (self._walk_for, self._covered, self._goes_on) != (
            (start, suppressed),
            covered,
            goes_on,
        ):
            self._walk_for, self._covered, self._goes_on = (start, suppressed), covered, goes_on
            self._snapshots.clear()
            self._final = None
        dirty = self._dirty_from
        self._dirty_from = None
        head = len(self.facts.order.order)
        if self._final is not None and (dirty is None or dirty >= self._final.index):
            state = self._final
        else:
            if dirty is not None:
                keep = bisect_right([s.index for s in self._snapshots], dirty)
                del self._snapshots[keep:]
            state = self._snapshots[-1].copy() if self._snapshots else self._initial(start)
        if state.index >= head and state is self._final:
            return state
        if state is self._final:
            state = state.copy()
        self._final = self._advance(state, start, head)
        return self._final

    def _initial(self, start: int) -> WalkState:
        threshold = self.rule.threshold
        on = {
            k
            for k, line in self.lines.items()
            if start
            and line.streak_at(start - 1) >= threshold
            and (k not in self._covered or k in self._goes_on)
        }
        suppressed = set(self._walk_for[1]) if self._walk_for else set()
        return WalkState(start, on, suppressed)

    def _advance(self, state: WalkState, start: int, head: int) -> WalkState:
        release: dict[int, list[JobKey]] = {}
        for key in state.suppressed:
            line = self.lines.get(key)
            passed = line.first_pass_from(state.index) if line is not None else None
            if passed is not None:
                release.setdefault(passed, []).append(key)
        indices = set(self._event_indices[bisect_left(self._event_indices, state.index) :])
        indices.update(release)
        if state.index == start and start < head:
            indices.add(start)
        minimum = self.rule.min_failing_jobs
        last_snapshot = self._snapshots[-1].index if self._snapshots else -SNAPSHOT_EVERY
        for index in sorted(indices):  # all below `head`: events are on placed commits
            if index - last_snapshot >= SNAPSHOT_EVERY:
                state.index = index
                self._snapshots.append(state.copy())
                last_snapshot = index
            for key in release.get(index, ()):
                state.suppressed.discard(key)
            for kind, key in self._buckets.get(index, ()):
                if kind == ON:
                    state.on.add(key)
                    if state.open_at is not None and key not in state.suppressed:
                        state.joined.add(key)
                        state.unrecovered.add(key)
                elif kind == OFF:
                    state.on.discard(key)
                elif kind == RECOVERED:
                    state.unrecovered.discard(key)
            broken = len(state.on - state.suppressed) >= minimum
            if state.open_at is None:
                if broken:
                    state.open_at = index
                    state.opening = frozenset(state.on - state.suppressed)
                    state.joined = set(state.opening)
                    state.unrecovered = set(state.opening)
            elif not state.unrecovered and not broken:
                state.episodes.append(
                    Episode(state.open_at, index, state.opening, frozenset(state.joined))
                )
                state.open_at, state.opening = None, frozenset()
                state.joined, state.unrecovered = set(), set()
        state.index = head
        return state
