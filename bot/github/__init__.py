"""Talking to GitHub: the App's JWT, installation tokens, retries, rate limits, ETags."""

from bot.github.app import GitHubApp, GitHubAuthError, InstallationToken
from bot.github.client import (
    NO_RESPONSE,
    CallKey,
    CallStats,
    GitHubClient,
    GitHubUnreachable,
    RetryPolicy,
    endpoint_template,
)
from bot.github.jobs import commits_between, list_run_jobs, pulls_for_commit

__all__ = [
    "NO_RESPONSE",
    "CallKey",
    "CallStats",
    "GitHubApp",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubUnreachable",
    "InstallationToken",
    "RetryPolicy",
    "commits_between",
    "endpoint_template",
    "list_run_jobs",
    "pulls_for_commit",
]
