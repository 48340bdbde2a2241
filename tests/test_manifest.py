"""`app.yml`, the GitHub App manifest, asks for exactly the events the handlers route and the
permissions the code's API calls need.

The calls are found by reading `bot/` (not by running it): every `gh.getitem/getiter/post/
patch/put/delete(PATH, …)` whose path can be resolved gives its method, and every other API
path literal counts as a read. A path no rule below knows fails the test, so a new endpoint
cannot slip in without deciding which permission it needs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.handlers import EVENTS, INTERNAL_EVENTS, router

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "app.yml"
# GitHub sends these to every App and refuses them in `default_events`.
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories"})
# The fake GitHub (its own routes) and the demo (which reads the fake GitHub) make no calls as
# the App.
NOT_THE_APP = ("sim/simulated_github/", "sim/demo.py")
CALL_METHODS = {
    "getitem": "GET",
    "getiter": "GET",
    "post": "POST",
    "patch": "PATCH",
    "put": "PUT",
    "delete": "DELETE",
}
API_PATH = re.compile(r"^/(repos|search|app|orgs|users|installation)(/|$)")
LEVELS = {"read": 1, "write": 2}
# Receiving an event needs read access to what it is about.
EVENT_PERMISSIONS = {
    "push": "contents",
    "workflow_run": "actions",
    "workflow_job": "actions",
    "issue_comment": "issues",
    "issues": "issues",
}
# First match wins; None: no installation permission (JWT as the App).
# Paths are normalized: every `{…}` is `{}` and templated queries are dropped.
PERMISSION_RULES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"^/app$"), None),
    (re.compile(r"^/app/installations$"), None),  # as the App itself (its JWT)
    (re.compile(r"^/installation/repositories$"), "metadata"),
    (re.compile(r"^/app/hook/deliveries(/|$)"), None),  # the App's own webhook log (JWT)
    (re.compile(r"^/repos/\{\}(/\{\})?/actions/"), "actions"),
    (re.compile(r"^/repos/\{\}(/\{\})?/(contents|compare)/"), "contents"),
    (re.compile(r"^/repos/\{\}/\{\}/git/refs(/|$)"), "contents"),  # bisect tags
    (re.compile(r"^/repos/\{\}/\{\}/commits/\{\}/pulls$"), "pull_requests"),
    (re.compile(r"^/repos/\{\}/\{\}/commits/\{\}$"), "contents"),
    (re.compile(r"^/repos/\{\}/\{\}/commits$"), "contents"),  # the branch history (backtest)
    (re.compile(r"^/repos/\{\}/\{\}/pulls(/|$)"), "pull_requests"),
    (re.compile(r"^/repos/\{\}/\{\}/collaborators/\{\}/permission$"), "metadata"),
    (re.compile(r"^/repos/\{\}/\{\}$"), "metadata"),
    (re.compile(r"^/repos/\{\}/\{\}/(issues|labels)(/|$)"), "issues"),
    (re.compile(r"^/search/issues$"), "issues"),
]


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


# --- events ------------------------------------------------------------------------------


def routed_events() -> set[str]:
    return set(router._shallow_routes) | set(router._deep_routes)


def test_manifest_events_are_the_routed_events() -> None:
    events = manifest()["default_events"]
    assert len(events) == len(set(events)), "an event is listed twice"
    assert routed_events() - INTERNAL_EVENTS == set(events) | ALWAYS_DELIVERED
    # The webhook accepts exactly what is routed, but the App's own timers.
    assert set(EVENTS) == routed_events() - INTERNAL_EVENTS


def test_always_delivered_events_are_not_subscribed() -> None:
    # GitHub rejects a manifest that names them; they arrive anyway.
    assert not set(manifest()["default_events"]) & ALWAYS_DELIVERED
    assert routed_events() >= ALWAYS_DELIVERED


def test_manifest_has_what_the_manifest_flow_needs() -> None:
    app = manifest()
    assert app["name"]
    assert app["url"].startswith("https://")
    assert app["hook_attributes"]["url"].endswith("/webhook")
    assert app["hook_attributes"].get("active", True) is True
    assert app["redirect_url"].startswith("https://")
    assert app["public"] is False
    for permission, level in app["default_permissions"].items():
        assert level in LEVELS, f"{permission}: {level!r}"


# --- permissions -------------------------------------------------------------------------


def _text(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The path an expression spells, as far as it can be read without running it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part, constants) or "{}" for part in node.values)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Attribute):  # issues.COMMENTS_PATH
        return constants.get(node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left, constants)
    return None


def _normalize(path: str) -> str:
    path = re.sub(r"\{\?[^}]*\}", "", path).split("?", 1)[0]
    return re.sub(r"\{[^}]*\}", "{}", path)


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / "bot").rglob("*.py")):
        name = path.relative_to(ROOT / "bot").as_posix()
        if not name.startswith(NOT_THE_APP):
            yield name, ast.parse(path.read_text(), filename=str(path))


def api_calls() -> set[tuple[str, str, str]]:
    """(method, normalized path, module) of every API call in bot/."""
    modules = list(_modules())
    constants: dict[str, str] = {}
    for _, tree in modules:
        for statement in tree.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
                and API_PATH.match(statement.value.value)
            ):
                constants[statement.targets[0].id] = statement.value.value
    calls: set[tuple[str, str, str]] = set()
    for name, tree in modules:
        # The literal pieces of an f-string are not paths of their own.
        pieces = {
            id(part)
            for node in ast.walk(tree)
            if isinstance(node, ast.JoinedStr)
            for part in node.values
        }
        for node in ast.walk(tree):
            if id(node) in pieces:
                continue
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CALL_METHODS
                and node.args
            ):
                path = _text(node.args[0], constants)
                if path and API_PATH.match(path):
                    calls.add((CALL_METHODS[node.func.attr], _normalize(path), name))
            elif isinstance(node, ast.Constant | ast.JoinedStr):
                path = _text(node, constants)
                if path and API_PATH.match(path):
                    calls.add(("GET", _normalize(path), name))
    return calls


def needed_permissions() -> tuple[dict[str, str], list[str]]:
    """permission → level the code needs, and the calls no rule knows."""
    needed: dict[str, str] = {}
    unknown: list[str] = []

    def need(permission: str, level: str) -> None:
        if LEVELS[level] > LEVELS.get(needed.get(permission, ""), 0):
            needed[permission] = level

    for method, path, module in sorted(api_calls()):
        rule = next((perm for pattern, perm in PERMISSION_RULES if pattern.search(path)), "?")
        if rule == "?":
            unknown.append(f"{method} {path} ({module})")
        elif rule is not None:
            need(rule, "read" if method == "GET" else "write")
    for event in manifest()["default_events"]:
        need(EVENT_PERMISSIONS[event], "read")
    need("metadata", "read")  # every App has it; GitHub adds it when missing
    return needed, unknown


def test_the_scan_finds_the_calls_it_should() -> None:
    calls = {(method, path) for method, path, _ in api_calls()}
    assert ("POST", "/repos/{}/{}/issues") in calls
    assert ("GET", "/repos/{}/contents/{}") in calls
    assert ("POST", "/repos/{}/{}/actions/runs/{}/rerun-failed-jobs") in calls
    assert ("DELETE", "/repos/{}/{}/issues/{}/labels/{}") in calls


def test_every_api_call_has_a_permission_rule() -> None:
    _, unknown = needed_permissions()
    assert not unknown, "decide which permission these need (PERMISSION_RULES):\n" + "\n".join(
        unknown
    )


def test_manifest_grants_every_permission_the_code_needs() -> None:
    needed, _ = needed_permissions()
    granted = manifest()["default_permissions"]
    missing = {
        permission: level
        for permission, level in needed.items()
        if LEVELS[level] > LEVELS.get(granted.get(permission, ""), 0)
    }
    assert not missing, f"app.yml lacks {missing}"


def test_manifest_grants_no_permission_the_code_does_not_use() -> None:
    needed, _ = needed_permissions()
    assert set(manifest()["default_permissions"]) == set(needed)


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs{?per_page}", "actions"),
        ("/repos/{owner}/{repo}/compare/{basehead}{?per_page}", "contents"),
        ("/repos/{owner}/{repo}/commits/{sha}/pulls{?per_page}", "pull_requests"),
        ("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", "issues"),
        ("/repos/{owner}/{repo}/collaborators/{username}/permission", "metadata"),
        ("/app", None),
    ],
)
def test_permission_rules(path: str, permission: str | None) -> None:
    normalized = _normalize(path)
    assert next(perm for pattern, perm in PERMISSION_RULES if pattern.search(normalized)) == (
        permission
    )
