"""Feeding a generated trunk to the App: its decisions with their moments, and the runs it
asks for (culprit confirmation) started on the trunk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from gidgethub.abc import GitHubAPI

from bot.actions import revert as reverts
from bot.actions.culprit import Prober, confirmation_outstanding, request_probes, retry_refused
from bot.actions.policy import AlertPolicy
from bot.config.model import RepoConfig
from bot.engine import RepoConfigLike, Unit
from bot.github import GitHubApp
from bot.policies import policy_for
from bot.records import AlertIssue, Revert
from bot.runtime.replay import RecordedDelivery, Replayer
from bot.sim.simulated_github import SimulatedGitHub, generate_private_key_pem
from bot.sim.trunksim import EPOCH, Request, Trunk
from bot.store.base import Store
from bot.store.record_view import Records
from bot.tracker.model import CulpritStatus, Decision, DecisionKind


class Recorder:
    """A sink that keeps each decision with the minute and trunk head it was taken at, and
    asks for the runs its breakages want (culprit confirmation) as the App does, from
    `prober` (the trunk's), within the configured budget."""

    def __init__(self, prober: Prober | None = None) -> None:
        self.minute = 0.0
        self.head = -1
        self.taken: list[tuple[float, int, Decision]] = []
        self.prober = prober
        self.store: Store | None = None  # where the requests are recorded (the replayer's)
        # `culprit.confirm_before_filing`: alert → where in `taken` the App would file it
        self.filed: dict[str, int] = {}

    async def act(
        self,
        decisions: Sequence[Decision],
        gh: GitHubAPI | None,
        config: RepoConfigLike,
        unit: Unit,
    ) -> None:
        if self.prober is None or self.store is None:
            self.taken += [(self.minute, self.head, d) for d in decisions]
            return
        now = (EPOCH + timedelta(minutes=self.minute)).timestamp()
        records = Records(self.store, unit.changes)
        for decision in decisions:
            self.taken.append((self.minute, self.head, decision))
            policy = policy_for(config, decision.group)
            if decision.alert not in self.filed and decision.kind is not DecisionKind.CLOSE:
                waits = policy.confirm_before_filing and await confirmation_outstanding(
                    decision, records, policy.probes, now
                )
                if not waits:  # (as the App's sink decides it, before it asks for runs)
                    self.filed[decision.alert] = len(self.taken) - 1
            if decision.alert in self.filed:  # the issue's state, as the App's sink keeps it
                state = "closed" if decision.kind is DecisionKind.CLOSE else "open"
                await records.put(
                    AlertIssue(
                        decision.alert,
                        decision.repo,
                        decision.branch,
                        decision.group,
                        0,
                        "",
                        state=state,
                    )
                )
            over = decision.kind is DecisionKind.CLOSE and decision.alert not in self.filed
            if not over:  # (as the App's sink: an alert over before it was filed asks nothing)
                await request_probes([decision], self.prober, records, policy.probes, now)
            if policy.revert == reverts.AUTO and decision.alert in self.filed:
                await self._auto_revert(decision, records, policy, now)
        prober = self.prober

        async def prober_for(repo: str) -> Prober:
            return prober

        # (the App's periodic sweep, at most once a minute: a lease)
        await retry_refused(records, prober_for, now, "bench")

    async def _auto_revert(
        self, decision: Decision, records: Records, policy: AlertPolicy, now: float
    ) -> None:
        """`culprit.revert: auto` as the App's sink decides it from the store (each confirmed
        culprit once, `max_reverts_per_day`, merged less than a day ago); the checks only
        GitHub can answer (labels, a revert PR opened by hand, later commits touching its
        files) are the revert tests' (`tests/test_revert.py`): a generated trunk has no files."""
        if decision.kind is DecisionKind.CLOSE or not isinstance(self.prober, TrunkProber):
            return
        trunk = self.prober.trunk
        for breakage in decision.breakages:
            sha = breakage.culprit
            if breakage.status is not CulpritStatus.CONFIRMED or sha not in trunk.index:
                continue
            number = trunk.index[sha] + 1  # (each commit of a generated trunk is a PR)
            if await reverts.known_refusal(records, decision.repo, number, policy, now):
                continue
            if self.minute - trunk.pushed_at[trunk.index[sha]] >= 24 * 60:
                continue
            await records.put(
                Revert(decision.repo.lower(), number, decision.alert, sha, at=now, state="opened")
            )
            await self.prober.revert(decision.repo, sha)


async def run_app(
    trunk: Trunk, config: RepoConfig, probe: bool = True, filed: dict[str, int] | None = None
) -> list[tuple[float, int, Decision]]:
    """Feed the trunk's deliveries through the App; its decisions with their moments.
    `probe`: the App asks for the runs that confirm culprits (reruns, bisect tags), and
    the trunk runs them. `filed` gets, per alert, the position of the decision on which the
    App files its issue (with `culprit.confirm_before_filing`, not always its OPEN)."""
    recorder = Recorder()
    if filed is not None:
        recorder.filed = filed
    recorder.prober = TrunkProber(trunk, lambda: recorder.minute) if probe else None
    index = {sha: i for i, sha in enumerate(trunk.shas)}
    if trunk.knobs.workflow_jobs:
        replayer = Replayer(config, recorder)
        recorder.store = replayer.store
        await _feed(trunk, replayer, recorder, index, None)
        return recorder.taken

    key = generate_private_key_pem()
    sim = SimulatedGitHub(app_id=1, app_key=key)
    sim.add_installation(4242)
    await sim.start()
    app = GitHubApp(1, key, base_url=sim.base_url)
    try:
        sim.seed_deliveries(d for _, d in trunk.deliveries() if d["event"] == "push")
        gh = await app.installation_client(4242)
        replayer = Replayer(config, recorder, gh)
        recorder.store = replayer.store
        await _feed(trunk, replayer, recorder, index, sim)
    finally:
        await app.close()
        await sim.stop()
    return recorder.taken


async def _feed(
    trunk: Trunk,
    replayer: Replayer,
    recorder: Recorder,
    index: dict[str, int],
    sim: SimulatedGitHub | None,
) -> None:
    for minute, delivery in trunk.deliveries():
        payload = delivery["payload"]
        recorder.minute = minute
        if delivery["event"] == "push":
            recorder.head = max(recorder.head, index[payload["after"]])
        run = payload.get("workflow_run")
        if sim is not None and run is not None and run["status"] == "completed":
            jobs = trunk.run_jobs(run["id"], run["run_attempt"], minute)
            sim.add_run(
                trunk.repo,
                run["id"],
                jobs,
                head_sha=run["head_sha"],
                workflow=run["name"],
                attempt=run["run_attempt"],
                conclusion=run["conclusion"],
            )
        await replayer.feed(RecordedDelivery(delivery["event"], delivery["delivery_id"], payload))
    if replayer.dead:
        raise RuntimeError(f"{len(replayer.dead)} deliveries failed: {replayer.dead[0][1]}")


class TrunkProber:
    """Culprit confirmation's Prober on a generated trunk: the runs the App asks for start
    on the trunk as of `clock()` (the feed's current minute; the trunk's own by default)
    and join its deliveries. Every request is logged on the trunk (`Trunk.requests`), with
    the commit it concerns, the minute and what the App was told."""

    def __init__(self, trunk: Trunk, clock: Callable[[], float] | None = None) -> None:
        self.trunk = trunk
        self.clock = clock or (lambda: trunk.now)
        self.tags: dict[str, str] = {}  # tag → commit, while it exists
        self.tag_runs: dict[str, tuple[int, ...]] = {}  # tag → the runs it started

    @property
    def log(self) -> list[Request]:
        return self.trunk.requests

    def _refuse(self, kind: str, sha: str = "", tag: str = "") -> bool:
        self.trunk.requests.append(Request(kind, sha, self.clock(), False, tag=tag))
        return False

    async def rerun_job(self, repo: str, job_id: int) -> bool:
        if repo != self.trunk.repo:
            return self._refuse("rerun_job")
        return self.trunk.rerun_job(job_id, self.clock())

    async def rerun_failed_jobs(self, repo: str, run_id: int) -> bool:
        if repo != self.trunk.repo:
            return self._refuse("rerun_failed")
        return self.trunk.rerun_failed(run_id, self.clock())

    async def create_tag(self, repo: str, tag: str, sha: str, existing_ok: bool = True) -> bool:
        if tag in self.tags and self._deleted(tag):
            del self.tags[tag]
        if repo != self.trunk.repo or tag in self.tags:  # GitHub: the reference exists
            return self._refuse("tag", sha, tag)
        ok = self.trunk.tag_run(sha, tag, self.clock())
        if ok:
            self.tags[tag] = sha
            self.tag_runs[tag] = self.trunk.requests[-1].run_ids
        return ok

    def _deleted(self, tag: str) -> bool:
        """Whether the App has deleted the tag by now: it does when the first run on it
        completes (`handlers.workflow_run`, through its GitHub client, which a trunk fed
        without one does not have: the moment is the run's)."""
        now = self.clock()
        runs = (self.trunk.runs[run_id] for run_id in self.tag_runs.get(tag, ()))
        return any(run.attempts and run.attempts[0].done <= now for run in runs)

    async def delete_tag(self, repo: str, tag: str) -> None:
        sha = self.tags.pop(tag, "") if repo == self.trunk.repo else ""
        self.trunk.requests.append(Request("delete_tag", sha, self.clock(), bool(sha), tag=tag))

    async def revert(self, repo: str, sha: str) -> bool:
        """A revert PR of `sha` (counted only; the trunk does not change)."""
        ok = repo == self.trunk.repo and sha in self.trunk.index
        self.trunk.requests.append(Request("revert", sha, self.clock(), ok))
        return ok
