"""The schema, as an ordered list of versioned migrations (applied by `migrations`).

Migrations are never edited once released; a change is a new version.

The SQL is SQLite's, written to stay portable: standard types (TEXT, BIGINT, BOOLEAN,
DOUBLE PRECISION), no AUTOINCREMENT or STRICT, ordering by explicit `seq` columns. The
PostgreSQL backend carries the same versions with the same intent (BLOB → BYTEA).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


OPEN_STATUSES = "('pending', 'processing')"  # deliveries still to be finished

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "inbox, trunk commits, job results, alerts",
        (
            """
            CREATE TABLE deliveries (
                delivery_id     TEXT NOT NULL PRIMARY KEY,
                seq             BIGINT NOT NULL UNIQUE,  -- arrival order
                event           TEXT NOT NULL,
                repo            TEXT NOT NULL,  -- '' for events without a repository
                installation_id BIGINT,
                body            BLOB NOT NULL,
                received_at     DOUBLE PRECISION NOT NULL,
                status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'processing', 'done', 'dead')),
                attempts        INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
                last_error      TEXT NOT NULL DEFAULT '',
                claimed_by      TEXT,
                lease_until     DOUBLE PRECISION
            )
            """,
            f"""
            CREATE INDEX deliveries_open_by_repo ON deliveries (repo, seq)
            WHERE status IN {OPEN_STATUSES}
            """,
            "CREATE INDEX deliveries_by_status ON deliveries (status, seq)",
            """
            CREATE TABLE commits (
                repo      TEXT NOT NULL,
                branch    TEXT NOT NULL,
                sha       TEXT NOT NULL,
                parent    TEXT,
                message   TEXT NOT NULL,
                author    TEXT NOT NULL,
                timestamp TEXT NOT NULL,
                url       TEXT NOT NULL,
                seq       BIGINT NOT NULL,  -- order of recording, per repository
                PRIMARY KEY (repo, branch, sha),
                UNIQUE (repo, seq)
            )
            """,
            """
            CREATE TABLE job_results (
                repo         TEXT NOT NULL,
                branch       TEXT NOT NULL,
                head_sha     TEXT NOT NULL,
                workflow     TEXT NOT NULL,
                job          TEXT NOT NULL,
                run_id       BIGINT NOT NULL,
                run_attempt  INTEGER NOT NULL,
                conclusion   TEXT,
                job_id       BIGINT NOT NULL,
                url          TEXT NOT NULL,
                completed_at TEXT NOT NULL,
                delivery_id  TEXT NOT NULL,
                seq          BIGINT NOT NULL,  -- order of recording, per repository
                PRIMARY KEY (repo, run_id, run_attempt, job, job_id),
                UNIQUE (repo, seq)
            )
            """,
            "CREATE INDEX job_results_by_commit ON job_results (repo, branch, head_sha)",
            """
            CREATE TABLE alerts (
                alert      TEXT NOT NULL PRIMARY KEY,
                repo       TEXT NOT NULL,
                branch     TEXT NOT NULL,
                group_name TEXT NOT NULL,
                seq        INTEGER NOT NULL,
                open       BOOLEAN NOT NULL,
                opened_at  TEXT NOT NULL,
                closed_at  TEXT,
                reason     TEXT,
                details    TEXT NOT NULL  -- the rest of the AlertState, as codec JSON
            )
            """,
            "CREATE INDEX alerts_by_group ON alerts (repo, branch, group_name, seq)",
        ),
    ),
    Migration(
        2,
        "installations and key/value state",
        (
            """
            CREATE TABLE installations (
                installation_id BIGINT NOT NULL PRIMARY KEY,
                account         TEXT NOT NULL,
                suspended       BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE installation_repos (
                installation_id BIGINT NOT NULL
                    REFERENCES installations (installation_id) ON DELETE CASCADE,
                repo            TEXT NOT NULL,
                position        INTEGER NOT NULL,
                PRIMARY KEY (installation_id, repo)
            )
            """,
            "CREATE INDEX installation_repos_by_repo ON installation_repos (repo)",
            """
            CREATE TABLE state (
                namespace  TEXT NOT NULL,
                key        TEXT NOT NULL,
                value      TEXT NOT NULL,  -- JSON
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (namespace, key)
            )
            """,
        ),
    ),
    Migration(
        3,
        "a change counter per repository; claimed deliveries by repository",
        (
            # Bumped with every write of a repository's facts, so that a replica can tell
            # that another one changed the repository since it loaded it.
            """
            CREATE TABLE repo_versions (
                repo    TEXT NOT NULL PRIMARY KEY,
                version BIGINT NOT NULL
            )
            """,
            # A claim asks whether a repository has a delivery under a live lease.
            """
            CREATE INDEX deliveries_processing_by_repo ON deliveries (repo)
            WHERE status = 'processing'
            """,
        ),
    ),
    Migration(
        4,
        "pending results (requested, queued, in progress), infrastructure failures",
        (
            "ALTER TABLE job_results ADD COLUMN status TEXT NOT NULL DEFAULT 'completed'",
            "ALTER TABLE job_results ADD COLUMN started_at TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE job_results ADD COLUMN infra BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE job_results ADD COLUMN runner TEXT NOT NULL DEFAULT ''",
        ),
    ),
    Migration(
        5,
        "recovering missed deliveries: leases, the hook-delivery cursor, redeliveries asked for",
        (
            # A named lease (one replica scans GitHub's delivery log at a time).
            """
            CREATE TABLE leases (
                name   TEXT NOT NULL PRIMARY KEY,
                holder TEXT NOT NULL,
                until  DOUBLE PRECISION NOT NULL
            )
            """,
            # The newest of GitHub's hook deliveries (their numeric id) already looked at.
            """
            CREATE TABLE hook_cursor (
                name       TEXT NOT NULL PRIMARY KEY,
                newest_id  BIGINT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )
            """,
            # The redeliveries asked for: a delivery (guid) is asked for again only after the
            # attempt asked for has itself failed, and a few times at most.
            """
            CREATE TABLE hook_redeliveries (
                guid             TEXT NOT NULL PRIMARY KEY,
                hook_delivery_id BIGINT NOT NULL,  -- the newest attempt asked about
                requests         INTEGER NOT NULL,
                requested_at     DOUBLE PRECISION NOT NULL
            )
            """,
        ),
    ),
    Migration(
        6,
        "typed records of the actions (bot.records), in place of the key/value state",
        (
            """
            CREATE TABLE alert_issues (
                alert      TEXT NOT NULL PRIMARY KEY,
                repo       TEXT NOT NULL,
                branch     TEXT NOT NULL,
                group_name TEXT NOT NULL,
                number     BIGINT NOT NULL,
                url        TEXT NOT NULL,
                state      TEXT NOT NULL,
                closed_by  TEXT NOT NULL,
                owners     TEXT NOT NULL,  -- JSON list
                opened_at  DOUBLE PRECISION NOT NULL,
                jobs       TEXT NOT NULL,  -- JSON list
                suspects   TEXT NOT NULL,  -- JSON list
                body_hash  TEXT NOT NULL,
                updates    INTEGER NOT NULL,
                previous   TEXT  -- JSON {"number", "url"}
            )
            """,
            "CREATE INDEX alert_issues_by_number ON alert_issues (repo, number)",
            "CREATE INDEX alert_issues_by_group ON alert_issues (repo, branch, group_name)",
            """
            CREATE TABLE escalations (
                alert         TEXT NOT NULL PRIMARY KEY,
                repo          TEXT NOT NULL,
                number        BIGINT NOT NULL,
                due           DOUBLE PRECISION NOT NULL,
                after_seconds DOUBLE PRECISION NOT NULL,
                owners        TEXT NOT NULL,  -- JSON list
                installation  BIGINT,
                state         TEXT NOT NULL
                    CHECK (state IN ('pending', 'acked', 'done', 'cancelled')),
                acked_by      TEXT,
                app_slug      TEXT NOT NULL,
                prefix        TEXT NOT NULL,
                claimed_until DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX escalations_due ON escalations (due) WHERE state = 'pending'",
            """
            CREATE TABLE suspect_prs (
                alert   TEXT NOT NULL PRIMARY KEY,
                prs     TEXT NOT NULL,  -- JSON {"<pr>": {"author", "url", "labelled", …}}
                cleared TEXT NOT NULL   -- JSON list of PR numbers
            )
            """,
            """
            CREATE TABLE suspect_holds (
                repo  TEXT NOT NULL,
                pr    BIGINT NOT NULL,
                alert TEXT NOT NULL,
                PRIMARY KEY (repo, pr, alert)
            )
            """,
            """
            CREATE TABLE mutes (
                repo       TEXT NOT NULL,
                group_name TEXT NOT NULL,
                until      DOUBLE PRECISION NOT NULL,
                by_user    TEXT NOT NULL,
                PRIMARY KEY (repo, group_name)
            )
            """,
            """
            CREATE TABLE snoozes (
                repo        TEXT NOT NULL,
                branch      TEXT NOT NULL,
                group_name  TEXT NOT NULL,
                until       DOUBLE PRECISION NOT NULL,
                by_user     TEXT NOT NULL,
                until_green BOOLEAN NOT NULL,
                alert       TEXT NOT NULL,
                PRIMARY KEY (repo, branch, group_name)
            )
            """,
            """
            CREATE TABLE acks (
                alert   TEXT NOT NULL PRIMARY KEY,
                by_user TEXT NOT NULL,
                at_time DOUBLE PRECISION NOT NULL
            )
            """,
            """
            CREATE TABLE config_reports (
                repo   TEXT NOT NULL PRIMARY KEY,
                state  TEXT NOT NULL,
                digest TEXT NOT NULL,
                number BIGINT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        7,
        "culprit runs (reruns and bisect tags) and revert PRs",
        (
            """
            CREATE TABLE culprit_runs (
                alert    TEXT NOT NULL,
                probe    TEXT NOT NULL,
                repo     TEXT NOT NULL,
                kind     TEXT NOT NULL CHECK (kind IN ('rerun', 'bisect')),
                sha      TEXT NOT NULL,
                workflow TEXT NOT NULL,
                job      TEXT NOT NULL,
                job_id   BIGINT NOT NULL,
                run_id   BIGINT NOT NULL,
                tag      TEXT NOT NULL,
                at_time  DOUBLE PRECISION NOT NULL,
                outcome  TEXT NOT NULL,
                PRIMARY KEY (alert, probe)
            )
            """,
            "CREATE INDEX culprit_runs_by_tag ON culprit_runs (repo, tag)",
            """
            CREATE TABLE reverts (
                repo     TEXT NOT NULL,
                pr       BIGINT NOT NULL,
                alert    TEXT NOT NULL,
                sha      TEXT NOT NULL,
                number   BIGINT NOT NULL,
                url      TEXT NOT NULL,
                by_user  TEXT NOT NULL,
                at_time  DOUBLE PRECISION NOT NULL,
                state    TEXT NOT NULL,
                PRIMARY KEY (repo, pr)
            )
            """,
        ),
    ),
    Migration(
        8,
        "breakages: suspect label holds per (alert, breakage), the breakages an issue showed",
        (
            # NULL: not known (the issue was filed before this version).
            "ALTER TABLE alert_issues ADD COLUMN breakages TEXT",  # JSON list
            # A primary key cannot be altered in SQLite: the table is copied. A hold kept
            # before this version is one of the alert as a whole (breakage '').
            """
            CREATE TABLE suspect_holds_by_breakage (
                repo     TEXT NOT NULL,
                pr       BIGINT NOT NULL,
                alert    TEXT NOT NULL,
                breakage TEXT NOT NULL,
                PRIMARY KEY (repo, pr, alert, breakage)
            )
            """,
            """
            INSERT INTO suspect_holds_by_breakage (repo, pr, alert, breakage)
            SELECT repo, pr, alert, '' FROM suspect_holds
            """,
            "DROP TABLE suspect_holds",
            "ALTER TABLE suspect_holds_by_breakage RENAME TO suspect_holds",
        ),
    ),
    Migration(
        9,
        "culprit runs: how often GitHub refused one (a rerun while its run still runs)",
        ("ALTER TABLE culprit_runs ADD COLUMN refusals BIGINT NOT NULL DEFAULT 0",),
    ),
)


LATEST_VERSION = MIGRATIONS[-1].version
REPO_VERSIONS_SINCE = 3  # a store stopped at an older schema (tests) counts no versions


def check_order(migrations: tuple[Migration, ...]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1, 2, 3, … in order; got {versions}")


check_order(MIGRATIONS)
