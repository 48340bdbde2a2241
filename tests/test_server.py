"""The webhook endpoint over real HTTP: signatures, malformed requests, dedupe, durability."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.handlers import EVENTS
from bot.server import make_app, signature_for, signature_matches
from bot.store import open_store
from bot.store.base import Store
from tests.fixtures import FIXTURES, load_payload

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
