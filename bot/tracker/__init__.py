"""The tracker: what "broken" means, as a pure function of pushes and job results."""

from bot.tracker.tracker import RepoTracker

__all__ = ["RepoTracker"]
