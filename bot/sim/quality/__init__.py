"""Scoring the App's alerts on generated trunks (`bot.sim.trunksim`) against their truth.

The App is fed a trunk's deliveries in arrival order, through the replay path (handlers,
engine, tracker; no inbox). Its alerts are matched to the trunk's real breakages; a plain
"N in a row with hindsight" rule is scored on the same history. `bench/quality.py` prints
the table; the test suite runs it small on fixed seeds.

The runs the App asks for to confirm culprits (`TrunkProber`) join the feed, but the truth
side (`final_conclusions`, `allows_exact`, `hindsight`, `passed_on_rerun`) is computed on
the planned history only (`Trunk.events`): the trunk as it would have been without the
App's probes, so that scores compare across modes. The probes are scored per breakage
(`breakage_reports`, `culprit_score`): the suspects finally labelled, whether exactly the
culprit, the runs it took, and how long until it was confirmed.
"""

from bot.sim.quality.alerts import Alert, alerts_for, alerts_of, labelled_for
from bot.sim.quality.culprits import (
    BREAKAGE_HEADER,
    CULPRIT_HEADER,
    RERUNS,
    WHY,
    BreakageReport,
    CulpritScore,
    attribute,
    breakage_reports,
    breakage_table,
    culprit_row,
    culprit_score,
)
from bot.sim.quality.feed import Recorder, TrunkProber, run_app
from bot.sim.quality.scores import (
    Score,
    allows_exact,
    final_conclusions,
    hindsight,
    passed_on_rerun,
    row,
    score,
)

__all__ = [
    "BREAKAGE_HEADER",
    "CULPRIT_HEADER",
    "RERUNS",
    "WHY",
    "Alert",
    "BreakageReport",
    "CulpritScore",
    "Recorder",
    "Score",
    "TrunkProber",
    "alerts_for",
    "alerts_of",
    "allows_exact",
    "attribute",
    "breakage_reports",
    "breakage_table",
    "culprit_row",
    "culprit_score",
    "final_conclusions",
    "hindsight",
    "labelled_for",
    "passed_on_rerun",
    "row",
    "run_app",
    "score",
]
