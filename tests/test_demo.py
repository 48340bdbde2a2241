"""`trunkwatch demo`: the story a newcomer sees, told from what the App really did."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

import aiohttp

from bot.sim.demo import run_demo
from bot.sim.history import Generator, demo_scenario


async def test_the_demo_shows_the_alert_lifecycle() -> None:
    out = io.StringIO()
    assert await run_demo(out=out, pace=0) == 0
    text = out.getvalue()
    history = Generator(demo_scenario())
    culprit_pr = history.pr_number(6)
    lines = text.splitlines()
    filed = [line for line in lines if "▶ files issue" in line]
    assert len(filed) == 1 and "[P2] inductor: 3 commits in a row failing on main" in filed[0]
    assert any("▶ assigns issue" in line and "alice" in line for line in lines)
    assert any(f"▶ labels PR #{culprit_pr}: ci: suspected breakage" in line for line in lines)
    assert any(f"▶ comments on PR #{culprit_pr}" in line for line in lines)
    assert any("▶ edits issue" in line for line in lines)
    closing = [line for line in lines if "▶ closes issue" in line]
    assert len(closing) == 1 and "completed" in closing[0]
    assert "1 alert issue(s) filed, 1 closed" in text
    # The rendered body shows the owners and the suspect, not markup.
    assert "@pytorch/inductor-oncall" in text
    assert "<!--" not in text and "<details>" not in text
    assert "](http" not in text and "**" not in text  # links and emphasis as a reader sees them
    commits = [line for line in lines if line.startswith("commit ")]
    assert len(commits) == 14
    assert all(re.search(r" \(#\d+\) — \w+$", line) for line in commits), commits
    assert "(groups: inductor, trunk; lint not watched;" in text  # what the history uses
    assert sum("runner outage" in line for line in lines) == 1
    # The culprit never ran (superseded): bisect tags, a rerun, and it is confirmed.
    assert sum("superseded by the next push" in line for line in lines) == 2
    tags = [line for line in lines if "▶ pushes tag trunkwatch/bisect/" in line]
    assert len(tags) == 2 and history.commit_sha(6)[:10] in tags[0]
    assert sum("▶ reruns job" in line for line in lines) == 1
    culprit = f"Culprit: `{history.commit_sha(6)[:7]}` (#{culprit_pr}) — confirmed"
    assert any(culprit in line for line in lines)
    assert any("comments on issue" in line and "/trunkwatch revert" in line for line in lines)
    assert any("▶ opens revert PR" in line and "Revert " in line for line in lines)
    others = {history.pr_number(i) for i in (5, 7)}  # suspects at first, cleared on the way
    assert all(f"removes label 'ci: suspected breakage' from PR #{pr}" in text for pr in others)


class Lines(io.StringIO):
    """The demo's output, with a wake-up for each line written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


async def test_the_printed_status_link_answers_while_it_keeps_running() -> None:
    out = Lines()
    demo = asyncio.create_task(run_demo(keep_running=True, out=out, pace=0))
    try:
        while "keeps running" not in out.getvalue():
            assert not demo.done(), out.getvalue()
            out.written.clear()
            await asyncio.wait_for(out.written.wait(), 60)
        (link,) = re.findall(r"status page: (\S+)", out.getvalue())
        async with aiohttp.ClientSession() as session, session.get(link) as response:
            assert response.status == 200
            page = await response.text()
        assert "pytorch/pytorch" in page and 'data-group="inductor"' in page
    finally:
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo
