"""Paths to the real GitHub material in ../shared/fixtures/github, and loaders for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# ../shared from the checkout; a git worktree one level deeper finds it further up.
FIXTURES = next(
    (
        parent / "shared" / "fixtures" / "github"
        for parent in Path(__file__).resolve().parents[2:]
        if (parent / "shared" / "fixtures" / "github").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "github",
)
PAYLOADS = FIXTURES / "payloads"


def load_payload(name: str) -> dict[str, Any]:
    """A real webhook payload, e.g. `load_payload("push/octokit.with-new-branch.json")`."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data
