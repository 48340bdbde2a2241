"""Who may change state: write, maintain or admin on the repository.

Asked of the collaborator permission API and cached for a minute, so a comment with several
commands, or a busy thread, costs one call per person.
"""

from __future__ import annotations

import gidgethub
from cachetools import TTLCache
from gidgethub.abc import GitHubAPI

from bot.github.rest import CollaboratorPermission

PERMISSION_PATH = "/repos/{owner}/{repo}/collaborators/{username}/permission"
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
# The legacy `permission` field: maintain reads as "write", triage as "read".
WRITE_PERMISSIONS = frozenset({"admin", "write"})
CACHE_SECONDS = 60.0

_cache: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=4096, ttl=CACHE_SECONDS)


def grants_write(answer: CollaboratorPermission) -> bool:
    """Whether a permission answer allows changing state. `role_name` names custom roles
    too (which are not listed here); their base permission is in `permission`."""
    role = str(answer.get("role_name") or "").lower()
    if role in WRITE_ROLES:
        return True
    return str(answer.get("permission") or "").lower() in WRITE_PERMISSIONS


async def can_write(gh: GitHubAPI, repo: str, login: str) -> bool:
    """Whether `login` has write, maintain or admin on `repo` ("owner/name")."""
    key = (repo.lower(), login.lower())
    cached = _cache.get(key)
    if cached is not None:
        return cached
    owner, _, name = repo.partition("/")
    answer: CollaboratorPermission | None = None
    try:
        answer = await gh.getitem(
            PERMISSION_PATH, {"owner": owner, "repo": name, "username": login}
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code != 404:  # 404: not a collaborator, or no such user
            raise
    allowed = isinstance(answer, dict) and grants_write(answer)
    _cache[key] = allowed
    return allowed


def forget() -> None:
    """Drop every cached answer (tests; a permission change that must count at once)."""
    _cache.clear()
