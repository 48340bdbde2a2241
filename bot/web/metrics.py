"""Prometheus metrics for `/metrics`, on a registry of their own (never the global one).

Most values already live elsewhere (the webhook view's counts, the GitHub client's
`CallStats`, the store's alerts), so they are read when Prometheus scrapes, by a custom
collector, rather than copied into counters as they change. Only the processing latency is
observed as it happens, and the inbox, the open alerts and the culprit runs and revert pull
requests asked for are read from the store just before each scrape (`refresh_inbox`,
`refresh_alerts`, `refresh_culprits`) because the store is async and collectors are not: every
replica reports the same, right after a restart too.

No series names a repository unless `repo_labels` (TRUNKWATCH_METRICS_REPOS=on) asks for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.github.client import CallStats
from bot.records import CulpritRun, Revert
from bot.runtime.recovery import RecoveryCounts
from bot.store.base import Store
from bot.tracker.model import AlertState

log = logging.getLogger(__name__)

PREFIX = "trunkwatch"
# GitHub gives up on a webhook after 10 s; processing is usually well under a second.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STORE_TIMEOUT_SECONDS = 2.0
APP_INSTALLATION = "app"  # label for calls made as the App itself (JWT), not an installation

DeliveryCounts = Mapping[tuple[str, str], int]  # (event, outcome) → deliveries


@dataclass(frozen=True)
class InboxSnapshot:
    reachable: bool
    pending: int = 0
    oldest_age_seconds: float = 0.0


class Metrics:
    """Everything `/metrics` shows. Sources are callables so they can be wired after the
    objects they read from exist; a source left unset contributes no samples."""

    def __init__(
        self,
        *,
        received: Callable[[], DeliveryCounts] | None = None,
        calls: CallStats | None = None,
        repo_labels: bool = False,
        recovery: Callable[[], RecoveryCounts] | None = None,
        failures: Callable[[], Mapping[str, int]] | None = None,
        runner_failures: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = received
        self.calls = calls
        self.repo_labels = repo_labels
        self.recovery = recovery
        self.failures = failures
        self.runner_failures = runner_failures
        self._clock = clock
        self._inbox = InboxSnapshot(reachable=False)
        self._open_alerts: list[AlertState] | None = None  # None: the store did not answer
        self._culprit_runs: Counter[tuple[str, str]] | None = None  # (kind, outcome) → runs
        self._reverts: Counter[str] | None = None  # "trunkwatch" or "person" → revert PRs
        self._latency = Histogram(
            f"{PREFIX}_delivery_processing_seconds",
            "Time from claiming a delivery to committing its results.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapeCollector(self))

    def observe(self, seconds: float) -> None:
        """One delivery processed in `seconds` (called by the worker)."""
        self._latency.observe(seconds)

    async def refresh_inbox(self, store: Store) -> InboxSnapshot:
        """Read the inbox from the store for the next scrape; unreachable after 2 s."""
        try:
            pending, oldest = await asyncio.wait_for(
                store.inbox_stats(self._clock()), STORE_TIMEOUT_SECONDS
            )
        except Exception as exc:
            log.warning("metrics: the store did not answer", extra={"error": type(exc).__name__})
            self._inbox = InboxSnapshot(reachable=False)
        else:
            self._inbox = InboxSnapshot(True, pending, oldest)
        return self._inbox

    async def refresh_alerts(self, store: Store) -> None:
        """Read the open alerts from the store for the next scrape."""
        try:
            self._open_alerts = await asyncio.wait_for(store.open_alerts(), STORE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning(
                "metrics: no open alerts from the store", extra={"error": type(exc).__name__}
            )
            self._open_alerts = None

    async def refresh_culprits(self, store: Store) -> None:
        """Count the culprit runs and the revert pull requests in the store for the next
        scrape (both tables hold a few rows per alert)."""
        try:
            runs = await asyncio.wait_for(store.find_records(CulpritRun), STORE_TIMEOUT_SECONDS)
            reverts = await asyncio.wait_for(store.find_records(Revert), STORE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning(
                "metrics: no culprit runs from the store", extra={"error": type(exc).__name__}
            )
            self._culprit_runs = self._reverts = None
            return
        self._culprit_runs = Counter((run.kind, run.outcome.split(":")[0]) for run in runs)
        self._reverts = Counter(
            "person" if revert.by else "trunkwatch" for revert in reverts if revert.number
        )

    @property
    def culprit_runs(self) -> Mapping[tuple[str, str], int] | None:
        return self._culprit_runs

    @property
    def reverts(self) -> Mapping[str, int] | None:
        return self._reverts

    @property
    def inbox(self) -> InboxSnapshot:
        return self._inbox

    @property
    def open_alerts(self) -> Iterable[AlertState] | None:
        return self._open_alerts


class _ScrapeCollector(Collector):
    """Reads the live values when the registry is collected."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._deliveries()
        yield from self._inbox()
        yield from self._github()
        yield from self._alerts()
        yield from self._culprits()
        yield from self._recovery()
        yield from self._failures()
        yield from self._runner_failures()

    def _culprits(self) -> Iterator[Metric]:
        runs, reverts = self._metrics.culprit_runs, self._metrics.reverts
        if runs is None or reverts is None:
            return
        family = CounterMetricFamily(
            f"{PREFIX}_culprit_runs",
            "Runs asked for to find a culprit: reruns and bisect tags, by whether GitHub took"
            " the request (requested) or refused it.",
            labels=["kind", "outcome"],
        )
        for kind in ("rerun", "bisect"):
            for outcome in ("requested", "refused"):
                family.add_metric([kind, outcome], runs.get((kind, outcome), 0))
        yield family
        opened = CounterMetricFamily(
            f"{PREFIX}_reverts",
            "Revert pull requests opened, by who asked: trunkwatch by itself (culprit.revert:"
            " auto) or a person (`/trunkwatch revert`).",
            labels=["by"],
        )
        for by in ("trunkwatch", "person"):
            opened.add_metric([by], reverts.get(by, 0))
        yield opened

    def _runner_failures(self) -> Iterator[Metric]:
        source = self._metrics.runner_failures
        if source is None:
            return
        family = GaugeMetricFamily(
            f"{PREFIX}_runner_failures",
            "Job failures on the retained commits that were the runner's, not the code's (failed"
            " before any step failed, or an outage of one runner type), by group.",
            labels=["group"],
        )
        for group, count in sorted(source().items()):
            family.add_metric([group], count)
        yield family

    def _failures(self) -> Iterator[Metric]:
        source = self._metrics.failures
        if source is None:
            return
        counts = source()
        family = CounterMetricFamily(
            f"{PREFIX}_delivery_failures",
            "Failed attempts at processing a delivery: retried (later, with backoff), or dead "
            "(given up: its effects on GitHub are not applied; logged with its error).",
            labels=["outcome"],
        )
        for outcome in ("retried", "dead"):
            family.add_metric([outcome], counts.get(outcome, 0))
        yield family

    def _recovery(self) -> Iterator[Metric]:
        source = self._metrics.recovery
        if source is None:
            return
        counts = source()
        family = CounterMetricFamily(
            f"{PREFIX}_recovery_passes",
            "Passes over GitHub's record of the App's deliveries, by outcome (scanned; "
            "skipped: another replica held the lease; gap: could not read back far enough).",
            labels=["outcome"],
        )
        family.add_metric(["scanned"], counts.passes)
        family.add_metric(["skipped"], counts.skipped)
        family.add_metric(["gap"], counts.gaps)
        yield family
        asked = CounterMetricFamily(
            f"{PREFIX}_redeliveries_requested",
            "Missed deliveries GitHub was asked to send again, by whether it accepted.",
            labels=["outcome"],
        )
        asked.add_metric(["accepted"], counts.requested)
        asked.add_metric(["refused"], counts.refused)
        yield asked

    def _deliveries(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            f"{PREFIX}_deliveries_received",
            "Webhook deliveries received, by event and outcome (accepted, duplicate, …).",
            labels=["event", "outcome"],
        )
        source = self._metrics.received
        for (event, outcome), count in sorted((source() if source else {}).items()):
            family.add_metric([event, outcome], count)
        yield family

    def _inbox(self) -> Iterator[Metric]:
        inbox = self._metrics.inbox
        yield GaugeMetricFamily(
            f"{PREFIX}_store_up",
            "1 when the store answered the last scrape's inbox query within 2 s.",
            value=1 if inbox.reachable else 0,
        )
        if not inbox.reachable:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_inbox_pending",
            "Deliveries acknowledged but not yet finished (pending or being processed).",
            value=inbox.pending,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_inbox_oldest_age_seconds",
            "Age of the oldest unfinished delivery; 0 when the inbox is empty.",
            value=inbox.oldest_age_seconds,
        )

    def _github(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            f"{PREFIX}_github_api_calls",
            "GitHub API calls by method, endpoint template and status (0: no answer).",
            labels=["method", "endpoint", "status"],
        )
        remaining = GaugeMetricFamily(
            f"{PREFIX}_github_rate_limit_remaining",
            "Requests left in the current rate-limit window, as GitHub last reported it.",
            labels=["installation"],
        )
        stats = self._metrics.calls
        if stats is not None:
            for key, count in sorted(stats.items()):
                calls.add_metric([key.method, key.endpoint, str(key.status)], count)
            for installation, left in sorted(
                stats.rate_limit_remaining.items(), key=lambda item: str(item[0])
            ):
                label = APP_INSTALLATION if installation is None else str(installation)
                remaining.add_metric([label], left)
        yield calls
        yield remaining

    def _alerts(self) -> Iterator[Metric]:
        alerts = self._metrics.open_alerts
        if alerts is None:
            return
        with_repos = self._metrics.repo_labels
        family = GaugeMetricFamily(
            f"{PREFIX}_open_alerts",
            "Open alerts in the store, by "
            + ("repository, branch and group." if with_repos else "group."),
            labels=["repo", "branch", "group"] if with_repos else ["group"],
        )
        counts: Counter[tuple[str, ...]] = Counter()
        for alert in alerts:
            if alert.open:
                counts[
                    (alert.repo, alert.branch, alert.group) if with_repos else (alert.group,)
                ] += 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family
