"""`trunkwatch serve` at LOG_LEVEL=debug, run as it is deployed, against the simulated GitHub:
its logs are JSON lines that say which delivery, repository and event they are about, and no
secret it holds or receives ever appears in them: not the webhook secret, not the private key,
not the App's JWTs, not the installation tokens GitHub issued."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.sim.devserver import post_delivery
from bot.sim.history import Generator, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import INSTALLATION_ID, ServeApp

DEFAULT_CONFIG = (
    Path(__file__).resolve().parents[1] / "bot" / "defaults" / "trunkwatch.yml"
).read_text()


def record_credentials(sim: SimulatedGitHub) -> list[str]:
    """Every credential the App sends the simulated GitHub (JWTs and tokens)."""
    seen: list[str] = []
    authenticate = sim._authenticate

    def recording(request: web.Request, path: str) -> str:
        _, _, credential = request.headers.get("authorization", "").partition(" ")
        if credential:
            seen.append(credential)
        return authenticate(request, path)

    sim._authenticate = recording  # type: ignore[method-assign]
    return seen


async def post(session: aiohttp.ClientSession, url: str, secret: str, delivery: Any) -> int:
    status = await post_delivery(session, url, secret, delivery)
    assert status is not None, "the App gave no answer"
    return status


async def test_logs_are_json_with_delivery_context_and_never_hold_a_secret(
    sim: SimulatedGitHub, app_key: str, serve_app: ServeApp
) -> None:
    scenario = default_scenario()
    scenario.installation_id = INSTALLATION_ID
    deliveries = list(Generator(scenario).deliveries())
    sim.add_repo(scenario.repo, default_branch=scenario.branch)
    sim.set_file(scenario.repo, ".github/trunkwatch.yml", DEFAULT_CONFIG)
    credentials = record_credentials(sim)
    # Failures make the App log errors and retries, where a credential could slip in.
    sim.fail_next("POST", f"/repos/{scenario.repo}/issues", 401)
    sim.fail_next("GET", f"/repos/{scenario.repo}/contents/*", 502)
    webhook_secret = "whsec-" + secrets.token_hex(16)
    serve = serve_app(webhook_secret, log_level="debug")
    log = serve.log_path
    await serve.start()
    async with aiohttp.ClientSession() as session:
        for delivery in deliveries:
            assert await post(session, serve.url, webhook_secret, delivery) == 202
        # One with a wrong signature: refused, and the signature it carried not logged.
        assert await post(session, serve.url, "not-the-secret", deliveries[0]) == 401
    await serve.drained([d["delivery_id"] for d in deliveries])
    serve.stop()

    # The App really used what must not leak: it fetched tokens, signed JWTs, filed an alert.
    tokens = list(sim.tokens)
    jwts = [c for c in credentials if c.count(".") == 2]
    assert tokens and jwts
    assert any(r.method == "POST" and r.path.endswith("/issues") for r in sim.requests)

    text = log.read_text()
    lines = text.splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(entry, dict) for entry in entries)
    assert any(entry["msg"] == "serving" for entry in entries)
    assert any(entry["level"] == "warning" and entry.get("error") for entry in entries)

    for name, secret in [
        ("webhook secret", webhook_secret),
        *((f"installation token {t[:8]}…", t) for t in tokens),
        *((f"JWT {j[:12]}…", j) for j in set(jwts)),
        *(
            (f"private key line {n}", line)
            for n, line in enumerate(app_key.splitlines())
            if line.strip()
        ),
    ]:
        assert secret not in text, f"the {name} appears in the log"

    processed = [entry for entry in entries if entry["msg"] == "delivery processed"]
    assert {entry["delivery_id"] for entry in processed} == {d["delivery_id"] for d in deliveries}
    by_id = {d["delivery_id"]: d for d in deliveries}
    for entry in processed:
        delivery = by_id[entry["delivery_id"]]
        assert entry["event"] == delivery["event"]
        assert entry["repo"] == scenario.repo
        assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
        assert entry["level"] == "info"
        assert entry["ts"].endswith("Z")
