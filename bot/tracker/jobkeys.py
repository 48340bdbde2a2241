"""Job keys: which jobs a group watches, and how their names are normalized.

All shards of one test suite form one job key unless a group asks to split them:
`test (inductor_torchbench, 2, 4, linux.g5.4xlarge)` counts as
`test (inductor_torchbench, linux.g5.4xlarge)`.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from bot.tracker.model import GroupRule, JobKey

_PARENTHESISED = re.compile(r"\(([^()]*)\)")


def _drop_shard_pair(match: re.Match[str]) -> str:
    items = [item.strip() for item in match.group(1).split(",")]
    for i in range(len(items) - 1):
        if items[i].isdigit() and items[i + 1].isdigit():
            return "(" + ", ".join(items[:i] + items[i + 2 :]) + ")"
    return match.group(0)


def shard_of(name: str) -> tuple[int, int] | None:
    """The (shard, of shards) pair of a sharded job's name, e.g. (2, 4); None if unsharded."""
    for match in _PARENTHESISED.finditer(name):
        items = [item.strip() for item in match.group(1).split(",")]
        for i in range(len(items) - 1):
            if items[i].isdigit() and items[i + 1].isdigit():
                return int(items[i]), int(items[i + 1])
    return None


def normalize_job_name(name: str, split_shards: bool = False) -> str:
    """The job name with shard numbers dropped from its parenthesised lists.

    Two consecutive integer items of a parenthesised list are the shard pair (`2, 4` of
    `(default, 2, 4, linux.2xlarge)`); other text is kept as it is.
    """
    if split_shards or "(" not in name:
        return name
    return _PARENTHESISED.sub(_drop_shard_pair, name)


def key_for(workflow: str, job: str, rule: GroupRule) -> JobKey:
    """The key under which `rule`'s group counts the job ("" = the whole run)."""
    return JobKey(workflow, normalize_job_name(job, rule.split_shards))


def rule_matches(rule: GroupRule, workflow: str, job: str) -> bool:
    """Whether the group watches this job (case-sensitive globs; exclusions win).

    A workflow-level result has job "", which `*` matches.
    """
    if not any(fnmatchcase(workflow, pattern) for pattern in rule.workflows):
        return False
    if any(fnmatchcase(job, pattern) for pattern in rule.exclude_jobs):
        return False
    return any(fnmatchcase(job, pattern) for pattern in rule.jobs)


def watches_workflow(rule: GroupRule, workflow: str) -> bool:
    return any(fnmatchcase(workflow, pattern) for pattern in rule.workflows)
