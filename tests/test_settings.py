"""Settings from the environment and `.env` (DESIGN.md, "Interfaces that users rely on")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.process.settings import (
    DEFAULT_API_URL,
    DEFAULT_DATABASE_URL,
    Settings,
    SettingsError,
    load_settings,
)

KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAtrunkwatchTESTKEYmaterialNotARealKeyButLooksLikeOne0123\n"
    "-----END RSA PRIVATE KEY-----\n"
)
KEY_BODY = "MIIEowIBAAKCAQEAtrunkwatchTESTKEYmaterialNotARealKeyButLooksLikeOne0123"
SECRET = "whsec-5f0c1d2e3a4b"
STATUS_TOKEN = "status-token-9a8b7c"
APP_KEY_NAMES = "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH"
SERVE_NEEDS = ("GITHUB_APP_ID", APP_KEY_NAMES, "GITHUB_WEBHOOK_SECRET")
ROOT = Path(__file__).resolve().parents[1]


def settings_error(environ: dict[str, str], cwd: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, cwd)
    return str(caught.value)


# --- defaults and sources ---------------------------------------------------------------------


def test_defaults_with_an_empty_environment_and_no_dotenv(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path)

    assert settings == Settings()
    assert settings.app_id == ""
    assert settings.private_key == ""
    assert settings.webhook_secret == ""
    assert settings.api_url == DEFAULT_API_URL == "https://api.github.com"
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///trunkwatch.db"
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.log_level == "info"
    assert settings.status_page is True
    assert settings.lease_seconds == 120.0
    assert settings.status_token == ""
    assert settings.status_public is False  # private by default: the page needs a token
    assert settings.metrics_addr is None and settings.metrics_repos is False
    assert settings.secrets() == []


def test_every_setting_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "GITHUB_APP_ID": "4242",
            "GITHUB_PRIVATE_KEY": KEY,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "TRUNKWATCH_DATABASE_URL": "postgresql://tw@db/trunkwatch",
            "HOST": "127.0.0.1",
            "PORT": "8080",
            "LOG_LEVEL": "DEBUG",
            "TRUNKWATCH_STATUS_PAGE": "off",
            "TRUNKWATCH_LEASE_SECONDS": "30",
            "TRUNKWATCH_STATUS_TOKEN": STATUS_TOKEN,
        },
        tmp_path,
    )

    assert settings == Settings(
        app_id="4242",
        private_key=KEY,
        webhook_secret=SECRET,
        api_url="https://ghe.example.com/api/v3",
        database_url="postgresql://tw@db/trunkwatch",
        host="127.0.0.1",
        port=8080,
        log_level="debug",
        status_page=False,
        lease_seconds=30.0,
        status_token=STATUS_TOKEN,
    )
    assert sorted(settings.secrets()) == sorted([KEY, SECRET, STATUS_TOKEN])
    settings.require_serve()


def test_dotenv_is_read_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "GITHUB_APP_ID=1111\n"
        "GITHUB_WEBHOOK_SECRET=from-dotenv\n"
        "HOST=127.0.0.2\n"
        "PORT=4000\n"
        "TRUNKWATCH_DATABASE_URL=sqlite:///from-dotenv.db\n",
        encoding="utf-8",
    )
    settings = load_settings({"GITHUB_APP_ID": "2222", "PORT": "5000"}, tmp_path)

    assert settings.app_id == "2222"
    assert settings.port == 5000
    assert settings.webhook_secret == "from-dotenv"
    assert settings.host == "127.0.0.2"
    assert settings.database_url == "sqlite:///from-dotenv.db"


def test_an_empty_environment_value_still_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GITHUB_WEBHOOK_SECRET=from-dotenv\n", encoding="utf-8")

    assert load_settings({"GITHUB_WEBHOOK_SECRET": ""}, tmp_path).webhook_secret == ""


def test_dotenv_values_are_taken_as_written_not_expanded(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "GITHUB_WEBHOOK_SECRET=a${HOME}b$PATH\nGITHUB_APP_ID=${PORT}\n", encoding="utf-8"
    )

    settings = load_settings({"HOME": "/root", "PORT": "1"}, tmp_path)

    assert settings.webhook_secret == "a${HOME}b$PATH"
    assert settings.app_id == "${PORT}"


def test_a_dotenv_line_that_cannot_be_read_is_not_echoed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_text(
        f'GITHUB_WEBHOOK_SECRET="{SECRET} unterminated\nGITHUB_APP_ID=12\n', encoding="utf-8"
    )

    load_settings({}, tmp_path)

    assert SECRET not in caplog.text


def test_dotenv_is_read_from_the_given_directory_only(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GITHUB_APP_ID=1111\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    assert load_settings({}, tmp_path).app_id == "1111"
    assert load_settings({}, elsewhere).app_id == ""


@pytest.mark.parametrize("quote", ["", "'", '"'])
def test_dotenv_private_key_with_escaped_newlines(tmp_path: Path, quote: str) -> None:
    escaped = KEY.replace("\n", "\\n")
    (tmp_path / ".env").write_text(
        f"GITHUB_PRIVATE_KEY={quote}{escaped}{quote}\n", encoding="utf-8"
    )

    assert load_settings({}, tmp_path).private_key == KEY


def test_environment_private_key_with_escaped_newlines(tmp_path: Path) -> None:
    escaped = KEY.replace("\n", "\\n")

    assert load_settings({"GITHUB_PRIVATE_KEY": escaped}, tmp_path).private_key == KEY


def test_private_key_read_from_its_path(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(KEY, encoding="utf-8")

    settings = load_settings({"GITHUB_PRIVATE_KEY_PATH": str(key_file)}, tmp_path)

    assert settings.private_key == KEY


def test_private_key_path_from_dotenv(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(KEY, encoding="utf-8")
    (tmp_path / ".env").write_text(f"GITHUB_PRIVATE_KEY_PATH={key_file}\n", encoding="utf-8")

    assert load_settings({}, tmp_path).private_key == KEY


def test_inline_private_key_wins_over_its_path(tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_text("a different key", encoding="utf-8")

    settings = load_settings(
        {"GITHUB_PRIVATE_KEY": KEY, "GITHUB_PRIVATE_KEY_PATH": str(other)}, tmp_path
    )

    assert settings.private_key == KEY


@pytest.mark.parametrize("name", ["missing.pem", "a-directory"])
def test_unreadable_private_key_path_names_the_variable_and_no_key(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "elsewhere.pem").write_text(KEY, encoding="utf-8")

    message = settings_error({"GITHUB_PRIVATE_KEY_PATH": str(tmp_path / name)}, tmp_path)

    assert "GITHUB_PRIVATE_KEY_PATH" in message
    assert "BEGIN RSA PRIVATE KEY" not in message
    assert KEY_BODY not in message


def test_key_pasted_into_the_path_variable_is_not_echoed(tmp_path: Path) -> None:
    message = settings_error({"GITHUB_PRIVATE_KEY_PATH": KEY}, tmp_path)

    assert "GITHUB_PRIVATE_KEY_PATH" in message
    assert KEY_BODY not in message


# --- malformed values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "http"),
        ("PORT", "3000.5"),
        ("PORT", ""),
        ("PORT", "-1"),
        ("PORT", "65536"),
        ("LOG_LEVEL", "verbose"),
        ("LOG_LEVEL", "critical"),
        ("LOG_LEVEL", ""),
        ("TRUNKWATCH_LEASE_SECONDS", "two minutes"),
        ("TRUNKWATCH_LEASE_SECONDS", "0"),
        ("TRUNKWATCH_LEASE_SECONDS", "0.5"),
        ("TRUNKWATCH_LEASE_SECONDS", "3601"),
        ("TRUNKWATCH_LEASE_SECONDS", "nan"),
        ("TRUNKWATCH_LEASE_SECONDS", "inf"),
        ("TRUNKWATCH_STATUS_PAGE", "maybe"),
        ("TRUNKWATCH_STATUS_PAGE", "2"),
        ("TRUNKWATCH_METRICS_ADDR", "9090"),
        ("TRUNKWATCH_METRICS_ADDR", "127.0.0.1:port"),
        ("TRUNKWATCH_METRICS_ADDR", "127.0.0.1:70000"),
        ("TRUNKWATCH_METRICS_REPOS", "sometimes"),
    ],
)
def test_malformed_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"GITHUB_PRIVATE_KEY": KEY, "GITHUB_WEBHOOK_SECRET": SECRET, variable: value}

    message = settings_error(environ, tmp_path)

    assert variable in message
    assert KEY_BODY not in message
    assert SECRET not in message


def test_malformed_value_in_dotenv_names_its_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=three-thousand\n", encoding="utf-8")

    assert "PORT" in settings_error({}, tmp_path)


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("PORT", "0", "port", 0),
        ("PORT", "65535", "port", 65535),
        ("LOG_LEVEL", "Warning", "log_level", "warning"),
        ("LOG_LEVEL", "error", "log_level", "error"),
        ("TRUNKWATCH_LEASE_SECONDS", "1", "lease_seconds", 1.0),
        ("TRUNKWATCH_LEASE_SECONDS", "3600", "lease_seconds", 3600.0),
        ("TRUNKWATCH_STATUS_PAGE", "OFF", "status_page", False),
        ("TRUNKWATCH_STATUS_PAGE", " no ", "status_page", False),
        ("TRUNKWATCH_STATUS_PAGE", "0", "status_page", False),
        ("TRUNKWATCH_STATUS_PAGE", "yes", "status_page", True),
        ("TRUNKWATCH_STATUS_PAGE", "true", "status_page", True),
        ("TRUNKWATCH_STATUS_PAGE", "on", "status_public", False),
        ("TRUNKWATCH_STATUS_PAGE", "private", "status_public", False),
        ("TRUNKWATCH_STATUS_PAGE", "Public", "status_public", True),
        ("TRUNKWATCH_STATUS_PAGE", "public", "status_page", True),
        ("TRUNKWATCH_METRICS_ADDR", "127.0.0.1:9090", "metrics_addr", ("127.0.0.1", 9090)),
        ("TRUNKWATCH_METRICS_ADDR", ":9090", "metrics_addr", ("0.0.0.0", 9090)),
        ("TRUNKWATCH_METRICS_ADDR", "[::1]:9090", "metrics_addr", ("::1", 9090)),
        ("TRUNKWATCH_METRICS_REPOS", "on", "metrics_repos", True),
    ],
)
def test_accepted_values(
    tmp_path: Path, variable: str, value: str, field: str, expected: object
) -> None:
    assert getattr(load_settings({variable: value}, tmp_path), field) == expected


# --- serve's requirements and secrecy -------------------------------------------------------


def _missing(message: str) -> list[str]:
    _, _, names = message.partition(": ")
    return names.split(", ")


@pytest.mark.parametrize(
    "present",
    [
        (),
        ("GITHUB_APP_ID",),
        ("GITHUB_PRIVATE_KEY",),
        ("GITHUB_PRIVATE_KEY_PATH",),
        ("GITHUB_WEBHOOK_SECRET",),
        ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY"),
        ("GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET"),
        ("GITHUB_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET"),
    ],
)
def test_require_serve_names_exactly_the_missing_settings(
    tmp_path: Path, present: tuple[str, ...]
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(KEY, encoding="utf-8")
    values = {
        "GITHUB_APP_ID": "4242",
        "GITHUB_PRIVATE_KEY": KEY,
        "GITHUB_PRIVATE_KEY_PATH": str(key_file),
        "GITHUB_WEBHOOK_SECRET": SECRET,
    }
    settings = load_settings({name: values[name] for name in present}, tmp_path)

    with pytest.raises(SettingsError) as caught:
        settings.require_serve()

    has_key = "GITHUB_PRIVATE_KEY" in present or "GITHUB_PRIVATE_KEY_PATH" in present
    expected = [
        name
        for name, given in zip(
            SERVE_NEEDS,
            ("GITHUB_APP_ID" in present, has_key, "GITHUB_WEBHOOK_SECRET" in present),
            strict=True,
        )
        if not given
    ]
    assert _missing(str(caught.value)) == expected
    assert KEY_BODY not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_require_serve_passes_with_everything(tmp_path: Path) -> None:
    environ = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": KEY, "GITHUB_WEBHOOK_SECRET": SECRET}
    load_settings(environ, tmp_path).require_serve()


def test_repr_and_str_show_no_secret(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "GITHUB_APP_ID": "4242",
            "GITHUB_PRIVATE_KEY": KEY,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "TRUNKWATCH_STATUS_TOKEN": STATUS_TOKEN,
        },
        tmp_path,
    )

    for shown in (repr(settings), str(settings), f"{settings!r}"):
        assert "4242" in shown
        assert KEY_BODY not in shown
        assert "PRIVATE KEY" not in shown
        assert SECRET not in shown
        assert STATUS_TOKEN not in shown


def test_serve_with_an_empty_environment_exits_2_naming_what_is_missing(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "")}
    if not _importable_without_pythonpath(tmp_path, env):
        env["PYTHONPATH"] = str(ROOT)

    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "GITHUB_APP_ID" in line]
    assert len(lines) == 1, done.stderr
    assert "GITHUB_PRIVATE_KEY" in lines[0]
    assert "GITHUB_WEBHOOK_SECRET" in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "trunkwatch.db").exists()


def _importable_without_pythonpath(cwd: Path, env: dict[str, str]) -> bool:
    """Whether `bot` is installed in the interpreter (else the checkout is put on the path)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import bot"], cwd=cwd, env=env, capture_output=True, timeout=20
    )
    return probe.returncode == 0
