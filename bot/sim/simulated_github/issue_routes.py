"""The simulated endpoints for issues, comments, labels, assignees, reactions and search."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim.simulated_github import shapes
from bot.sim.simulated_github.answers import (
    JSON_BODY,
    ApiError,
    answer,
    json_body,
    not_found,
    paged,
)
from bot.sim.simulated_github.state import REACTIONS, Comment, Issue, Reaction, Repo, now_iso

if TYPE_CHECKING:
    from bot.sim.simulated_github.routes import Routes

STATES = ("open", "closed")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")
# `key:value`, `key:"quoted value"`, `"quoted phrase"` or a bare word.
_QUERY_TOKEN = re.compile(r'(-?\w+):"([^"]*)"|(-?\w+):(\S+)|"([^"]*)"|(\S+)')


def _validation_failed(resource: str, field: str, code: str) -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": resource, "code": code, "field": field}]
    )


def _names(value: Any) -> list[str]:
    """Labels or assignees as given: strings or `{name|login: …}` objects."""
    if not isinstance(value, list):
        raise ApiError(422, "Invalid request: expected an array")
    out = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("name") or item.get("login")
        if not isinstance(item, str) or not item:
            raise ApiError(422, "Invalid request: expected strings")
        out.append(item)
    return out


class IssueRoutes:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    def register(self, router: web.UrlDispatcher, repo: str, prefix: str) -> None:
        issue = repo + r"/issues/{number:\d+}"
        comment = repo + r"/issues/comments/{comment_id:\d+}"
        table = [
            ("GET", repo + "/issues", self.list_issues),
            ("POST", repo + "/issues", self.create_issue),
            ("GET", issue, self.get_issue),
            ("PATCH", issue, self.update_issue),
            ("GET", issue + "/comments", self.list_comments),
            ("POST", issue + "/comments", self.create_comment),
            ("GET", comment, self.get_comment),
            ("PATCH", comment, self.update_comment),
            ("POST", comment + "/reactions", self.react),
            ("GET", issue + "/labels", self.issue_labels),
            ("POST", issue + "/labels", self.add_labels),
            ("PUT", issue + "/labels", self.set_labels),
            ("DELETE", issue + "/labels/{name}", self.remove_label),
            ("POST", issue + "/assignees", self.add_assignees),
            ("DELETE", issue + "/assignees", self.remove_assignees),
            ("GET", repo + "/labels", self.list_labels),
            ("POST", repo + "/labels", self.create_label),
            ("GET", repo + "/labels/{name}", self.get_label),
            ("DELETE", repo + "/labels/{name}", self.delete_label),
            ("GET", prefix + "/search/issues", self.search),
        ]
        for method, path, handler in table:
            router.add_route(method, path, handler)

    def _issue(self, request: web.Request) -> tuple[Repo, Issue]:
        repo = self.routes.repo(request)
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None:
            raise not_found()
        return repo, issue

    def _comment(self, request: web.Request) -> tuple[Repo, Comment]:
        repo = self.routes.repo(request)
        comment = repo.find_comment(int(request.match_info["comment_id"]))
        if comment is None:
            raise not_found()
        return repo, comment

    def _render(self, request: web.Request, repo: Repo, issue: Issue) -> dict[str, Any]:
        return shapes.issue(self.routes.api(request), repo, issue)

    # --- issues -------------------------------------------------------------------------

    async def list_issues(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        query = request.query
        state = query.get("state", "open")
        if state not in (*STATES, "all"):
            raise ApiError(422, "Invalid value for parameter 'state'")
        wanted = {n.strip().lower() for n in query.get("labels", "").split(",") if n.strip()}
        creator = query.get("creator")
        items = [
            i
            for i in repo.issues.values()
            if (state == "all" or i.state == state)
            and wanted <= {n.lower() for n in i.labels}
            and (creator is None or i.user == creator)
        ]
        newest_first = query.get("direction", "desc") == "desc"
        items.sort(key=lambda i: i.number, reverse=newest_first)
        return paged(request, [self._render(request, repo, i) for i in items])

    async def create_issue(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        data = await json_body(request)
        title = data.get("title")
        if not isinstance(title, str | int) or title == "":
            raise _validation_failed("Issue", "title", "missing_field")
        labels = _names(data.get("labels", []))
        for name in labels:
            repo.ensure_label(name)
        number = repo.next_number()
        issue = repo.issues[number] = Issue(
            number=number,
            title=str(title),
            body=data.get("body"),
            user=self.routes.actor(request),
            labels=labels,
            assignees=_names(data.get("assignees", [])),
        )
        return answer(self._render(request, repo, issue), 201)

    async def get_issue(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        return answer(self._render(request, repo, issue))

    async def update_issue(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        data = await json_body(request)
        if "title" in data:
            issue.title = str(data["title"])
        if "body" in data:
            issue.body = data["body"]
        if "labels" in data:
            issue.labels = _names(data["labels"])
            for name in issue.labels:
                repo.ensure_label(name)
        if "assignees" in data:
            issue.assignees = _names(data["assignees"])
        if "state" in data:
            self._change_state(issue, data["state"], data.get("state_reason"))
        issue.updated_at = now_iso()
        return answer(self._render(request, repo, issue))

    def _change_state(self, issue: Issue, state: Any, reason: Any) -> None:
        if state not in STATES:
            raise _validation_failed("Issue", "state", "invalid")
        if reason is not None and reason not in STATE_REASONS:
            raise _validation_failed("Issue", "state_reason", "invalid")
        if state == issue.state:
            return
        issue.state = state
        if state == "closed":
            issue.closed_at = now_iso()
            issue.state_reason = reason or "completed"
        else:
            issue.closed_at = None
            issue.state_reason = "reopened"

    # --- comments and reactions ---------------------------------------------------------

    async def list_comments(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        api = self.routes.api(request)
        return paged(request, [shapes.comment(api, repo, c) for c in issue.comments])

    async def create_comment(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        body = (await json_body(request)).get("body")
        if not isinstance(body, str) or not body:
            raise _validation_failed("IssueComment", "body", "missing_field")
        comment = Comment(issue.number, body, self.routes.actor(request))
        issue.comments.append(comment)
        issue.updated_at = now_iso()
        return answer(shapes.comment(self.routes.api(request), repo, comment), 201)

    async def get_comment(self, request: web.Request) -> web.Response:
        repo, comment = self._comment(request)
        return answer(shapes.comment(self.routes.api(request), repo, comment))

    async def update_comment(self, request: web.Request) -> web.Response:
        repo, comment = self._comment(request)
        body = (await json_body(request)).get("body")
        if not isinstance(body, str) or not body:
            raise _validation_failed("IssueComment", "body", "missing_field")
        comment.body, comment.updated_at = body, now_iso()
        return answer(shapes.comment(self.routes.api(request), repo, comment))

    async def react(self, request: web.Request) -> web.Response:
        _, comment = self._comment(request)
        content = (await json_body(request)).get("content")
        if content not in REACTIONS:
            raise _validation_failed("Reaction", "content", "invalid")
        actor = self.routes.actor(request)
        for existing in comment.reactions:
            if existing.content == content and existing.user == actor:
                return answer(shapes.reaction(existing), 200)
        reaction = Reaction(content, actor)
        comment.reactions.append(reaction)
        return answer(shapes.reaction(reaction), 201)

    # --- labels and assignees -----------------------------------------------------------

    def _label_list(self, request: web.Request, repo: Repo, issue: Issue) -> web.Response:
        api = self.routes.api(request)
        return answer([shapes.label(api, repo, repo.ensure_label(n)) for n in issue.labels])

    async def _requested_labels(self, request: web.Request) -> list[str]:
        body = request.get(JSON_BODY)
        if isinstance(body, dict):
            body = body.get("labels")
        names = _names(body if body is not None else [])
        if not names:
            raise _validation_failed("Label", "labels", "missing_field")
        return names

    async def issue_labels(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        return self._label_list(request, repo, issue)

    async def add_labels(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        present = {n.lower() for n in issue.labels}
        for name in await self._requested_labels(request):
            if name.lower() not in present:
                issue.labels.append(repo.ensure_label(name).name)
                present.add(name.lower())
        return self._label_list(request, repo, issue)

    async def set_labels(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        issue.labels = [repo.ensure_label(n).name for n in await self._requested_labels(request)]
        return self._label_list(request, repo, issue)

    async def remove_label(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        name = request.match_info["name"].lower()
        if name not in {n.lower() for n in issue.labels}:
            raise ApiError(404, "Label does not exist")
        issue.labels = [n for n in issue.labels if n.lower() != name]
        return self._label_list(request, repo, issue)

    async def add_assignees(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        for login in _names((await json_body(request)).get("assignees", [])):
            if login not in issue.assignees and len(issue.assignees) < 10:
                issue.assignees.append(login)
        return answer(self._render(request, repo, issue), 201)

    async def remove_assignees(self, request: web.Request) -> web.Response:
        repo, issue = self._issue(request)
        gone = set(_names((await json_body(request)).get("assignees", [])))
        issue.assignees = [a for a in issue.assignees if a not in gone]
        return answer(self._render(request, repo, issue))

    async def list_labels(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        api = self.routes.api(request)
        return paged(request, [shapes.label(api, repo, lb) for lb in repo.labels.values()])

    async def create_label(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        data = await json_body(request)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise _validation_failed("Label", "name", "missing_field")
        if repo.label(name) is not None:
            raise _validation_failed("Label", "name", "already_exists")
        label = repo.ensure_label(name)
        label.color = str(data.get("color") or "ededed").lstrip("#")
        label.description = data.get("description")
        return answer(shapes.label(self.routes.api(request), repo, label), 201)

    async def get_label(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        label = repo.label(request.match_info["name"])
        if label is None:
            raise not_found()
        return answer(shapes.label(self.routes.api(request), repo, label))

    async def delete_label(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        label = repo.label(request.match_info["name"])
        if label is None:
            raise not_found()
        del repo.labels[label.name.lower()]
        for issue in repo.issues.values():
            issue.labels = [n for n in issue.labels if n.lower() != label.name.lower()]
        return web.Response(status=204)

    # --- search -------------------------------------------------------------------------

    async def search(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").strip()
        if not q:
            raise _validation_failed("Search", "q", "missing")
        filters: list[tuple[str, str]] = []
        words: list[str] = []
        for match in _QUERY_TOKEN.finditer(q):
            key, quoted, key2, value, phrase, word = match.groups()
            if key or key2:
                filters.append(((key or key2).lower(), quoted if key else value))
            else:
                words.append((phrase if phrase is not None else word).lower())
        hits = []
        for repo in self.routes.sim.repos.values():
            for issue in repo.issues.values():
                if self._matches(repo, issue, filters, words):
                    hits.append((repo, issue))
        hits.sort(key=lambda hit: hit[1].created_at, reverse=True)
        items = [self._render(request, r, i) | {"score": 1.0} for r, i in hits]
        return paged(request, items, "items", incomplete_results=False, search_type="lexical")

    @staticmethod
    def _matches(
        repo: Repo, issue: Issue, filters: list[tuple[str, str]], words: list[str]
    ) -> bool:
        for key, value in filters:
            negate = key.startswith("-")
            ok = IssueRoutes._qualifier(repo, issue, key.lstrip("-"), value)
            if ok == negate:
                return False
        text = f"{issue.title}\n{issue.body or ''}".lower()
        return all(word in text for word in words)

    @staticmethod
    def _qualifier(repo: Repo, issue: Issue, key: str, value: str) -> bool:
        value_l = value.lower()
        if key == "repo":
            return repo.full_name.lower() == value_l
        if key in ("is", "type"):
            return {
                "issue": issue.pull is None,
                "pr": issue.pull is not None,
                "pull-request": issue.pull is not None,
                "open": issue.state == "open",
                "closed": issue.state == "closed",
            }.get(value_l, True)
        if key == "state":
            return issue.state == value_l
        if key == "label":
            return value_l in {n.lower() for n in issue.labels}
        if key == "author":
            return issue.user.lower() == value_l
        if key == "in":
            return True  # free text is matched in title and body either way
        return True
