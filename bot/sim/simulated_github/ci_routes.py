"""The simulated endpoints that make CI run: re-running jobs and git references (tags).

`POST …/actions/jobs/{job_id}/rerun` (201; 403 "This workflow is already running" while the
run's latest attempt is going), `POST /git/refs` (201; 422 "Reference already exists"),
`GET /git/ref/{ref}` and `DELETE /git/refs/{ref}` (204; 422 "Reference does not exist").
Creating or deleting a ref sends the App a `push`, as GitHub does; a tag that the
repository's simulated CI runs on (see `ci.py`) then starts its runs.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim.simulated_github import shapes
from bot.sim.simulated_github.answers import ApiError, answer, json_body, not_found
from bot.sim.simulated_github.ci import in_progress, ref_node_id
from bot.sim.simulated_github.state import Repo, Run

if TYPE_CHECKING:
    from bot.sim.simulated_github.routes import Routes

ALREADY_RUNNING = "This workflow is already running"
ZERO_SHA = "0" * 40


def refuse_while_running(run: Run) -> None:
    if in_progress(run):
        raise ApiError(403, ALREADY_RUNNING)


class CiRoutes:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.sim = routes.sim

    def register(self, router: web.UrlDispatcher, repo: str) -> None:
        table = [
            ("POST", repo + r"/actions/jobs/{job_id:\d+}/rerun", self.rerun_job),
            ("POST", repo + "/git/refs", self.create_ref),
            ("GET", repo + "/git/ref/{ref:.+}", self.get_ref),
            ("DELETE", repo + "/git/refs/{ref:.+}", self.delete_ref),
        ]
        for method, path, handler in table:
            router.add_route(method, path, handler)

    # --- re-running a job ---------------------------------------------------------------

    async def rerun_job(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        job_id = int(request.match_info["job_id"])
        found = next(
            (
                (run, spec)
                for run in repo.runs.values()
                for specs in run.attempts.values()
                for spec in specs
                if spec.get("id") == job_id
            ),
            None,
        )
        if found is None:
            raise not_found()
        run, spec = found
        refuse_while_running(run)
        repo.job_reruns.append(job_id)
        self.sim.ci.rerun(repo, run, [spec["name"]])
        return answer({}, 201)

    # --- git references -----------------------------------------------------------------

    def _ref_body(self, request: web.Request, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        api = self.routes.api(request)
        return {
            "ref": ref,
            "node_id": ref_node_id(repo, ref),
            "url": f"{api}/repos/{repo.full_name}/git/{ref}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{api}/repos/{repo.full_name}/git/commits/{sha}",
            },
        }

    @staticmethod
    def _lookup(repo: Repo, ref: str) -> str | None:
        """The sha a full ref name (`refs/tags/x`, `refs/heads/y`) points at."""
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if kind == "tags":
            return repo.tags.get(name)
        if kind == "heads" and repo.branches.get(name):
            return repo.branches[name][-1]
        return None

    async def create_ref(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        body = await json_body(request)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise ApiError(422, "Invalid request.", [{"message": "ref and sha are required"}])
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if not ref.startswith("refs/") or not name or kind not in ("heads", "tags"):
            raise ApiError(422, "Reference name is invalid")
        if sha not in repo.commits:
            raise ApiError(422, "Object does not exist")
        if self._lookup(repo, ref) is not None:
            raise ApiError(422, "Reference already exists")
        if kind == "tags":
            repo.tags[name] = sha
        else:
            repo.branches[name] = list(reversed(repo.history(sha)))
        runs = self.sim.ci.on_tag(repo, name, sha) if kind == "tags" else []
        push = self.push_payload(repo, ref, ZERO_SHA, sha)
        self.sim.ci.spawn(self._push_then_run(repo, push, runs))
        response = answer(self._ref_body(request, repo, ref, sha), 201)
        response.headers["Location"] = (
            f"{self.routes.api(request)}/repos/{repo.full_name}/git/{ref}"
        )
        return response

    async def _push_then_run(self, repo: Repo, push: dict[str, Any], runs: list[Run]) -> None:
        await self.sim.hooks.deliver("push", push)
        for run in runs:
            self.sim.ci.spawn(self.sim.ci.play(repo, run, run.latest_attempt))

    async def get_ref(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        ref = "refs/" + request.match_info["ref"]
        sha = self._lookup(repo, ref)
        if sha is None:
            raise not_found()
        return answer(self._ref_body(request, repo, ref, sha))

    async def delete_ref(self, request: web.Request) -> web.Response:
        repo = self.routes.repo(request)
        ref = "refs/" + request.match_info["ref"]
        sha = self._lookup(repo, ref)
        if sha is None:
            raise ApiError(422, "Reference does not exist")
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if kind == "tags":
            del repo.tags[name]
        else:
            del repo.branches[name]
        self.sim.ci.spawn(self._push(self.push_payload(repo, ref, sha, ZERO_SHA)))
        return web.Response(status=204)

    async def _push(self, payload: dict[str, Any]) -> None:
        await self.sim.hooks.deliver("push", payload)

    # --- the push a ref change sends ----------------------------------------------------

    def push_payload(self, repo: Repo, ref: str, before: str, after: str) -> dict[str, Any]:
        """A `push` for a ref created (`before` zeros) or deleted (`after` zeros) through
        the API: no commits, as GitHub sends for a new tag or branch at a known commit."""
        bot = f"{self.sim.app_slug}[bot]"
        created, deleted = before == ZERO_SHA, after == ZERO_SHA
        head = repo.commits.get(after)
        head_commit = None
        if head is not None:
            person = {
                "name": head.author,
                "email": f"{head.author}@users.noreply.github.com",
                "username": head.author,
            }
            head_commit = {
                "id": head.sha,
                "tree_id": hashlib.sha1(head.sha.encode()).hexdigest(),
                "distinct": False,
                "message": head.message,
                "timestamp": head.date,
                "url": f"{shapes.WEB}/{repo.full_name}/commit/{head.sha}",
                "author": person,
                "committer": person,
                "added": [],
                "removed": [],
                "modified": [],
            }
        short = ref.removeprefix("refs/").partition("/")[2]
        compare = (
            f"{shapes.WEB}/{repo.full_name}/compare/{short}"
            if created
            else f"{shapes.WEB}/{repo.full_name}/compare/{before[:12]}...{after[:12]}"
        )
        return self.sim.ci.envelope(repo, None) | {
            "ref": ref,
            "before": before,
            "after": after,
            "pusher": {"name": bot, "email": None},
            "created": created,
            "deleted": deleted,
            "forced": False,
            "base_ref": None,
            "compare": compare,
            "commits": [],
            "head_commit": head_commit,
        }
