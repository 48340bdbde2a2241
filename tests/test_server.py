"""The webhook endpoint over real HTTP: signatures, malformed requests, dedupe, durability."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.handlers import EVENTS
from bot.store import open_store
from bot.store.base import Store
from bot.web.server import WEBHOOK_KEY, BodyBudget, make_app, signature_for, signature_matches
from tests.fixtures import FIXTURES, load_payload
from tests.malformed import MUTATIONS, malformed_bodies

SECRET = "It's a Secret to Everybody"
WOKEN = web.AppKey("woken", list[int])

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def test_signature_matches_github_docs_vector() -> None:
    vector = json.loads((FIXTURES / "signature_vector.json").read_text())["github_docs_vector"]
    body = vector["payload"].encode(vector["payload_encoding"])
    assert signature_for(vector["secret"], body) == vector["expected_x_hub_signature_256"]
    assert signature_matches(vector["secret"], body, vector["expected_x_hub_signature_256"])
    assert not signature_matches("another secret", body, vector["expected_x_hub_signature_256"])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def client(store: Store, aiohttp_client: ClientMaker) -> TestClient[Any, Any]:
    woken: list[int] = []
    app = make_app(SECRET, store, EVENTS, lambda: woken.append(1))
    app[WOKEN] = woken
    return await aiohttp_client(app)


def signed(
    body: bytes, event: str | None = "workflow_run", delivery: str | None = "d-1"
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature_for(SECRET, body),
    }
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


async def nothing_stored(store: Store) -> bool:
    pending, _ = await store.inbox_stats(now=0)
    return pending == 0 and await store.get_delivery("d-1") is None


async def test_real_workflow_run_is_stored_and_answered_202(
    client: TestClient[Any, Any], store: Store
) -> None:
    body = json.dumps(
        load_payload("workflow_run/pkg-pr-new.completed.failure.pull_request-event.json")
    ).encode()
    response = await client.post("/webhook", data=body, headers=signed(body))
    assert response.status == 202
    assert await response.json() == {"accepted": "d-1"}
    stored = await store.get_delivery("d-1")
    assert stored is not None
    assert stored.event == "workflow_run"
    assert stored.repo == "stackblitz-labs/temporary-test"
    assert stored.installation_id is not None
    assert stored.body == body  # the raw bytes, exactly as received
    assert client.app[WOKEN] == [1]  # the worker was told at once


async def test_a_redelivery_is_acknowledged_once_and_stored_once(
    client: TestClient[Any, Any], store: Store
) -> None:
    body = json.dumps(load_payload("push/octokit.with-new-branch.json")).encode()
    first = await client.post("/webhook", data=body, headers=signed(body, "push", "same"))
    second = await client.post("/webhook", data=body, headers=signed(body, "push", "same"))
    assert (first.status, second.status) == (202, 200)
    assert await second.json() == {"duplicate": "same"}
    assert (await store.inbox_stats(now=0))[0] == 1


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda h: h.pop("X-Hub-Signature-256"), 401, "missing X-Hub-Signature-256"),
        (lambda h: h.update({"X-Hub-Signature-256": "sha256=" + "0" * 64}), 401, "does not match"),
        (lambda h: h.update({"X-Hub-Signature-256": "garbage"}), 401, "does not match"),
        (lambda h: h.pop("X-GitHub-Event"), 400, "missing X-GitHub-Event"),
        (lambda h: h.pop("X-GitHub-Delivery"), 400, "X-GitHub-Delivery"),
        (lambda h: h.update({"Content-Type": "application/x-www-form-urlencoded"}), 415, "json"),
    ],
    ids=[
        "no-signature",
        "wrong-signature",
        "malformed-signature",
        "no-event",
        "no-delivery",
        "form-encoded",
    ],
)
async def test_bad_requests_are_refused_with_a_reason_and_leave_no_trace(
    client: TestClient[Any, Any],
    store: Store,
    mutate: Callable[[dict[str, str]], object],
    status: int,
    reason: str,
) -> None:
    body = json.dumps(load_payload("workflow_job/octokit.completed.failure.json")).encode()
    headers = signed(body, "workflow_job")
    mutate(headers)
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == status
    assert reason in (await response.json())["error"]
    assert await nothing_stored(store)


async def test_a_body_signed_then_altered_is_refused(
    client: TestClient[Any, Any], store: Store
) -> None:
    body = json.dumps(load_payload("workflow_job/octokit.completed.failure.json")).encode()
    headers = signed(body, "workflow_job")
    tampered = body.replace(b'"failure"', b'"success"', 1)
    response = await client.post("/webhook", data=tampered, headers=headers)
    assert response.status == 401
    assert await nothing_stored(store)


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"\xff\xfe"], ids=["broken", "list", "binary"]
)
async def test_bodies_that_are_not_json_objects_get_400(
    client: TestClient[Any, Any], store: Store, body: bytes
) -> None:
    response = await client.post("/webhook", data=body, headers=signed(body))
    assert response.status == 400
    assert await nothing_stored(store)


async def test_ping_is_answered_and_not_stored(client: TestClient[Any, Any], store: Store) -> None:
    body = json.dumps(load_payload("ping/octokit.with-app_id.json")).encode()
    response = await client.post("/webhook", data=body, headers=signed(body, "ping"))
    assert response.status == 200
    assert await nothing_stored(store)


async def test_unhandled_events_are_acknowledged_but_not_stored(
    client: TestClient[Any, Any], store: Store
) -> None:
    body = b'{"action": "opened", "repository": {"full_name": "o/r"}}'
    response = await client.post("/webhook", data=body, headers=signed(body, "star"))
    assert response.status == 200
    assert "does not handle star" in (await response.json())["ignored"]
    assert await nothing_stored(store)


async def test_healthz(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


def test_the_app_refuses_to_exist_without_a_secret(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="secret"):
        make_app("", store, EVENTS)


# --- bad input: a 4xx with a reason, or stored; never a 5xx -------------------------------

PUSH = load_payload("push/octokit.with-new-branch.json")


def _with(extra: str) -> bytes:
    """The push payload with `extra` (raw JSON text) added as its last members."""
    return json.dumps(PUSH).encode()[:-1] + b", " + extra.encode() + b"}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_with('"deep": ' + "[" * 100_000 + "]" * 100_000), "nests deeper"),
        (_with('"deep": ' + "[" * 100 + "]" * 100), "nests deeper"),
        (
            json.dumps({**PUSH, "installation": {"id": 2**70}}).encode(),
            "outside the 64-bit range",
        ),
        (_with('"x": "\\ud800"'), "lone surrogate"),
        (_with('"x": NaN'), "NaN"),
        (_with('"x": 1e400'), "too large for a double"),
        (_with('"ref": "refs/heads/other"'), "repeats the key 'ref'"),
        (b"\xef\xbb\xbf" + json.dumps(PUSH).encode(), "byte order mark"),
        (json.dumps(PUSH).encode("utf-16"), "not UTF-8"),
        (_with('"x": "a\\u0000b"'), "NUL"),
        (
            json.dumps({**PUSH, "repository": {"full_name": "o/r/../../x"}}).encode(),
            "owner/name",
        ),
    ],
    ids=[
        "depth-100000",
        "depth-100",
        "int-2^70",
        "lone-surrogate",
        "nan",
        "overflowing-float",
        "duplicate-key",
        "bom",
        "utf-16",
        "nul",
        "bad-repo-name",
    ],
)
async def test_malformed_bodies_get_400_with_a_reason(
    client: TestClient[Any, Any], store: Store, body: bytes, reason: str
) -> None:
    response = await client.post("/webhook", data=body, headers=signed(body, "push"))
    assert response.status == 400
    assert reason in (await response.json())["error"]
    assert await nothing_stored(store)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(PUSH, indent=4).replace('": ', '" : ').encode(),  # spaces before colons
        _with('"message": "a \\": b", "note": "\\\\u0000 is text here"'),  # look-alikes
        _with(f'"big": {2**63 - 1}, "small": {-(2**63)}, "ratio": 1.5e300'),
        _with('"emoji": "\\ud83d\\ude00", "depth": ' + "[" * 62 + "]" * 62),
    ],
    ids=["spaced-colons", "escaped-look-alikes", "int64-edges", "surrogate-pair-and-depth-64"],
)
async def test_unusual_but_valid_bodies_are_stored(
    client: TestClient[Any, Any], store: Store, body: bytes
) -> None:
    response = await client.post("/webhook", data=body, headers=signed(body, "push"))
    assert response.status == 202, await response.text()
    stored = await store.get_delivery("d-1")
    assert stored is not None and stored.body == body


async def test_two_thousand_malformed_deliveries_get_no_5xx_and_spoil_no_valid_one(
    client: TestClient[Any, Any], store: Store
) -> None:
    """Posted 100 at a time, so that malformed and valid deliveries share group commits."""
    cases = list(malformed_bodies(PUSH, 2200))
    valid = json.dumps(PUSH).encode()
    statuses: Counter[tuple[str, int]] = Counter()

    async def send(kind: str, body: bytes, delivery: str) -> None:
        response = await client.post("/webhook", data=body, headers=signed(body, "push", delivery))
        statuses[kind, response.status] += 1

    for start in range(0, len(cases), 100):
        batch = [
            send(kind, body, f"m-{start + i}") for i, (kind, body) in enumerate(cases[start:][:100])
        ]
        batch += [send("valid", valid, f"v-{start + i}") for i in range(10)]
        await asyncio.gather(*batch)

    assert [key for key in statuses if key[1] >= 500] == []
    assert statuses["valid", 202] == 220
    assert {kind for kind, status in statuses if status == 400} == set(MUTATIONS)
    for start in range(0, len(cases), 100):
        for i in range(10):
            stored = await store.get_delivery(f"v-{start + i}")
            assert stored is not None and stored.body == valid
    accepted = sum(count for (_, status), count in statuses.items() if status == 202)
    pending, _ = await store.inbox_stats(now=0)
    assert pending == accepted  # every 202 is in the inbox; nothing else is


# --- limits at the edge -------------------------------------------------------------------


async def _status_of_headers_alone(client: TestClient[Any, Any], headers: dict[str, str]) -> int:
    """Send a request's headers and none of its body: the status the server answers with
    without waiting for the body (a server that read first would never answer)."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    lines = ["POST /webhook HTTP/1.1", f"Host: {server.host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({}, 401),  # no signature
        ({"X-Hub-Signature-256": "sha256=nothex"}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Encoding": "gzip"}, 415),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Length": "26215425"}, 413),
    ],
    ids=["unsigned", "malformed-signature", "gzip", "over-25-MB"],
)
async def test_requests_refusable_from_their_headers_are_refused_before_the_body_is_read(
    client: TestClient[Any, Any], extra: dict[str, str], status: int
) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-1",
        "Content-Length": str(20 * 1024 * 1024),
    } | extra
    assert await _status_of_headers_alone(client, headers) == status


async def test_a_compressed_body_is_refused_even_when_signed(
    client: TestClient[Any, Any], store: Store
) -> None:
    body = json.dumps(PUSH).encode()
    headers = signed(gzip.compress(body), "push") | {"Content-Encoding": "gzip"}
    response = await client.post("/webhook", data=gzip.compress(body), headers=headers)
    assert response.status == 415
    assert await nothing_stored(store)


async def test_event_labels_come_from_a_fixed_set(client: TestClient[Any, Any]) -> None:
    for index in range(200):
        event = f"made-up-{index}" if index % 2 else "x" * 8000
        response = await client.post(
            "/webhook", data=b"{}", headers={"X-GitHub-Event": event, "X-GitHub-Delivery": "d"}
        )
        assert response.status == 401
    body = json.dumps(PUSH).encode()
    await client.post("/webhook", data=body, headers=signed(body, "push"))
    counts = client.app[WEBHOOK_KEY].received
    assert set(counts) == {("other", "unsigned"), ("push", "accepted")}
    assert counts["other", "unsigned"] == 200


async def test_bodies_in_flight_share_one_budget() -> None:
    budget = BodyBudget(limit=100)
    assert await budget.acquire(60, wait_seconds=0)
    assert not await budget.acquire(60, wait_seconds=0)  # would pass the limit
    waiting = asyncio.create_task(budget.acquire(60, wait_seconds=30))
    await budget.release(60)
    assert await waiting  # freed bytes let the waiting body in
    assert budget.held == 60
