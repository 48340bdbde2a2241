"""The simulated endpoints for repositories, commits, runs, contents and the App itself.

Issues, comments, labels and search live in `issue_routes`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim.simulated_github import commit_shapes, shapes
from bot.sim.simulated_github.answers import (
    INSTALLATION,
    ApiError,
    answer,
    not_found,
    paged,
    paginate,
)
from bot.sim.simulated_github.ci_routes import CiRoutes, refuse_while_running
from bot.sim.simulated_github.issue_routes import IssueRoutes
from bot.sim.simulated_github.state import Repo, Run

if TYPE_CHECKING:
    from bot.sim.simulated_github.server import SimulatedGitHub


# A filtered list of workflow runs returns at most this many (GitHub's documented limit).
SEARCH_CAP = 1000


def run_status(run: Run) -> str:
    return "completed" if run.conclusions.get(run.latest_attempt) else "in_progress"


def _within(date: str, since: str | None, until: str | None) -> bool:
    """ISO 8601 UTC times in one format compare as strings."""
    return (since is None or date >= since) and (until is None or date <= until)


def _created_matches(created_at: str, query: str) -> bool:
    """GitHub's date search: `>=T`, `>T`, `<=T`, `<T`, `A..B`, or a day `YYYY-MM-DD`."""
    for operator in (">=", "<=", ">", "<"):
        if query.startswith(operator):
            bound = _bound(query[len(operator) :], upper=operator[0] == "<")
            return {
                ">=": created_at >= bound,
                "<=": created_at <= bound,
                ">": created_at > bound,
                "<": created_at < bound,
            }[operator]
    low, dots, high = query.partition("..")
    if dots:
        return (low == "*" or created_at >= _bound(low, upper=False)) and (
            high == "*" or created_at <= _bound(high, upper=True)
        )
    return _bound(query, upper=False) <= created_at <= _bound(query, upper=True)


def _bound(text: str, *, upper: bool) -> str:
    """A date or a date-time as a comparable `YYYY-MM-DDTHH:MM:SSZ`."""
    if len(text) == 10:
        return text + ("T23:59:59Z" if upper else "T00:00:00Z")
    return text.replace("+00:00", "Z")


class Routes:
    def __init__(self, sim: SimulatedGitHub) -> None:
        self.sim = sim

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        repo = prefix + "/repos/{owner}/{repo}"
        runs = repo + r"/actions/runs/{run_id:\d+}"
        table = [
            (
                "POST",
                prefix + r"/app/installations/{installation_id:\d+}/access_tokens",
                self.create_token,
            ),
            ("GET", prefix + "/app/installations", self.list_installations),
            ("GET", prefix + "/installation/repositories", self.installation_repos),
            ("GET", prefix + "/app", self.get_app),
            ("GET", repo, self.get_repo),
            ("GET", repo + "/commits", self.list_commits),
            ("GET", repo + "/commits/{sha}/pulls", self.commit_pulls),
            ("GET", repo + "/commits/{ref:.+}", self.get_commit),
            ("GET", repo + "/compare/{basehead:.+}", self.compare),
            ("GET", repo + r"/pulls/{number:\d+}", self.get_pull),
            ("GET", prefix + "/rate_limit", self.rate_limit),
            ("GET", repo + "/actions/runs", self.list_runs),
            ("GET", runs, self.get_run),
            ("GET", runs + "/jobs", self.run_jobs),
            ("GET", runs + r"/attempts/{attempt:\d+}/jobs", self.attempt_jobs),
            ("POST", runs + "/rerun-failed-jobs", self.rerun_failed),
            ("GET", repo + "/contents/{path:.+}", self.get_content),
            ("GET", repo + "/collaborators/{username}/permission", self.permission),
        ]
        for method, path, handler in table:
            router.add_route(method, path, handler)
        IssueRoutes(self).register(router, repo, prefix)
        CiRoutes(self).register(router, repo)

    # --- helpers shared with IssueRoutes ----------------------------------------------

    def api(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}{self.sim.prefix}"

    def repo(self, request: web.Request) -> Repo:
        full_name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        found = self.sim.repos.get(full_name)
        installation = request.get(INSTALLATION)
        if found is None or (
            installation is not None
            and installation.repos is not None
            and full_name not in installation.repos
        ):
            raise not_found()
        return found

    def actor(self, request: web.Request) -> str:
        """Who the caller is on GitHub: installations act as `<slug>[bot]`."""
        return f"{self.sim.app_slug}[bot]"

    # --- the App ------------------------------------------------------------------------

    async def create_token(self, request: web.Request) -> web.Response:
        installation_id = int(request.match_info["installation_id"])
        installation = self.sim.installations.get(installation_id)
        if installation is None:
            raise not_found()
        token, expires = self.sim.issue_token(installation_id)
        body: dict[str, Any] = {
            "token": token,
            "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {
                "actions": "write",
                "contents": "read",
                "issues": "write",
                "pull_requests": "write",
                "metadata": "read",
            },
            "repository_selection": "all" if installation.repos is None else "selected",
        }
        return answer(body, 201)

    async def list_installations(self, request: web.Request) -> web.Response:
        items = [
            {
                "id": i.id,
                "account": shapes.user(i.account),
                "app_id": self.sim.app_id,
                "app_slug": self.sim.app_slug,
                "target_type": "Organization",
                "repository_selection": "all" if i.repos is None else "selected",
                "suspended_at": None,
            }
            for i in self.sim.installations.values()
        ]
        return paged(request, items)

    async def installation_repos(self, request: web.Request) -> web.Response:
        """The repositories the calling installation can access (installation tokens only)."""
        installation = request.get(INSTALLATION)
        if installation is None:
            raise ApiError(403, "This endpoint requires an installation access token")
        repos = [
            shapes.repository(self.api(request), repo)
            for name, repo in sorted(self.sim.repos.items())
            if installation.repos is None or name in installation.repos
        ]
        selection = "all" if installation.repos is None else "selected"
        return paged(request, repos, "repositories", repository_selection=selection)

    async def get_app(self, request: web.Request) -> web.Response:
        return answer(
            {
                "id": self.sim.app_id,
                "slug": self.sim.app_slug,
                "name": self.sim.app_slug,
                "owner": shapes.user("octo-org"),
            }
        )

    # --- repositories and commits -------------------------------------------------------

    async def get_repo(self, request: web.Request) -> web.Response:
        return answer(shapes.repository(self.api(request), self.repo(request)))

    def _commit_or_422(self, repo: Repo, ref: str) -> str:
        sha = repo.resolve_ref(ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    async def list_commits(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        start = request.query.get("sha") or repo.default_branch
        sha = repo.resolve_ref(start)
        if sha is None:
            raise not_found()
        api = self.api(request)
        since, until = request.query.get("since"), request.query.get("until")
        commits = [
            commit_shapes.commit(api, repo, repo.commits[s])
            for s in repo.history(sha)
            if _within(repo.commits[s].date, since, until)
        ]
        return paged(request, commits)

    async def get_commit(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        sha = self._commit_or_422(repo, request.match_info["ref"])
        api = self.api(request)
        # One commit, unlike a listing, also says what it changed (its diff to its parent).
        files = commit_shapes.compare_files(api, repo, [sha])
        added = sum(int(f["additions"]) for f in files)
        deleted = sum(int(f["deletions"]) for f in files)
        stats = {"total": added + deleted, "additions": added, "deletions": deleted}
        body = commit_shapes.commit(api, repo, repo.commits[sha]) | {"stats": stats, "files": files}
        return answer(body)

    async def commit_pulls(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        sha = self._commit_or_422(repo, request.match_info["sha"])
        api = self.api(request)
        pulls = [
            shapes.pull(api, repo, repo.issues[n])
            for n in repo.commits[sha].pulls
            if n in repo.issues and repo.issues[n].pull is not None
        ]
        return paged(request, pulls)

    async def compare(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        base_ref, dots, head_ref = request.match_info["basehead"].partition("...")
        if not dots:
            raise not_found()
        base, head = repo.resolve_ref(base_ref), repo.resolve_ref(head_ref)
        if base is None or head is None:
            raise not_found()
        head_history = repo.history(head)
        base_history = repo.history(base)
        if base in head_history:
            ahead = list(reversed(head_history[: head_history.index(base)]))
            behind: list[str] = []
        else:
            common = next((s for s in base_history if s in head_history), None)
            if common is None:
                raise not_found()  # no merge base: GitHub answers 404 too
            ahead = list(reversed(head_history[: head_history.index(common)]))
            behind = base_history[: base_history.index(common)]
        status = (
            "identical"
            if base == head
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        api = self.api(request)
        commits = [commit_shapes.commit(api, repo, repo.commits[s]) for s in ahead]
        # Without paging parameters GitHub lists at most 250 commits.
        if "page" in request.query or "per_page" in request.query:
            page, headers = paginate(request, commits)
        else:
            page, headers = commits[:250], {}
        base_url = f"{api}/repos/{repo.full_name}"
        body = {
            "url": f"{base_url}/compare/{base_ref}...{head_ref}",
            "html_url": f"{shapes.WEB}/{repo.full_name}/compare/{base_ref}...{head_ref}",
            "permalink_url": f"{shapes.WEB}/{repo.full_name}/compare/{base}...{head}",
            "diff_url": f"{shapes.WEB}/{repo.full_name}/compare/{base_ref}...{head_ref}.diff",
            "patch_url": f"{shapes.WEB}/{repo.full_name}/compare/{base_ref}...{head_ref}.patch",
            "base_commit": commit_shapes.commit(api, repo, repo.commits[base]),
            "merge_base_commit": commit_shapes.commit(api, repo, repo.commits[base]),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": page,
            "files": commit_shapes.compare_files(api, repo, ahead),
        }
        response = answer(body)
        response.headers.update(headers)
        return response

    async def get_pull(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None or issue.pull is None:
            raise not_found()
        return answer(shapes.pull(self.api(request), repo, issue))

    # --- Actions ------------------------------------------------------------------------

    def _run(self, request: web.Request) -> tuple[Repo, Run]:
        repo = self.repo(request)
        run = repo.runs.get(int(request.match_info["run_id"]))
        if run is None:
            raise not_found()
        return repo, run

    async def list_runs(self, request: web.Request) -> web.Response:
        """Newest first; `branch`, `event`, `status`, `head_sha` and `created` filter. As on
        GitHub, a filtered listing reaches no further than its first 1,000 runs."""
        repo = self.repo(request)
        query = request.query
        created = query.get("created")
        runs = [
            run
            for run in repo.runs.values()
            if query.get("branch") in (None, run.head_branch)
            and query.get("event") in (None, run.event)
            and query.get("head_sha") in (None, run.head_sha)
            and query.get("status") in (None, run_status(run))
            and (created is None or _created_matches(run.created_at, created))
        ]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        filtered = any(k in query for k in ("branch", "event", "head_sha", "status", "created"))
        api = self.api(request)
        items = [commit_shapes.workflow_run(api, repo, run) for run in runs]
        page, headers = paginate(request, items[:SEARCH_CAP] if filtered else items)
        response = answer({"total_count": len(items), "workflow_runs": page})
        response.headers.update(headers)
        return response

    async def rate_limit(self, request: web.Request) -> web.Response:
        """What remains of the caller's budget; asking costs nothing (as on GitHub)."""
        installation = request.get(INSTALLATION)
        identity = "app" if installation is None else f"installation:{installation.id}"
        core = self.sim.rate_limit_of(identity, "core")
        return answer({"resources": {"core": core}, "rate": core})

    async def get_run(self, request: web.Request) -> web.Response:
        repo, run = self._run(request)
        return answer(commit_shapes.workflow_run(self.api(request), repo, run))

    def _jobs(self, request: web.Request, repo: Repo, run: Run, attempts: list[int]) -> Any:
        api = self.api(request)
        jobs = [
            commit_shapes.job(api, repo, run, n, spec) for n in attempts for spec in run.attempts[n]
        ]
        return paged(request, jobs, "jobs")

    async def run_jobs(self, request: web.Request) -> web.Response:
        repo, run = self._run(request)
        which = request.query.get("filter", "latest")
        if which not in ("latest", "all"):
            raise ApiError(422, "Invalid value for parameter 'filter'")
        attempts = sorted(run.attempts) if which == "all" else [run.latest_attempt]
        response: web.Response = self._jobs(request, repo, run, attempts)
        return response

    async def attempt_jobs(self, request: web.Request) -> web.Response:
        repo, run = self._run(request)
        attempt = int(request.match_info["attempt"])
        if attempt not in run.attempts:
            raise not_found()
        response: web.Response = self._jobs(request, repo, run, [attempt])
        return response

    async def rerun_failed(self, request: web.Request) -> web.Response:
        """Recorded (`sim.reruns`); with a simulated CI, a new attempt of the failed jobs."""
        repo, run = self._run(request)
        refuse_while_running(run)
        repo.reruns.append(run.id)
        self.sim.ci.rerun_failed(repo, run)
        return answer({}, 201)

    # --- contents and permissions -------------------------------------------------------

    async def get_content(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        path = request.match_info["path"].strip("/")
        ref = request.query.get("ref") or repo.default_branch
        text = repo.read_file(path, ref)
        if text is None:
            raise not_found()
        return answer(commit_shapes.content_file(self.api(request), repo, path, ref, text))

    async def permission(self, request: web.Request) -> web.Response:
        repo = self.repo(request)
        return answer(shapes.permission(repo, request.match_info["username"]))
