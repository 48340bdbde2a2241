"""`trunkwatch demo`: the whole App against a simulated GitHub and a simulated trunk.

For someone with no GitHub App: a simulated GitHub (the one the tests use) starts on
127.0.0.1, the App starts against it exactly as `serve` does (embedded SQLite store), and a
generated trunk history — several workflows, a flaky job, a runner outage, and one real
Inductor breakage and its revert — is posted to the App's webhook, signed, commit by commit.
What the App does on GitHub is read back from the simulator and told as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import html
import re
import secrets
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

import aiohttp

from bot.config import RepoConfig, load_default
from bot.process.logs import setup_logging
from bot.process.service import running_service
from bot.process.settings import Settings
from bot.sim.devserver import free_port, post_delivery
from bot.sim.history import Generator, demo_scenario, truth
from bot.sim.simulated_github import SimulatedGitHub, generate_private_key_pem
from bot.sim.simulated_github.server import RecordedRequest
from bot.sim.simulated_github.state import Comment
from bot.store.base import Store

APP_ID = 1
BODY_WIDTH = 96
_ISSUE = re.compile(r"^/repos/[^/]+/[^/]+/issues/(\d+)(/.*)?$")


def default_config_text() -> str:
    return resources.files("bot").joinpath("defaults/trunkwatch.yml").read_text(encoding="utf-8")


MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def render_markdown(text: str) -> Iterator[str]:
    """The issue body as a person reads it on GitHub, in a terminal: no HTML comments or tags,
    links as their text, no emphasis marks, a table's cells joined, long lines wrapped."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"</?(details|summary|sub|br)\s*/?>", "", text)
    text = html.unescape(text).replace("\u200b", "")
    text = MARKDOWN_LINK.sub(r"\1", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~])", r"\1", text)  # markdown escapes
    blank = False
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith("|") and set(line) <= set("|-: "):
            continue  # a table's header rule
        if line.startswith("|"):
            line = " · ".join(cell.strip() for cell in line.strip("|").split(" | "))
        if not line:
            if not blank:
                yield ""
            blank = True
            continue
        blank = False
        yield from textwrap.wrap(line, BODY_WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def short_subject(message: str, width: int = 60) -> str:
    """The subject line cut at a word, never inside its `(#123)`, which is kept."""
    subject = message.splitlines()[0] if message else ""
    pr = re.search(r"\s*(\(#\d+\))$", subject)
    text = subject[: pr.start()] if pr else subject
    suffix = f" {pr.group(1)}" if pr else ""
    if len(text) + len(suffix) > width:
        text = textwrap.shorten(text, max(width - len(suffix), 10), placeholder=" …")
    return text + suffix


def watched_groups(config: RepoConfig, workflows: Iterable[str]) -> tuple[list[str], list[str]]:
    """The configured groups that watch one of the history's workflows, and the workflows
    no group watches."""
    names = list(workflows)
    watched = [
        group.name
        for group in config.groups
        if any(fnmatch.fnmatchcase(w, pattern) for w in names for pattern in group.workflows)
    ]
    unwatched = [
        w
        for w in names
        if not any(
            fnmatch.fnmatchcase(w, pattern) for g in config.groups for pattern in g.workflows
        )
    ]
    return watched, unwatched


class Narrator:
    """Tells what the App did on GitHub, from the simulator's recorded requests."""

    def __init__(self, sim: SimulatedGitHub, repo: str, out: IO[str]) -> None:
        self.sim = sim
        self.repo = repo
        self.out = out
        self.seen = 0
        self.culprit = ""
        self.pulls = {issue.number for issue in sim.issues(repo, include_pulls=True) if issue.pull}

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def what(self, number: int) -> str:
        return f"PR #{number}" if number in self.pulls else f"issue #{number}"

    def catch_up(self) -> None:
        requests = self.sim.requests[self.seen :]
        self.seen += len(requests)
        for request in requests:
            self.tell(request)

    def tell_culprit(self, body: str) -> None:
        """The issue's culprit line, each time it says something new."""
        lines = [line for line in render_markdown(body) if line.startswith("Culprit")]
        if lines and lines[0] != self.culprit:
            self.culprit = lines[0]
            self.say(f"      │ {textwrap.shorten(lines[0], 120, placeholder=' …')}")

    def tell_ci(self, method: str, path: str, body: dict[str, Any]) -> bool:
        """The runs the App asks for to find a culprit: reruns and bisect tags."""
        prefix = f"/repos/{self.repo}"
        if method == "POST" and path == f"{prefix}/git/refs":
            tag = str(body.get("ref", "")).removeprefix("refs/tags/")
            sha = str(body.get("sha", ""))[:10]
            self.say(f"    ▶ pushes tag {tag[:30]}… on {sha}: CI runs the workflows there")
        elif method == "DELETE" and path.startswith(f"{prefix}/git/refs/tags/"):
            self.say("    ▶ deletes the bisect tag: its run completed")
        elif method == "POST" and re.fullmatch(
            rf"{re.escape(prefix)}/actions/jobs/\d+/rerun", path
        ):
            self.say(f"    ▶ reruns job {path.split('/')[-2]} to confirm the failure")
        elif method == "POST" and path.endswith("/rerun-failed-jobs"):
            self.say(f"    ▶ reruns the failed jobs of run {path.split('/')[-2]}")
        elif method == "POST" and path == "/graphql":
            pull = max(self.sim.issues(self.repo, include_pulls=True), key=lambda i: i.number)
            self.pulls.add(pull.number)
            self.say(f"    ▶ opens revert PR #{pull.number}: {pull.title}")
        else:
            return False
        return True

    def tell(self, request: RecordedRequest) -> None:
        method, path, body = request
        body = body if isinstance(body, dict) else {}
        if method == "POST" and path == f"/repos/{self.repo}/issues":
            issue = max(self.sim.issues(self.repo), key=lambda i: i.number)
            self.say(f"    ▶ files issue #{issue.number}: {body.get('title')}")
            self.say(f"      labels: {', '.join(body.get('labels') or [])}")
            for line in render_markdown(str(body.get("body") or "")):
                self.say(f"      │ {line}")
            return
        if self.tell_ci(method, path, body):
            return
        match = _ISSUE.match(path)
        if not match:
            return
        number, rest = int(match.group(1)), match.group(2) or ""
        if method == "PATCH" and not rest:
            if body.get("state") == "closed":
                self.say(f"    ▶ closes issue #{number} ({body.get('state_reason')})")
            elif "body" in body:
                self.say(f"    ▶ edits issue #{number} in place (body updated)")
                self.tell_culprit(str(body["body"]))
        elif method == "POST" and rest == "/comments":
            lines = list(render_markdown(str(body.get("body") or "")))
            first = next((line for line in lines if line.strip()), "")
            first = textwrap.shorten(first, 110, placeholder=" …")
            self.say(f"    ▶ comments on {self.what(number)}: {first}")
        elif method == "POST" and rest == "/labels":
            labels = body.get("labels") or []
            self.say(f"    ▶ labels {self.what(number)}: {', '.join(map(str, labels))}")
        elif method == "DELETE" and rest.startswith("/labels/"):
            label = unquote(rest.removeprefix("/labels/"))
            self.say(f"    ▶ removes label {label!r} from {self.what(number)}")
        elif method == "POST" and rest == "/assignees":
            self.say(f"    ▶ assigns issue #{number} to {', '.join(body.get('assignees') or [])}")


def ci_summary(deliveries: list[dict[str, Any]]) -> str:
    """One line of what CI said on a commit: per workflow, failures and reruns; a commit on
    which every job failed once and passed on its rerun is a runner outage."""
    if all(delivery["event"] == "push" for delivery in deliveries):
        return "superseded by the next push before any workflow ran: no result"
    latest: dict[tuple[str, str], list[str]] = {}
    for delivery in deliveries:
        if delivery["event"] == "workflow_job":
            job = delivery["payload"]["workflow_job"]
            latest.setdefault((job["workflow_name"], job["name"]), []).append(job["conclusion"])
    if latest and all(c[0] == "failure" and c[-1] == "success" for c in latest.values()):
        return (
            f"runner outage: all {len(latest)} jobs failed on their first attempt and passed"
            " on a rerun (not counted against the code)"
        )
    parts = []
    for workflow in sorted({w for w, _ in latest}):
        jobs = {name: c for (w, name), c in latest.items() if w == workflow}
        failing = [n for n, c in jobs.items() if c[-1] == "failure"]
        flaky = [n for n, c in jobs.items() if c[-1] == "success" and "failure" in c]
        text = f"{workflow} " + ("✗" if failing else "✓")
        if failing:
            text += " " + ", ".join(n.split(" / ")[-1] for n in failing)
        if flaky:
            text += f" ({len(flaky)} failed, passed on rerun)"
        parts.append(text)
    return "  ".join(parts)


async def wait_idle(store: Store, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        pending, _ = await store.inbox_stats(loop.time())
        if pending == 0:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the App did not finish processing in time")


REVERTER = "alice"  # an owner of the inductor group, with write access


def confirmed_alert(sim: SimulatedGitHub, repo: str) -> int | None:
    """The open alert issue that names a confirmed culprit, if any."""
    for issue in sim.issues(repo):
        if issue.state == "open" and "— confirmed**" in (issue.body or ""):
            return issue.number
    return None


async def ask_revert(
    sim: SimulatedGitHub,
    history: Generator,
    number: int,
    session: aiohttp.ClientSession,
    app: tuple[str, str],
    narrator: Narrator,
) -> None:
    """The on-call engineer types `/trunkwatch revert` in the alert issue."""
    repo = history.scenario.repo
    sim.set_permission(repo, REVERTER, "write")
    comment = Comment(number, "/trunkwatch revert", REVERTER)
    sim.repo(repo).issues[number].comments.append(comment)
    narrator.say(f"  {REVERTER} comments on issue #{number}: {comment.body}")
    app_url, secret = app
    delivery = history.comment(number, comment.body, REVERTER, comment.id)
    await post(session, app_url, secret, delivery)


async def settle(sim: SimulatedGitHub, store: Store, narrator: Narrator) -> None:
    """Until the App asks for no more runs: each run's results may make it ask another."""
    for _ in range(20):
        seen = len(sim.requests)
        await sim.ci_settle()
        await sim.hooks.settle()
        await wait_idle(store)
        narrator.catch_up()
        if len(sim.requests) == seen:
            return


async def run_demo(
    keep_running: bool = False, port: int = 0, out: IO[str] | None = None, pace: float = 0.3
) -> int:
    out = out or sys.stdout
    setup_logging("error")
    key = generate_private_key_pem()
    scenario = demo_scenario()
    history = Generator(scenario)
    repo = scenario.repo
    sim = SimulatedGitHub(app_id=APP_ID, app_key=key, app_slug="trunkwatch")
    sim.add_installation(scenario.installation_id, account=repo.split("/")[0])
    sim.add_repo(repo, default_branch=scenario.branch)
    sim.set_file(repo, ".github/trunkwatch.yml", default_config_text())
    for index in range(scenario.commits):
        sim.add_commit(
            repo,
            history.commit_sha(index),
            history.message(index),
            history.author(index),
            pr=history.pr_number(index),
        )
    sha_of = {history.commit_sha(i): i for i in range(scenario.commits)}
    workflows = {name: list(jobs) for name, jobs in scenario.workflows.items()}
    sim.set_ci(repo, workflows, truth(scenario, sha_of))
    base_url = await sim.start()
    secret = secrets.token_hex(16)
    status_token = secrets.token_urlsafe(12)
    narrator = Narrator(sim, repo, out)
    try:
        with tempfile.TemporaryDirectory(prefix="trunkwatch-demo-") as tmp:
            settings = Settings(
                app_id=str(APP_ID),
                private_key=key,
                webhook_secret=secret,
                api_url=base_url,
                database_url=f"sqlite:///{Path(tmp) / 'trunkwatch.db'}",
                host="127.0.0.1",
                port=port or free_port(),
                log_level="error",
                status_token=status_token,
            )
            async with running_service(settings) as service:
                app_url = f"http://127.0.0.1:{settings.port}"
                sim.hooks.configure(f"{app_url}/webhook", secret)  # runs the App asks for
                narrator.say(
                    f"trunkwatch demo: the App at {app_url}, a simulated GitHub at {base_url}"
                )
                narrator.say(f"watching {repo}@{scenario.branch} with the embedded configuration")
                narrator.say(f"status page: {app_url}/{repo}/?token={status_token}")
                watched, unwatched = watched_groups(load_default(), scenario.workflows)
                rest = f"; {', '.join(unwatched)} not watched" if unwatched else ""
                narrator.say(
                    f"(groups: {', '.join(watched)}{rest}; 3 failing commits in a row per job)"
                )
                narrator.say()
                narrator.catch_up()
                narrator.seen = len(sim.requests)
                asked_revert = False
                async with aiohttp.ClientSession() as session:
                    for index in range(scenario.commits):
                        deliveries = list(history.commit_deliveries(index))
                        subject = short_subject(history.message(index))
                        narrator.say(
                            f"commit {index:>2} {history.commit_sha(index)[:10]} {subject}"
                            f" — {history.author(index)}"
                        )
                        for delivery in deliveries:
                            await post(session, app_url, secret, delivery)
                        await wait_idle(service.store)
                        narrator.say(f"    CI: {ci_summary(deliveries)}")
                        narrator.catch_up()
                        await settle(sim, service.store, narrator)
                        if not asked_revert and (number := confirmed_alert(sim, repo)):
                            asked_revert = True
                            app = (app_url, secret)
                            await ask_revert(sim, history, number, session, app, narrator)
                            await settle(sim, service.store, narrator)
                        await asyncio.sleep(pace)
                narrator.say()
                issues = sim.issues(repo)
                narrator.say(
                    f"done: {len(issues)} alert issue(s) filed, "
                    f"{sum(i.state == 'closed' for i in issues)} closed; "
                    f"{len(sim.requests)} GitHub API requests in all."
                )
                if keep_running:
                    narrator.say(f"the App keeps running at {app_url} — Ctrl-C to stop")
                    await wait_for_signal()
    finally:
        await sim.stop()
    return 0


async def post(
    session: aiohttp.ClientSession, url: str, secret: str, delivery: dict[str, Any]
) -> None:
    status = await post_delivery(session, url, secret, delivery)
    if status not in (200, 202):
        raise RuntimeError(f"the App answered {status} to delivery {delivery['delivery_id']}")


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
