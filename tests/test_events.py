"""Payloads parsed at the edge: real GitHub deliveries in, typed values out."""

from __future__ import annotations

import pytest

from bot.events import (
    PayloadError,
    parse_installation,
    parse_push,
    parse_workflow_job,
    parse_workflow_run,
)
from bot.sim.history import Generator, default_scenario
from tests.fixtures import load_payload


def test_push_to_a_branch_gives_its_commits_in_order() -> None:
    parsed = parse_push(load_payload("push/octokit.with-new-branch.json"), "d1")
    assert parsed is not None
    push = parsed.push
    assert (push.repo, push.branch) == ("Codertocat/Hello-World", "master")
    assert push.before == "0" * 40
    assert [c.sha for c in push.commits] == ["6113728f27ae82c7b1a177c8d03f9e96e0adf246"]
    assert push.commits[0].author == "Codertocat"
    assert push.delivery_id == "d1"
    assert "README.md" in parsed.touched_paths


def test_push_author_falls_back_to_the_name_without_a_username() -> None:
    parsed = parse_push(load_payload("push/octokit.with-no-username-committer.json"))
    assert parsed is not None
    assert parsed.push.commits[0].author == "Codertocat"


def test_tag_pushes_are_not_trunk_pushes() -> None:
    assert parse_push(load_payload("push/octokit.with-installation.json")) is None


def test_failed_push_run_from_pytorch() -> None:
    run = parse_workflow_run(
        load_payload("workflow_run/pytorch-torchci.completed.failure.push-event.json")
    )
    assert run.workflow == "rebase"
    assert (run.branch, run.conclusion, run.event) == ("master", "failure", "push")
    assert run.tests_trunk
    assert run.repo.installation_id is None
    result = run.as_result("d9")
    assert (result.job, result.run_id, result.run_attempt) == ("", 3206737417, 1)


def test_pull_request_runs_do_not_test_the_trunk() -> None:
    run = parse_workflow_run(
        load_payload("workflow_run/pkg-pr-new.completed.failure.pull_request-event.json")
    )
    assert run.event == "pull_request"
    assert not run.tests_trunk


def test_a_run_with_an_empty_name_takes_the_workflows_name() -> None:
    payload = load_payload("workflow_run/octokit.completed.success.json")
    assert payload["workflow_run"]["name"] == ""
    run = parse_workflow_run(payload)
    assert run.workflow == payload["workflow"]["name"]
    assert run.event == "repository_dispatch" and run.tests_trunk


def test_completed_job() -> None:
    job = parse_workflow_job(load_payload("workflow_job/octokit.completed.failure.json"), "dj")
    assert job.completed
    assert (job.result.workflow, job.result.job, job.result.conclusion) == (
        "CodeQL",
        "linters",
        "failure",
    )
    assert job.result.branch == "main"
    assert job.result.run_attempt == 1


def test_queued_job_is_not_completed() -> None:
    job = parse_workflow_job(load_payload("workflow_job/pytorch-torchci.queued.attempt3.json"))
    assert not job.completed
    assert job.result.run_attempt == 3


def test_installation_events() -> None:
    created = parse_installation(load_payload("installation/octokit.created.json"))
    assert created.action == "created" and created.repositories
    added = parse_installation(load_payload("installation_repositories/octokit.added.json"))
    assert added.added and not added.removed
    removed = parse_installation(load_payload("installation_repositories/octokit.removed.json"))
    assert removed.removed


def test_a_payload_without_its_object_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="workflow_run"):
        parse_workflow_run({"repository": {"full_name": "o/r"}})
    with pytest.raises(PayloadError, match="repository"):
        parse_workflow_job({"workflow_job": {}})


def _shape(value: object) -> object:
    """Keys of nested objects, to compare shapes rather than values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if isinstance(v, dict)} | {
            "_keys": frozenset(value)
        }
    return None


@pytest.mark.parametrize(
    ("event", "fixture", "objects"),
    [
        ("workflow_job", "workflow_job/octokit.completed.failure.json", ["workflow_job"]),
        (
            "workflow_run",
            "workflow_run/pytorch-torchci.completed.failure.push-event.json",
            ["workflow_run"],
        ),
        ("push", "push/octokit.with-new-branch.json", []),
    ],
)
def test_generated_history_uses_the_real_payload_shapes(
    event: str, fixture: str, objects: list[str]
) -> None:
    """The demo and benchmarks' deliveries carry every field trunkwatch reads, named as GitHub
    names them: the generated keys of each object are a subset of the real ones."""
    real = load_payload(fixture)
    generated = next(
        d["payload"] for d in Generator(default_scenario()).deliveries() if d["event"] == event
    )
    assert set(generated) - {"installation"} <= set(real) | {"installation"}
    for name in objects:
        assert set(generated[name]) <= set(real[name]) | {"workflow_name", "head_branch"}
