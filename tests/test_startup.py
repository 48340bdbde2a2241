"""`trunkwatch serve` starts cleanly or fails cleanly: every startup failure is one line on
stderr naming the setting and the fix, exit status 2, no traceback (unless LOG_LEVEL=debug)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from bot.process.service import running_service
from bot.process.settings import Settings, SettingsError, load_settings
from bot.sim.simulated_github import SimulatedGitHub, generate_private_key_pem
from tests.conftest import ServeApp

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("TRUNKWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "startup-secret-4d2f"


@pytest.fixture(scope="module")
def key() -> str:
    return generate_private_key_pem()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(cwd: Path, key: str, **changes: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "GITHUB_APP_ID": "4242",
        "GITHUB_PRIVATE_KEY": key,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing answers; startup must not wait on it
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "TRUNKWATCH_DATABASE_URL": f"sqlite:///{cwd / 'tw.db'}",
    }
    env.update(changes)
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_garbage_pem(tmp_path: Path) -> None:
    garbage = "-----BEGIN RSA PRIVATE KEY-----\nnot a key at all\n-----END RSA PRIVATE KEY-----\n"
    line = one_line(serve(tmp_path, garbage), "GITHUB_PRIVATE_KEY", "not a PEM private key")
    assert "not a key at all" not in line


def test_a_public_key(tmp_path: Path, key: str) -> None:
    private = serialization.load_pem_private_key(key.encode(), password=None)
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    one_line(serve(tmp_path, public), "GITHUB_PRIVATE_KEY", "public key")


def test_a_key_file_that_holds_garbage_names_the_path_setting(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text("hello")
    done = serve(tmp_path, "", GITHUB_PRIVATE_KEY_PATH=str(tmp_path / "app.pem"))
    one_line(done, "GITHUB_PRIVATE_KEY_PATH")


def test_an_app_id_that_is_not_a_number(tmp_path: Path, key: str) -> None:
    one_line(serve(tmp_path, key, GITHUB_APP_ID="notanumber"), "GITHUB_APP_ID", "number")


def test_a_database_url_trunkwatch_does_not_read(tmp_path: Path, key: str) -> None:
    done = serve(tmp_path, key, TRUNKWATCH_DATABASE_URL="mysql://db/trunkwatch")
    one_line(done, "TRUNKWATCH_DATABASE_URL", "postgresql://")


def test_a_sqlite_file_in_a_directory_that_does_not_exist(tmp_path: Path, key: str) -> None:
    done = serve(tmp_path, key, TRUNKWATCH_DATABASE_URL="sqlite:////nonexistent/dir/tw.db")
    one_line(done, "TRUNKWATCH_DATABASE_URL", "directory")


def postgres_or_skip() -> None:
    import asyncio

    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES}")


def test_a_postgresql_database_that_does_not_exist(tmp_path: Path, key: str) -> None:
    postgres_or_skip()
    missing = POSTGRES.rsplit("/", 1)[0] + "/trunkwatch_no_such_database"
    done = serve(tmp_path, key, TRUNKWATCH_DATABASE_URL=missing)
    one_line(done, "TRUNKWATCH_DATABASE_URL", "does not exist", "createdb")


def test_postgresql_unreachable(tmp_path: Path, key: str) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    done = serve(tmp_path, key, TRUNKWATCH_DATABASE_URL=url)
    one_line(done, "TRUNKWATCH_DATABASE_URL", "is PostgreSQL running")


def test_a_port_in_use(tmp_path: Path, key: str, busy_port: int) -> None:
    done = serve(tmp_path, key, PORT=str(busy_port))
    one_line(done, "PORT", str(busy_port), "another process")


def test_a_host_that_is_not_one(tmp_path: Path, key: str) -> None:
    done = serve(tmp_path, key, HOST="no-such-host.invalid")
    one_line(done, "HOST", "no-such-host.invalid")


def test_debug_shows_the_traceback_too(tmp_path: Path, key: str, busy_port: int) -> None:
    done = serve(tmp_path, key, PORT=str(busy_port), LOG_LEVEL="debug")
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("trunkwatch: HOST/PORT")


def test_secrets_never_appear_in_the_failure(tmp_path: Path, key: str, busy_port: int) -> None:
    done = serve(tmp_path, key, PORT=str(busy_port), LOG_LEVEL="debug")
    body = key.splitlines()[1]
    assert body not in done.stderr and SECRET not in done.stderr


def test_a_key_with_literal_backslash_n_from_the_environment(tmp_path: Path, key: str) -> None:
    environ = {
        "GITHUB_APP_ID": "4242",
        "GITHUB_PRIVATE_KEY": key.strip().replace("\n", "\\n"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
    }
    settings = load_settings(environ, tmp_path)
    assert settings.private_key == key.strip()
    settings.check_serve()  # signs a JWT


def test_the_key_is_checked_before_anything_else_happens(tmp_path: Path) -> None:
    settings = load_settings(
        {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "x", "GITHUB_WEBHOOK_SECRET": "s"}, tmp_path
    )
    with pytest.raises(SettingsError):
        settings.check_serve()
    assert not (tmp_path / "trunkwatch.db").exists()


def test_help_lists_the_settings_and_version_answers() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    shown = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY_PATH", "TRUNKWATCH_DATABASE_URL", "PORT"):
        assert name in shown.stdout
    for name in ("TRUNKWATCH_STATUS_PAGE", "TRUNKWATCH_METRICS_ADDR", "LOG_LEVEL"):
        assert name in shown.stdout
    version = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], env=env, capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("trunkwatch ")


def test_the_readme_docker_env_file_is_what_serve_accepts(tmp_path: Path, key: str) -> None:
    """The env file the README shows, as Docker hands it over (values verbatim)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("where `trunkwatch.env` holds", 1)[1].split("```sh\n", 1)[1]
    environ = dict(
        line.strip().split("=", 1) for line in block.split("```", 1)[0].splitlines() if line.strip()
    )
    key_path = tmp_path / "app.pem"
    key_path.write_text(key)
    assert environ["GITHUB_PRIVATE_KEY_PATH"] == "/run/secrets/app.pem"
    environ["GITHUB_PRIVATE_KEY_PATH"] = str(key_path)  # where this test mounts it
    load_settings(environ, tmp_path).check_serve()


async def test_it_listens_before_github_answers(serve_app: ServeApp) -> None:
    """GitHub unreachable: serve still listens and takes deliveries into its inbox (the
    App's slug is retried in the background meanwhile)."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    serve = serve_app(SECRET, GITHUB_API_URL=nowhere)
    await serve.start()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{serve.url}/readyz") as response:
            assert response.status == 200
        delivery = {"event": "push", "delivery_id": "d-1", "payload": {"ref": "x"}}
        assert await serve.post(session, delivery) == 202
    assert serve.stop() == 0


async def test_an_app_id_that_is_not_the_keys_app_is_named_in_the_log(
    sim: SimulatedGitHub, app_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        app_id="999",  # the simulated App is 4242
        private_key=app_key,
        webhook_secret=SECRET,
        api_url=sim.base_url,
        database_url=f"sqlite:///{tmp_path / 'tw.db'}",
        host="127.0.0.1",
        port=free_port(),
    )
    refused = "GitHub refused the App's JWT (401)"
    async with running_service(settings):
        for _ in range(200):
            if any(refused in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    (record,) = [r for r in caplog.records if refused in r.getMessage()]
    assert record.levelname == "ERROR" and "GITHUB_APP_ID" in record.getMessage()
