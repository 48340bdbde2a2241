"""Alert quality on busy trunks with live arrival, beside a plain rule with hindsight.

Each seed generates a trunk (`bot.sim.trunksim`: ~100 jobs in 5 workflows, pushes of 1-4
commits every few minutes, jobs of 15 min to 2.5 h whose results interleave, flakes,
reruns, superseded runs, runner outages, late deliveries and 5 real breakages) and feeds its
deliveries, in arrival order, through the App's handlers, engine and tracker (the replay
path: what `serve` does with each delivery, without the inbox). Where the repository sends
no `workflow_job` events, the jobs of failed runs are listed over HTTP from the simulated
GitHub, as they stand when the run completes.

The plain rule is scored on the same history, with hindsight: every result known, the
latest attempt of each job counting, an alert for each stretch where some job failed on
`threshold` commits in a row (commits without its result skipped), its suspects the
commits after the job's last pass up to its first failure.

    python bench/quality.py [--commits 1000] [--seeds 1 2 3]
                            [--modes jobs runs blind stacks overlap] [--culprit]
                            [--per-breakage] [--max-runs 6] [--stack 2 4] [--fix-commits 6 40]
                            [--revert off|auto] [--max-reverts-per-day 2] [--wait 30m]
                            [--confirm-before-filing] [--bisect-at-once 3]

Modes: `jobs`, the repository sends `workflow_job` events; `runs`, it does not (jobs listed
from the simulated GitHub); `blind`, `workflow_job` events but no announcements (no
`requested`, `queued`, `in_progress`): the App as it was before it tracked pending results,
on the same histories; `stacks`, `workflow_job` events on other histories, where pushes
land 2-4 commits (`--stack`) and the workflows run on the last commit of each push only, so
that most culprits never ran until the App runs them (a bisect tag); `overlap`, `workflow_job`
events on histories where each breakage lasting over 20 commits has a second one in its
group, from a later culprit while it is still red, in other jobs (the culprit table is then
per breakage: the suspects of the alert's breakage that holds its jobs).

Columns: alerts; false alarms (matching no real breakage) and, apart, those withdrawn
because every failure passed on a rerun; duplicates (more than one alert for a breakage);
recall; the culprit among the suspects when they were first labelled; the suspects exactly
the culprit when first labelled, of the breakages whose history allows it (the culprit's own
run reported a failure and its parent's passed), and again of the labelled breakages whose
results known *when they were labelled* allowed it (after `suspects.wait` an alert labels
with its parent's run still going: exactness was not yet possible; the culprit's run counts
once every job of the breakage reported there, and without `workflow_job` events a job is
known once its run completed, when the App lists its jobs); and the median commits
and minutes from the culprit's push to the alert.

`--culprit` adds a table of culprit confirmation: the breakages whose suspects were, when
last labelled, exactly the culprit, and why the others were not (no alert; the range too
wide to label; the run budget, `--max-runs`, spent; the culprit not among them; the culprit
among them but confirmed only after the alert recovered, its fix in before the runs that
confirm it reported (the labels go at the close); left unconfirmed); breakages whose culprit
was confirmed; the runs (reruns and bisect tags) the App asked for per breakage; the minutes
from the alert to the confirmation; alerts on failures that passed on a rerun, withdrawn as
flaky or left standing; culprits confirmed that broke nothing; revert PRs opened (with
`--revert auto`: the App opens one by itself for each confirmed culprit, within
`max_reverts_per_day`) and how many of them were wrong; the breakages whose confirmed
culprit got one. `--per-breakage` prints each breakage; `--bisect-at-once 2` measures the
bisection that spends fewer runs, later (`culprit.bisect_at_once`). The truth (and the
plain rule) is that of the trunk without the App's runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config.files import load_text
from bot.sim.quality import (
    CULPRIT_HEADER,
    CulpritScore,
    Score,
    alerts_of,
    breakage_reports,
    breakage_table,
    culprit_row,
    culprit_score,
    hindsight,
    row,
    run_app,
    score,
)
from bot.sim.trunksim import CONFIG, Knobs, Trunk

MODES = {
    "jobs": "`workflow_job` events",
    "runs": "`workflow_run` only (jobs listed)",
    "blind": "`workflow_job` events, pending results not tracked",
    "stacks": "`workflow_job` events, runs on the last commit of each push",
    "overlap": "`workflow_job` events, two breakages at once in a group",
}

HEADER = (
    "| rule, same histories | alerts | false alarms | withdrawn: passed on rerun | duplicates "
    "| recall | culprit in first labelled suspects | exactly the culprit (where allowed) "
    "| exactly the culprit (where allowed when labelled) "
    "| commits to alert (median) | minutes to alert (median) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--modes", nargs="+", default=["jobs", "runs"], choices=MODES)
    parser.add_argument("--wait", default=None, help="suspects.wait (default: 30m)")
    parser.add_argument("--culprit", action="store_true", help="the culprit table too")
    parser.add_argument("--per-breakage", action="store_true", help="each breakage too")
    parser.add_argument("--max-runs", type=int, default=6, help="culprit.max_runs")
    parser.add_argument(
        "--bisect-at-once", type=int, default=None, help="culprit.bisect_at_once (default: 3)"
    )
    parser.add_argument("--stack", type=int, nargs=2, default=[2, 4], metavar=("FEWEST", "MOST"))
    parser.add_argument(
        "--fix-commits",
        type=int,
        nargs=2,
        default=None,
        metavar=("FEWEST", "MOST"),
        help="fixes land this many commits after their culprit (default: 1.5-6 h after it)",
    )
    parser.add_argument(
        "--confirm-before-filing",
        action="store_true",
        help="culprit.confirm_before_filing: true (alerts filed once their rerun failed again)",
    )
    parser.add_argument(
        "--revert",
        choices=["off", "auto"],
        default="off",
        help="culprit.revert (auto: a revert PR for each confirmed culprit, as the App decides)",
    )
    parser.add_argument(
        "--max-reverts-per-day",
        type=int,
        default=None,
        help="culprit.max_reverts_per_day (default: 2)",
    )
    args = parser.parse_args(argv)
    text = CONFIG + (f"suspects: {{wait: {args.wait}}}\n" if args.wait else "")
    culprit_keys = [f"revert: {args.revert}"]
    if args.max_reverts_per_day is not None:
        culprit_keys.append(f"max_reverts_per_day: {args.max_reverts_per_day}")
    if args.bisect_at_once is not None:
        culprit_keys.append(f"bisect_at_once: {args.bisect_at_once}")
    if args.confirm_before_filing:
        culprit_keys.append("confirm_before_filing: true")
    text += "culprit: {" + ", ".join(culprit_keys) + "}\n"
    config = load_text(text, "bench")
    threshold, max_prs = config.groups[0].threshold, config.suspects.max_prs
    rows: list[str] = []
    culprit_rows: list[str] = []
    tables: list[str] = []
    plain = Score()
    for mode in args.modes:
        total, culprit, deliveries, started = Score(), CulpritScore(), 0, time.perf_counter()
        for seed in args.seeds:
            knobs = Knobs(
                commits=args.commits,
                seed=seed,
                workflow_jobs=mode != "runs",
                announcements=mode != "blind",
            )
            if args.fix_commits:
                knobs.fix_commits = (args.fix_commits[0], args.fix_commits[1])
            knobs.overlap = mode == "overlap"
            if mode == "stacks":
                knobs.last_commit_only, knobs.stack = True, (args.stack[0], args.stack[1])
            trunk = Trunk(knobs)
            filed: dict[str, int] | None = {} if args.confirm_before_filing else None
            taken = await run_app(trunk, config, filed=filed)
            deliveries += sum(1 for _ in trunk.deliveries())
            alerts = alerts_of(trunk, taken, max_prs, filed)
            total.add(score(trunk, alerts, max_prs))
            reports = breakage_reports(trunk, alerts, taken, args.max_runs)
            culprit.add(culprit_score(trunk, alerts, reports))
            tables.append(f"\n{mode}, seed {seed}:\n\n{breakage_table(reports)}")
            if mode == args.modes[0]:
                plain.add(score(trunk, hindsight(trunk, threshold), max_prs))
        seconds = time.perf_counter() - started
        what = MODES[mode] + (", confirmed before filing" if args.confirm_before_filing else "")
        rows.append(row(f"trunkwatch, {what}", total, True))
        culprit_rows.append(culprit_row(f"trunkwatch, {what}", culprit))
        print(f"# {mode}: {deliveries:,} deliveries in {seconds:.0f} s", file=sys.stderr)
    rows.append(row(f"plain {threshold} in a row, with hindsight", plain, False))
    seeds = ", ".join(map(str, args.seeds))
    wait = f", suspects.wait {args.wait}" if args.wait else ""
    print(f"{len(args.seeds)} trunks of {args.commits:,} commits (seeds {seeds}{wait}):\n")
    print(HEADER)
    print("\n".join(rows))
    if args.culprit:
        reverts = f"revert {args.revert}, max_reverts_per_day {config.culprit.max_reverts_per_day}"
        reverts += f", bisect_at_once {config.culprit.bisect_at_once}"
        print(f"\nCulprit confirmation (culprit.max_runs {args.max_runs}, {reverts}):\n")
        print(CULPRIT_HEADER)
        print("\n".join(culprit_rows))
    if args.per_breakage:
        print("\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
