"""`trunkwatch check-config`: warnings for settings that cannot work, and `_extends`
followed through the simulated GitHub when it can be, said when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import _check_config, main
from bot.simulated_github import SimulatedGitHub
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
    assert await _check_config(path, None) == 1
    assert "octo-org/.github:.github/trunkwatch.yml:8: bogus" in capsys.readouterr().out


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
