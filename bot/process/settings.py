"""Settings from the environment (and a `.env` file in the working directory).

Read when a command starts, never at import time.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from dotenv import dotenv_values

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_DATABASE_URL = "sqlite:///trunkwatch.db"
LOG_LEVELS = ("debug", "info", "warning", "error")
ON_OFF = {"on": True, "true": True, "1": True, "yes": True}
ON_OFF |= {"off": False, "false": False, "0": False, "no": False}
# `on` (and its synonyms) is what the page was before it became private by default.
STATUS_PAGE_VALUES = {"private": "private", "public": "public", "off": "off"}
STATUS_PAGE_VALUES |= {word: "private" if on else "off" for word, on in ON_OFF.items()}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it (never its value)."""


@dataclass(frozen=True)
class Settings:
    app_id: str = ""
    private_key: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "info"
    status_page: bool = True
    lease_seconds: float = 120.0
    status_token: str = field(default="", repr=False)
    # The status page needs the token unless it is public (TRUNKWATCH_STATUS_PAGE=public).
    status_public: bool = False
    # Where /metrics listens when not on the webhook's port: (host, port), or None.
    metrics_addr: tuple[str, int] | None = None
    # Whether /metrics labels series with repository names (TRUNKWATCH_METRICS_REPOS=on).
    metrics_repos: bool = False
    # The variable the key came from, for messages about it.
    private_key_source: str = "GITHUB_PRIVATE_KEY"

    def require_serve(self) -> None:
        """`serve` needs the App's identity and a webhook secret: say which are missing."""
        missing = [
            name
            for name, value in (
                ("GITHUB_APP_ID", self.app_id),
                ("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH", self.private_key),
                ("GITHUB_WEBHOOK_SECRET", self.webhook_secret),
            )
            if not value
        ]
        if missing:
            raise SettingsError("serve needs these settings: " + ", ".join(missing))

    def check_serve(self) -> None:
        """Everything `serve` can check before it binds: the settings are there, the App id
        has its shape, the key signs a JWT and the database URL is one trunkwatch reads."""
        self.require_serve()
        if not APP_ID.fullmatch(self.app_id.strip()):
            shown = self.app_id if len(self.app_id) <= 40 else self.app_id[:40] + "…"
            raise SettingsError(
                f"GITHUB_APP_ID must be the App's number (\"App ID\" on the App's settings page),"
                f" got {shown!r}"
            )
        check_private_key(self.private_key, self.private_key_source)
        from bot.store import ACCEPTED_FORMS, open_store

        try:
            open_store(self.database_url)
        except ValueError:
            # Not the URL itself: it may hold a password.
            scheme = self.database_url.partition("://")[0][:20]
            raise SettingsError(
                f"TRUNKWATCH_DATABASE_URL is not a database URL trunkwatch reads"
                f" ({scheme!r}…); use one of: {ACCEPTED_FORMS}"
            ) from None

    def secrets(self) -> list[str]:
        return [s for s in (self.private_key, self.webhook_secret, self.status_token) if s]


APP_ID = re.compile(r"[1-9][0-9]{0,19}")


def check_private_key(pem: str, source: str) -> None:
    """The key is an RSA private key in PEM that signs a JWT; else say what it is instead."""
    fix = "use the private key (.pem) generated on the App's settings page"
    if "PUBLIC KEY" in pem:
        raise SettingsError(f"{source} holds a public key, not the App's private key: {fix}")
    try:
        key = load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        # Not the cryptography message: it may quote the key.
        raise SettingsError(
            f"{source} is not a PEM private key (-----BEGIN RSA PRIVATE KEY----- …): {fix}"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise SettingsError(f"{source} is not an RSA key; GitHub Apps sign with RSA: {fix}")
    try:
        jwt.encode({"iat": int(time.time()), "iss": "check"}, key, algorithm="RS256")
    except Exception as exc:
        raise SettingsError(f"{source} cannot sign a JWT ({type(exc).__name__}): {fix}") from None


def unescape_key(value: str) -> str:
    """A PEM key with its newlines written as `\\n` (one line in an env file or a CI secret)."""
    return value.replace("\\n", "\n")


def read_dotenv(path: Path) -> dict[str, str]:
    """The settings in a `.env` file, as python-dotenv reads them; none if there is no file.
    Values are taken as written: `${NAME}` is not expanded."""
    values = dotenv_values(path, interpolate=False, encoding="utf-8")
    return {key: value for key, value in values.items() if value is not None}


def load_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Settings from `environ` (default os.environ) over `.env` in `cwd`."""
    env = dict(read_dotenv((cwd or Path.cwd()) / ".env"))
    env.update(environ if environ is not None else os.environ)
    private_key = unescape_key(env.get("GITHUB_PRIVATE_KEY", ""))
    key_path = env.get("GITHUB_PRIVATE_KEY_PATH", "")
    key_source = "GITHUB_PRIVATE_KEY"
    if not private_key and key_path:
        key_source = "GITHUB_PRIVATE_KEY_PATH"
        try:
            private_key = Path(key_path).read_text(encoding="utf-8")
        except OSError as exc:
            # Not the path itself: a key pasted into this variable by mistake must not be echoed.
            raise SettingsError(
                f"GITHUB_PRIVATE_KEY_PATH: cannot read the file it names ({exc.strerror})"
            ) from None
    port_text = env.get("PORT", "3000")
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"PORT must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"PORT must be between 0 and 65535, got {port}")
    level = env.get("LOG_LEVEL", "info").lower()
    if level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    lease_text = env.get("TRUNKWATCH_LEASE_SECONDS", "120")
    try:
        lease_seconds = float(lease_text)
    except ValueError:
        raise SettingsError(
            f"TRUNKWATCH_LEASE_SECONDS must be a number, got {lease_text!r}"
        ) from None
    if not 1 <= lease_seconds <= 3600:
        raise SettingsError("TRUNKWATCH_LEASE_SECONDS must be between 1 and 3600")
    status_text = env.get("TRUNKWATCH_STATUS_PAGE", "private").strip().lower()
    if status_text not in STATUS_PAGE_VALUES:
        raise SettingsError(
            f"TRUNKWATCH_STATUS_PAGE must be private, public or off, got {status_text!r}"
        )
    metrics_repos = env.get("TRUNKWATCH_METRICS_REPOS", "off").strip().lower()
    if metrics_repos not in ON_OFF:
        raise SettingsError(f"TRUNKWATCH_METRICS_REPOS must be on or off, got {metrics_repos!r}")
    return Settings(
        app_id=env.get("GITHUB_APP_ID", ""),
        private_key=private_key,
        webhook_secret=env.get("GITHUB_WEBHOOK_SECRET", ""),
        api_url=env.get("GITHUB_API_URL", DEFAULT_API_URL).rstrip("/"),
        database_url=env.get("TRUNKWATCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        host=env.get("HOST", "0.0.0.0"),
        port=port,
        log_level=level,
        status_page=STATUS_PAGE_VALUES[status_text] != "off",
        lease_seconds=lease_seconds,
        status_token=env.get("TRUNKWATCH_STATUS_TOKEN", ""),
        status_public=STATUS_PAGE_VALUES[status_text] == "public",
        metrics_addr=parse_address(
            "TRUNKWATCH_METRICS_ADDR", env.get("TRUNKWATCH_METRICS_ADDR", "")
        ),
        metrics_repos=ON_OFF[metrics_repos],
        private_key_source=key_source,
    )


def parse_address(name: str, text: str) -> tuple[str, int] | None:
    """`host:port`, `[v6]:port` or `:port` (all addresses); "" is None (not set)."""
    text = text.strip()
    if not text:
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise SettingsError(f"{name} must be host:port (for example 127.0.0.1:9090), got {text!r}")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port_text)
