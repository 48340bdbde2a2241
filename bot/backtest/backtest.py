"""`trunkwatch backtest OWNER/REPO`: what the App would have said about a branch's history.

It reads the branch's commits and the workflow runs on it from the REST API, lists the jobs
of the runs that matter (a watched workflow's run that failed or was rerun: a run that
passed at its first attempt passes for all of its jobs, as the tracker counts it), turns all
of it into the deliveries the webhook would have sent, in trunk order, and replays them
with actions going to the dry-run sink.

Everything fetched is kept on disk: a listing of the branch (commits, runs) is reused while
it is younger than `max_age`, the jobs of a run for as long as the run has no newer attempt,
and pages fetched again are asked for with their ETag (a 304 costs no rate limit). A second
run therefore costs no call, and a run stopped by its budget resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import http
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions.dryrun import DryRunSink
from bot.backtest.cache import AnswerCache
from bot.backtest.deliveries import Fetched, deliveries_by_commit
from bot.engine import RepoConfigLike
from bot.events import PULL_REQUEST_EVENTS
from bot.github.client import CallStats
from bot.github.rest import Commit
from bot.runtime.replay import Replayer
from bot.tracker import RepoTracker
from bot.tracker.model import Outcome, outcome_of

PER_PAGE = 100
# GitHub returns no more than this many runs for a filtered listing: longer spans are split.
RUNS_CAP = 1000
NOT_MODIFIED = 304
NOT_FOUND = 404
ISO = "%Y-%m-%dT%H:%M:%SZ"
_DURATION = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class BacktestError(Exception):
    """The backtest cannot run; the message says why (never a token)."""


def parse_since(text: str, now: datetime) -> datetime:
    """`30d`, `12h`, `2w` before now (from the start of that day or hour, so that runs on
    the same day reuse their cache), or an ISO date / date-time."""
    found = _DURATION.match(text.strip())
    if found:
        start = now - int(found.group(1)) * _UNITS[found.group(2)]
        if found.group(2) == "h":
            return start.replace(minute=0, second=0, microsecond=0)
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BacktestError(f"--since {text!r}: expected e.g. 30d, 12h, 2w or 2026-11-01") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class OverBudget(Exception):
    """The next call would exceed the budget."""


@dataclass
class Report:
    repo: str
    branch: str
    since: str
    records: list[dict[str, Any]]  # the dry-run sink's actions, in order
    commits: list[Commit]  # the branch's commits in the window, oldest first
    covered: int  # how many of them were decided (all, unless the budget ran out)
    runs: int
    runs_needing_jobs: int
    runs_with_jobs: int
    calls: int  # calls that cost rate limit
    free_calls: int  # 304 answers
    budget: int
    complete: bool
    dead: list[str] = field(default_factory=list)
    config_source: str = "the embedded default configuration"


class Backtest:
    """One backtest of one branch: fetch (or find on disk), then decide."""

    def __init__(
        self,
        gh: GitHubAPI,
        stats: CallStats,
        repo: str,
        config: RepoConfigLike,
        cache_dir: Path,
        *,
        branch: str | None = None,
        since: datetime,
        budget: int | None = None,
        max_age: float = 3600.0,
        config_source: str = "the embedded default configuration",
        progress: Callable[[str, int, int], None] = lambda what, done, total: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gh = gh
        self.stats = stats
        self.repo = repo
        self.config = config
        self.config_source = config_source
        self.branch = branch
        self.since = since
        self.budget = budget
        self.max_age = max_age
        self.progress = progress
        self.clock = clock
        self.cache_dir = cache_dir / repo.replace("/", "__")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.answers = AnswerCache(self.cache_dir, clock, max_age)
        self._start, self._start_free = self._spent(), self._not_modified()

    # --- calls and budget --------------------------------------------------------------

    def _spent(self) -> int:
        return sum(n for key, n in self.stats.items() if key.status != NOT_MODIFIED)

    def _not_modified(self) -> int:
        return sum(n for key, n in self.stats.items() if key.status == NOT_MODIFIED)

    def calls(self) -> int:
        """Calls this backtest made that cost rate limit."""
        return self._spent() - self._start

    def free_calls(self) -> int:
        """Calls this backtest made that were answered 304 (no rate limit spent)."""
        return self._not_modified() - self._start_free

    async def _remaining_budget(self) -> int:
        """Half of what remains of the rate limit, unless a budget was given."""
        if self.budget is None:
            limits = await self.gh.getitem("/rate_limit")
            self.budget = int(limits["resources"]["core"]["remaining"]) // 2
        return self.budget

    async def _pages(
        self, url: str, url_vars: dict[str, Any], key: str | None
    ) -> AsyncIterator[Any]:
        """Every item of a listing; raises OverBudget before a page that would exceed it."""
        budget = await self._remaining_budget()
        if self.calls() >= budget:
            raise OverBudget
        pulled = 0
        async for item in self.gh.getiter(url, url_vars, iterable_key=key):
            yield item
            pulled += 1
            # A full page was consumed: the next item needs another call.
            if pulled % PER_PAGE == 0 and self.calls() >= budget:
                raise OverBudget

    # --- fetching ----------------------------------------------------------------------

    async def repository(self) -> dict[str, Any]:
        """The repository as the API describes it (its default branch among the rest)."""
        repository = self.answers.fresh("repository")
        if repository is None:
            owner, _, name = self.repo.partition("/")
            repository = await self.gh.getitem(
                "/repos/{owner}/{repo}", {"owner": owner, "repo": name}
            )
            self.answers.save("repository", {"fetched_at": self.clock(), "items": repository})
        return dict(repository)

    async def read_file(self, url: str) -> Any:
        """`gh.getitem(url)` for the configuration's files, kept on disk like the listings
        (a missing file is remembered as missing)."""
        key = "file-" + hashlib.sha256(url.encode()).hexdigest()[:24]
        kept = self.answers.fresh(key)
        if kept is None:
            try:
                kept = {"body": await self.gh.getitem(url)}
            except gidgethub.BadRequest as exc:
                if exc.status_code != NOT_FOUND:
                    raise
                kept = {"missing": True}
            self.answers.save(key, {"fetched_at": self.clock(), "items": kept})
        if kept.get("missing"):
            raise gidgethub.BadRequest(http.HTTPStatus.NOT_FOUND, "Not Found")
        return kept["body"]

    async def fetch(self) -> Fetched:
        owner, _, name = self.repo.partition("/")
        repository = await self.repository()
        branch = self.branch = self.branch or str(repository["default_branch"])
        since = self.since.strftime(ISO)
        fetched = Fetched(repository, [], [], {})
        try:
            fetched.commits = await self._commits(owner, name, branch, since)
            fetched.runs = await self._runs(owner, name, branch, since, fetched.commits)
            await self._jobs(owner, name, fetched)
        except OverBudget:
            fetched.complete = False
        return fetched

    async def _commits(self, owner: str, name: str, branch: str, since: str) -> list[Commit]:
        key = f"commits-{_safe(branch)}-{since}"
        kept = self.answers.fresh(key)
        if kept is not None:
            return list(kept)
        self.progress("commits", 0, 0)
        commits = [
            commit
            async for commit in self._pages(
                "/repos/{owner}/{repo}/commits{?sha,since,per_page}",
                {"owner": owner, "repo": name, "sha": branch, "since": since, "per_page": PER_PAGE},
                None,
            )
        ]
        commits.reverse()  # GitHub lists the newest first
        self.answers.save(key, {"fetched_at": self.clock(), "items": commits})
        return commits

    async def _runs(
        self, owner: str, name: str, branch: str, since: str, commits: list[Commit]
    ) -> list[Any]:
        key = f"runs-{_safe(branch)}-{since}"
        kept = self.answers.fresh(key)
        if kept is None:
            end = datetime.fromtimestamp(self.clock(), UTC).strftime(ISO)
            kept = []
            async for run in self._runs_between(owner, name, branch, since, end):
                kept.append(run)
            self.answers.save(key, {"fetched_at": self.clock(), "items": kept})
        on_branch = {commit["sha"] for commit in commits}
        runs = {run["id"]: run for run in kept if run["head_sha"] in on_branch}
        return sorted(runs.values(), key=lambda run: (run["created_at"], run["id"]))

    async def _runs_between(
        self, owner: str, name: str, branch: str, start: str, end: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Runs created in [start, end], in windows of at most RUNS_CAP runs."""
        url = "/repos/{owner}/{repo}/actions/runs{?branch,created,per_page}"
        url_vars: dict[str, str | int] = {
            "owner": owner,
            "repo": name,
            "branch": branch,
            "created": f"{start}..{end}",
            "per_page": PER_PAGE,
        }
        budget = await self._remaining_budget()
        if self.calls() >= budget:
            raise OverBudget
        first = await self.gh.getitem(url, url_vars)
        total = int(first["total_count"])
        if total > RUNS_CAP and start < end:
            middle = _middle(start, end)
            async for run in self._runs_between(owner, name, branch, start, middle):
                yield run
            after = (datetime.strptime(middle, ISO) + timedelta(seconds=1)).strftime(ISO)
            async for run in self._runs_between(owner, name, branch, after, end):
                yield run
            return
        self.progress("runs", 0, total)
        # The first page again comes from the ETag cache: a 304, no rate limit spent.
        async for run in self._pages(url, url_vars, "workflow_runs"):
            yield run

    def needs_jobs(self, tracker: RepoTracker, run: dict[str, Any]) -> bool:
        """A watched workflow's completed run on the trunk that failed or was rerun."""
        return (
            run.get("status") == "completed"
            and run.get("event") not in PULL_REQUEST_EVENTS
            and tracker.watches_workflow(str(run.get("name") or ""))
            and (
                outcome_of(run.get("conclusion")) is not Outcome.PASS
                or int(run.get("run_attempt") or 1) > 1
            )
        )

    async def _jobs(self, owner: str, name: str, fetched: Fetched) -> None:
        branch = self.branch or ""
        tracker = RepoTracker(self.repo, self.config.tracker_config(branch), [])
        wanted = [run for run in fetched.runs if self.needs_jobs(tracker, run)]
        fetched.needing_jobs = {run["id"] for run in wanted}
        for done, run in enumerate(wanted):
            self.progress("jobs", done, len(wanted))
            attempt = int(run.get("run_attempt") or 1)
            key = f"jobs-{run['id']}"
            kept = self.answers.load(key)
            if kept is None or kept["attempt"] != attempt:
                jobs = [
                    job
                    async for job in self._pages(
                        "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs{?filter,per_page}",
                        {
                            "owner": owner,
                            "repo": name,
                            "run_id": run["id"],
                            "filter": "all",
                            "per_page": PER_PAGE,
                        },
                        "jobs",
                    )
                ]
                kept = {"attempt": attempt, "jobs": jobs}
                self.answers.save(key, kept)
            fetched.jobs[run["id"]] = kept["jobs"]
        self.progress("jobs", len(wanted), len(wanted))

    # --- deciding ----------------------------------------------------------------------

    async def run(self, sink_out: IO[str]) -> Report:
        fetched = await self.fetch()
        sink = DryRunSink(sink_out, as_json=True)
        replayer = Replayer(self.config, sink)
        covered = 0
        for covered, deliveries in enumerate(deliveries_by_commit(fetched, self.branch or ""), 1):
            if deliveries is None:  # the budget ran out before this commit's jobs
                covered -= 1
                break
            for delivery in deliveries:
                await replayer.feed(delivery)
        return Report(
            repo=self.repo,
            branch=self.branch or "",
            since=self.since.strftime(ISO),
            records=sink.records,
            commits=fetched.commits,
            covered=covered,
            runs=len(fetched.runs),
            runs_needing_jobs=len(fetched.needing_jobs),
            runs_with_jobs=len(fetched.jobs),
            calls=self.calls(),
            free_calls=self.free_calls(),
            budget=self.budget or 0,
            complete=fetched.complete,
            dead=[f"{d.delivery_id}: {error}" for d, error in replayer.dead],
            config_source=self.config_source,
        )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _middle(start: str, end: str) -> str:
    a, b = datetime.strptime(start, ISO), datetime.strptime(end, ISO)
    return (a + (b - a) / 2).replace(microsecond=0).strftime(ISO)
