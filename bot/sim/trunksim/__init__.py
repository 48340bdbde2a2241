"""Busy trunks with live arrival: the histories `bench/quality.py` scores the App on.

A trunk of N commits lands in pushes of 1-4 commits every few minutes. Every commit runs
several workflows of sharded suites (~100 jobs): a build, then its tests once the build is
done (a failed build makes its tests `skipped`). Jobs take 15 minutes to 2.5 hours, so the
results of neighbouring commits interleave. Each run is `requested`, `in_progress`, then
`completed`; each job `queued`, then `completed` (with `in_progress` for some); a few
deliveries arrive late. 2% of job attempts fail by chance (some `timed_out`), and most
failed runs are rerun (`rerun-failed-jobs`: attempt 2 of the failed jobs only); some runs
are superseded by the next push and cancelled; runner outages fail the jobs of one runner
type on one commit (some before their first step, some in a step); and real breakages —
a suite, a build, or a few scattered jobs — fail from a culprit commit until its fix,
which lands 1.5 to 6 hours after the culprit's push (its failures take up to 2.5 h to
report, then someone finds it and lands a revert); `fix_commits` makes them short instead.

The ground truth (culprit, fix, jobs) is kept beside the deliveries, which are built in
GitHub's webhook shapes only when they are read (`deliveries()`), in arrival order.

The trunk is live: while its deliveries are read, the App may ask for runs as GitHub would
start them (`rerun_job`, `rerun_failed`, `tag_run`: a rerun of a job, of a run's failed jobs,
or every workflow on a commit through a pushed tag). Their deliveries join the feed in
arrival order, their results follow the same truth. They are kept apart (`injected`) from
the planned history (`events`), on which the truth-side scores are computed, so that those
stay the same whatever the App asked for.
"""

from bot.sim.trunksim.model import (
    EPOCH,
    FAILING,
    Attempt,
    Breakage,
    Event,
    Knobs,
    Request,
    RunRecord,
)
from bot.sim.trunksim.payloads import Payloads
from bot.sim.trunksim.trunk import AUTHORS, Trunk
from bot.sim.trunksim.workflows import CONFIG, WORKFLOWS, Suite, normalized

__all__ = [
    "AUTHORS",
    "CONFIG",
    "EPOCH",
    "FAILING",
    "WORKFLOWS",
    "Attempt",
    "Breakage",
    "Event",
    "Knobs",
    "Payloads",
    "Request",
    "RunRecord",
    "Suite",
    "Trunk",
    "normalized",
]
