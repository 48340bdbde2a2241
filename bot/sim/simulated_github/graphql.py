"""The simulated GraphQL endpoint: the `revertPullRequest` mutation, and nothing else.

The query is read loosely: `revertPullRequest(input: {…})` with literal or `$variable`
fields, or `input: $input`. Its input fields are GitHub's (`pullRequestId`, `title`, `body`,
`draft`, `clientMutationId`); the payload holds `pullRequest` (the original) and
`revertPullRequest` (the new pull request), each with every scalar field a client may ask
for. As on GitHub, errors come back with status 200 and an `errors` list.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim.simulated_github import shapes
from bot.sim.simulated_github.answers import INSTALLATION, answer, json_body
from bot.sim.simulated_github.state import Issue, Repo

if TYPE_CHECKING:
    from bot.sim.simulated_github.server import SimulatedGitHub

_INPUT = re.compile(r"revertPullRequest\s*\(\s*input\s*:\s*(\$\w+|\{[^}]*\})", re.S)
_FIELD = re.compile(r'(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|true|false|null)')


def graphql_path(prefix: str) -> str:
    """Where GraphQL lives beside a REST root: GHES serves REST at /api/v3 and GraphQL at
    /api/graphql; elsewhere it is the REST root + /graphql."""
    return (prefix[: -len("/v3")] if prefix.endswith("/v3") else prefix) + "/graphql"


def _errors(*errors: dict[str, Any], data: Any = None) -> web.Response:
    body: dict[str, Any] = {"errors": list(errors)}
    if data is not None:
        body["data"] = data
    return answer(body)


def _input(query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
    found = _INPUT.search(query)
    if found is None:
        return None
    raw = found.group(1)
    if raw.startswith("$"):
        value = variables.get(raw[1:])
        return value if isinstance(value, dict) else None
    fields: dict[str, Any] = {}
    for name, literal in _FIELD.findall(raw):
        fields[name] = (
            variables.get(literal[1:]) if literal.startswith("$") else json.loads(literal)
        )
    return fields


def _pull_node(repo: Repo, item: Issue) -> dict[str, Any]:
    assert item.pull is not None
    merged = item.pull.merged
    state = "MERGED" if merged else "CLOSED" if item.state == "closed" else "OPEN"
    return {
        "id": f"PR_{item.id}",
        "databaseId": item.id,
        "number": item.number,
        "url": f"{shapes.WEB}/{repo.full_name}/pull/{item.number}",
        "title": item.title,
        "body": item.body or "",
        "state": state,
        "merged": merged,
        "isDraft": item.pull.draft,
        "headRefName": item.pull.head_ref,
        "baseRefName": item.pull.base_ref,
        "createdAt": item.created_at,
    }


class GraphQL:
    def __init__(self, sim: SimulatedGitHub) -> None:
        self.sim = sim

    def _find(self, request: web.Request, node_id: str) -> tuple[Repo, Issue] | None:
        installation = request.get(INSTALLATION)
        visible = None if installation is None else installation.repos  # None: every one
        for name, repo in self.sim.repos.items():
            if visible is not None and name not in visible:
                continue
            for item in repo.issues.values():
                if item.pull is not None and f"PR_{item.id}" == node_id:
                    return repo, item
        return None

    async def handle(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        query, variables = body.get("query"), body.get("variables") or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            return _errors({"message": "A query attribute must be specified and must be a string."})
        fields = _input(query, variables)
        if fields is None:
            return _errors(
                {"message": "The simulated GitHub answers only revertPullRequest(input: …)."}
            )
        node_id = fields.get("pullRequestId")
        found = self._find(request, node_id) if isinstance(node_id, str) else None
        where = {"path": ["revertPullRequest"], "locations": [{"line": 1, "column": 1}]}
        if found is None:
            return _errors(
                {
                    "type": "NOT_FOUND",
                    **where,
                    "message": f"Could not resolve to a node with the global id of '{node_id}'",
                },
                data={"revertPullRequest": None},
            )
        repo, original = found
        assert original.pull is not None
        if not original.pull.merged:
            return _errors(
                {"type": "UNPROCESSABLE", **where, "message": "Pull request is not merged"},
                data={"revertPullRequest": None},
            )
        title = fields.get("title") or f'Revert "{original.title}"'
        text = fields.get("body") or f"Reverts {repo.full_name}#{original.number}"
        revert = self.sim.add_pull(
            repo.full_name,
            title=str(title),
            author=f"{self.sim.app_slug}[bot]",
            body=str(text),
            head_ref=f"revert-{original.number}-{original.pull.head_ref}",
            base_ref=original.pull.base_ref,
            merged=False,
        )
        assert revert.pull is not None
        revert.pull.draft = bool(fields.get("draft"))
        return answer(
            {
                "data": {
                    "revertPullRequest": {
                        "clientMutationId": fields.get("clientMutationId"),
                        "pullRequest": _pull_node(repo, original),
                        "revertPullRequest": _pull_node(repo, revert),
                    }
                }
            }
        )
