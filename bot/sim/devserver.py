"""`trunkwatch serve` as a child process, for the durability tests and the benchmarks.

Starts the real command with a given environment, waits until `/healthz` answers, and can
stop it politely (SIGTERM) or kill it outright (SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from bot.web.server import signature_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_env(
    app_id: int, key_path: Path, secret: str, api_url: str, database: Path | str, log_level: str
) -> dict[str, str]:
    """The environment of a `trunkwatch serve` against a (simulated) GitHub, on a SQLite file
    (a path) or any database (a URL)."""
    return {
        "GITHUB_APP_ID": str(app_id),
        "GITHUB_PRIVATE_KEY_PATH": str(key_path),
        "GITHUB_WEBHOOK_SECRET": secret,
        "GITHUB_API_URL": api_url,
        "TRUNKWATCH_DATABASE_URL": database
        if isinstance(database, str)
        else f"sqlite:///{database}",
        "LOG_LEVEL": log_level,
    }


class ServeProcess:
    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.port = int(env.get("PORT") or free_port())
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 30.0) -> None:
        log = self.log_path.open("ab")
        # A Popen handle, not an asyncio one: tests kill it with SIGKILL from any loop.
        self.process = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bot", "serve"],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"serve exited with {self.process.returncode}: {self.log_tail()}"
                    )
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"serve did not answer /healthz within {within}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


async def post_delivery(
    session: aiohttp.ClientSession, url: str, secret: str, delivery: Mapping[str, Any]
) -> int | None:
    """POST a recorded delivery (`{"event", "delivery_id", "payload"}`) to the App's webhook,
    signed as GitHub signs it. The answer's status, or None when no answer came (the server
    died, or refused the connection)."""
    body = json.dumps(delivery["payload"]).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": delivery["event"],
        "X-GitHub-Delivery": delivery["delivery_id"],
        "X-Hub-Signature-256": signature_for(secret, body),
    }
    try:
        async with session.post(f"{url}/webhook", data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (TimeoutError, aiohttp.ClientError):
        return None
