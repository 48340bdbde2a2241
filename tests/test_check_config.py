"""`trunkwatch check-config`: errors (exit 1), unknown keys as warnings (exit 0, or 1 with
`--strict`), notes on settings that cannot work, and `_extends` followed through the
simulated GitHub when it can be, said when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import _check_config, main
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import INSTALLATION_ID

BASE = """
groups:
  inductor:
    workflows: ["inductor*"]
    threshold: 3
alerts:
  retention_commits: 50
"""


def test_settings_that_can_never_fire_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trunkwatch.yml"
    path.write_text(
        "groups:\n"
        "  lint:\n"
        "    jobs: [lint, mypy]\n"
        "    min_failing_jobs: 3\n"
        "  wide:\n"
        "    jobs: ['test*']\n"
        "    min_failing_jobs: 3\n"
        "alerts:\n"
        "  retention_commits: 50\n"
    )
    assert main(["check-config", str(path)]) == 0  # valid, so not an error
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("warning:")]
    assert len(warnings) == 1, out  # `wide` names its jobs by a glob: no telling
    assert "groups.lint.min_failing_jobs: 3 is more than the 2 job(s)" in warnings[0]


def test_unknown_keys_warn_and_fail_only_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trunkwatch.yml"
    path.write_text("groups:\n  inductor:\n    treshold: 4\nnot_yet_known: {a: 1}\n")
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"warning: {path}:3: groups.inductor.treshold: unknown key (did you mean 'threshold'?)",
        f"warning: {path}:4: not_yet_known: unknown key",
        f"{path}: ok (2 unknown key(s) skipped)",
    ]
    assert main(["check-config", "--strict", str(path)]) == 1
    captured = capsys.readouterr()
    assert f"warning: {path}:4: not_yet_known: unknown key" in captured.out
    assert "2 unknown key(s)" in captured.err and "ok" not in captured.out


def test_a_wrong_setting_is_an_error_that_names_its_line_and_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trunkwatch.yml"
    path.write_text(
        "groups:\n  inductor: {}\n  trunk: {priority: urgent}\n"
        "suspects:\n  wait: soon\nculprit:\n  revert: yes-please\nfuture: 1\n"
    )
    assert main(["check-config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{path}:3: groups.trunk.priority: expected one of P0, P1, P2, P3, P4, got 'urgent';"
        " the group 'trunk' is ignored",
        f"{path}:5: suspects.wait: expected a duration such as 30m, 2h, 1d, 1w or 1h30m,"
        " got 'soon'; the default applies: 30m",
        f"{path}:7: culprit.revert: expected one of off, suggest, auto, got 'yes-please';"
        ' the default applies: "off"',
        f"warning: {path}:8: future: unknown key",
    ]
    assert "3 error(s)" in captured.err


@pytest.fixture
def token(sim: SimulatedGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", sim.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", sim.issue_token(INSTALLATION_ID)[0])


async def test_extends_is_followed_and_checked_whole(
    sim: SimulatedGitHub, token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.add_repo("octo-org/.github")
    sim.set_file("octo-org/.github", ".github/trunkwatch.yml", BASE)
    path = tmp_path / "trunkwatch.yml"
    path.write_text("_extends: octo-org/.github\ngroups:\n  inductor:\n    min_failing_jobs: 2\n")
    assert await _check_config(path, None) == 0  # `groups` came from the base
    assert "ok" in capsys.readouterr().out

    # Checked whole: the base keeps 50 commits, which this file's threshold exceeds.
    path.write_text("_extends: octo-org/.github\ngroups:\n  inductor:\n    threshold: 90\n")
    assert await _check_config(path, None) == 1
    out = capsys.readouterr().out
    assert "octo-org/.github:.github/trunkwatch.yml:7: alerts.retention_commits" in out

    sim.set_file("octo-org/.github", ".github/trunkwatch.yml", BASE + "bogus: 1\n")
    path.write_text("_extends: octo-org/.github\n")
    assert await _check_config(path, None) == 0  # an unknown key is a warning
    warning = "warning: octo-org/.github:.github/trunkwatch.yml:8: bogus: unknown key"
    assert warning in capsys.readouterr().out
    assert await _check_config(path, None, strict=True) == 1
    assert warning in capsys.readouterr().out


async def test_a_base_that_cannot_be_read_is_said(
    sim: SimulatedGitHub, token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trunkwatch.yml"
    path.write_text("_extends: base-config\n")  # a bare name: whose?
    assert await _check_config(path, None) == 0
    out = capsys.readouterr().out
    assert "warning:" in out and "was not read" in out and "--repo OWNER/NAME" in out

    sim.add_repo("octo-org/base-config")
    sim.set_file("octo-org/base-config", ".github/trunkwatch.yml", BASE)
    assert await _check_config(path, "octo-org/app") == 0
    assert "was not read" not in capsys.readouterr().out
