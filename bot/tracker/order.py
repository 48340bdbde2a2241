"""The trunk order of one branch, learned from pushes.

Each pushed commit's predecessor is the previous commit of the push, the first one's is the
push's `before`. The order is rebuilt from these parent links, so pushes that arrive out of
order give the same final order: chains are followed from their roots, and chains that are
not connected (a push was missed) are ordered by their first commit's timestamp, then sha.

A forced push rewrites the branch: the commits it took off (from `before` back to where the
new commits attach) leave the order, for good. Its first commit attaches not to `before` but
to the merge base, which the payload does not name: a reset to a known commit attaches at
that commit; otherwise a rewritten commit is recognised by its message and author (a rebase
or an amend keeps them), and when none is, the old head alone is taken as replaced.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.tracker.model import CommitInfo, Push

NULL_SHA = "0" * 40
REWRITE_SEARCH = 200  # old commits looked at, back from `before`, for a forced push


def _rank(info: CommitInfo) -> tuple[str, str]:
    return (info.timestamp, info.sha)


def _signature(info: CommitInfo) -> tuple[str, str]:
    return (info.message, info.author)


class BranchOrder:
    """Commits of one branch in trunk order, with an index for each sha."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.info: dict[str, CommitInfo] = {}
        self.order: list[str] = []
        self.index: dict[str, int] = {}
        self._pruned: set[str] = set()
        self._stale = False  # links changed without the order being rebuilt (bulk loading)

    def __len__(self) -> int:
        return len(self.order)

    def is_pruned(self, sha: str) -> bool:
        """Dropped for good: beyond the retention window, or rewritten by a forced push."""
        return sha in self._pruned

    @property
    def head(self) -> str | None:
        return self.order[-1] if self.order else None

    def missing_before(self, index: int) -> bool:
        """Whether commits are missing just before the one at `index`: its parent is known
        by sha (a push's `before`) but not as a commit (that push was not delivered yet)."""
        parent = self.parent.get(self.order[index])
        return parent is not None and parent not in self.info

    def add_push(self, push: Push) -> int | None:
        """Learn a push; the lowest index whose commit changed, or None when nothing did."""
        if push.forced:
            return self._add_forced(push)
        before = push.before if push.before and push.before != NULL_SHA else None
        links: list[tuple[CommitInfo, str | None]] = []
        previous = before
        for commit in push.commits:
            links.append((commit, previous))
            previous = commit.sha
        head = self.head
        if (
            links
            and not self._stale
            and all(info.sha not in self.info and info.sha not in self._pruned for info, _ in links)
            and len({info.sha for info, _ in links}) == len(links)
            and head is not None
            and before == head
        ):
            start = len(self.order)
            for info, parent in links:
                self.info[info.sha] = info
                self.parent[info.sha] = parent
                self.index[info.sha] = len(self.order)
                self.order.append(info.sha)
            return start
        if not self.add_links(links):
            return None
        return self.rebuild()

    def _add_forced(self, push: Push) -> int | None:
        if self._stale:
            self.rebuild()
        old = self._back_from(push.before)
        new = [c for c in push.commits if c.sha not in self.info and c.sha not in self._pruned]
        if not new:
            if push.after not in self.info:
                return None  # reset to a commit never seen: nothing known to take off
            base: str | None = push.after
        else:
            signatures = {(c.message, c.author) for c in new}
            rewritten = [i for i, sha in enumerate(old) if _signature(self.info[sha]) in signatures]
            depth = max(rewritten) + 1 if rewritten else min(1, len(old))
            base = self.parent.get(old[depth - 1]) if depth else None
        keep = set(self._back_from(base, len(self.info)))
        gone = []
        for sha in old:
            if sha in keep:
                break
            gone.append(sha)
        for sha in gone:
            del self.info[sha]
            del self.parent[sha]
            self._pruned.add(sha)
        links: list[tuple[CommitInfo, str | None]] = []
        previous = base
        for commit in new:
            links.append((commit, previous))
            previous = commit.sha
        self.add_links(links)
        if not gone and not links:
            return None
        return self.rebuild()

    def _back_from(self, sha: str | None, limit: int = REWRITE_SEARCH) -> list[str]:
        """`sha` and its known predecessors, newest first."""
        chain: list[str] = []
        while sha is not None and sha in self.info and len(chain) < limit:
            chain.append(sha)
            sha = self.parent[sha]
        return chain

    def add_links(self, links: Iterable[tuple[CommitInfo, str | None]]) -> bool:
        """Record commits and their parents without rebuilding the order; True if changed."""
        changed = False
        for info, parent in links:
            sha = info.sha
            if sha in self._pruned:
                continue
            if parent == NULL_SHA:
                parent = None
            if sha not in self.info:
                self.info[sha] = info
                self.parent[sha] = parent
                changed = True
                continue
            known = self.parent[sha]
            if parent is None or parent == known:
                continue
            if known is None or self._prefer(parent, known):
                self.parent[sha] = parent
                changed = True
        if changed:
            self._stale = True
        return changed

    def _prefer(self, candidate: str, known: str) -> bool:
        """Between two conflicting parents, deterministically: a known commit, then the min."""
        return (candidate not in self.info, candidate) < (known not in self.info, known)

    def rebuild(self) -> int | None:
        """Rebuild the order from the parent links; the lowest changed index, or None."""
        self._stale = False
        children: dict[str, list[str]] = {}
        roots: list[str] = []
        for sha, parent in self.parent.items():
            if parent is None or parent not in self.info:
                roots.append(sha)
            else:
                children.setdefault(parent, []).append(sha)
        for kids in children.values():
            kids.sort(key=lambda s: _rank(self.info[s]), reverse=True)
        order: list[str] = []
        seen: set[str] = set()

        def follow(root: str) -> None:
            stack = [root]
            while stack:
                sha = stack.pop()
                if sha in seen:
                    continue
                seen.add(sha)
                order.append(sha)
                stack.extend(children.get(sha, ()))

        for root in sorted(roots, key=lambda s: _rank(self.info[s])):
            follow(root)
        if len(order) < len(self.info):  # cycles (force pushes): break them at the oldest
            rest = sorted(
                (s for s in self.info if s not in seen), key=lambda s: _rank(self.info[s])
            )
            for sha in rest:
                follow(sha)
        old = self.order
        first = next(
            (i for i, (a, b) in enumerate(zip(old, order, strict=False)) if a != b),
            min(len(old), len(order)),
        )
        self.order = order
        self.index = {sha: i for i, sha in enumerate(order)}
        return None if first == len(old) == len(order) else first

    def prune(self, keep: int) -> list[str]:
        """Drop all but the newest `keep` commits; the dropped shas, oldest first."""
        if len(self.order) <= keep:
            return []
        dropped = self.order[: len(self.order) - keep]
        for sha in dropped:
            del self.info[sha]
            del self.parent[sha]
            self._pruned.add(sha)
        self.order = self.order[len(dropped) :]
        self.index = {sha: i for i, sha in enumerate(self.order)}
        return dropped
