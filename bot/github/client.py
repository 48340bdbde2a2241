"""The GitHub client every handler and action gets as `gh`.

It is gidgethub's aiohttp client with the transport made dependable: `_request`, the one
place every call passes through, retries 5xx answers, connection errors and timeouts with
exponential backoff and full jitter (tenacity's), waits out secondary and primary rate limits
as GitHub's headers say, counts each call by endpoint template and status, and remembers the
rate-limit budget left.
The ETag cache is gidgethub's own (`cache=`): it sends If-None-Match and serves a 304 from
the cached body; `GitHubApp` gives each installation its own bounded cache.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
import gidgethub
import gidgethub.aiohttp
import tenacity
from gidgethub import sansio
from tenacity.wait import wait_base

log = logging.getLogger(__name__)

DEFAULT_API_URL = sansio.DOMAIN
# Status recorded for an attempt that got no answer at all (connection error or timeout).
NO_RESPONSE = 0
SECONDARY_RATE_LIMIT_TEXT = b"secondary rate limit"


class GitHubUnreachable(gidgethub.GitHubException):
    """GitHub gave no answer (connection errors or timeouts) on every attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink the delays; production keeps GitHub's guidance."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    # GitHub: without retry-after, wait at least a minute after a secondary rate limit.
    secondary_backoff: float = 60.0
    # Longest wait for an exhausted primary limit to reset; beyond it the error is raised.
    max_reset_wait: float = 900.0
    # Added to the reset time: GitHub's reset is whole seconds and clocks drift.
    reset_margin: float = 1.0
    timeout: float = 30.0

    def backoff(self) -> wait_base:
        """Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))]."""
        return tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)


class CallKey(NamedTuple):
    method: str
    endpoint: str
    status: int


class CallStats(Counter[CallKey]):
    """Calls counted by (method, endpoint template, status), plus the rate-limit budget left.

    `rate_limit_remaining` maps an installation id (None for calls made as the App) to the
    last `x-ratelimit-remaining` GitHub reported for it.
    """

    def __init__(self, calls: Iterable[CallKey] | Mapping[CallKey, int] = ()) -> None:
        super().__init__(calls)
        self.rate_limit_remaining: dict[int | None, int] = {}

    def record(self, method: str, endpoint: str, status: int) -> None:
        self[CallKey(method, endpoint, status)] += 1

    def calls_to(self, method: str, endpoint: str) -> int:
        """All calls to one endpoint, whatever their status."""
        return sum(n for key, n in self.items() if key[:2] == (method, endpoint))


_SHA = re.compile(r"[0-9a-f]{40}")
# The segment after one of these names the thing, not a fixed part of the endpoint.
_NAMED_AFTER = {
    "users": "{username}",
    "orgs": "{org}",
    "collaborators": "{username}",
    "labels": "{name}",
    "branches": "{branch}",
    "commits": "{ref}",
    "teams": "{team_slug}",
}
# Everything after these is one value that may contain slashes.
_REST_AFTER = {"contents": "{path}", "compare": "{basehead}", "refs": "{ref}", "ref": "{ref}"}


def graphql_url(base_url: str = DEFAULT_API_URL) -> str:
    """GitHub's GraphQL endpoint beside a REST root: https://api.github.com/graphql; on GitHub
    Enterprise Server (REST at https://HOST/api/v3) https://HOST/api/graphql."""
    root = base_url.rstrip("/")
    if root.endswith("/api/v3"):
        root = root[: -len("/v3")]
    return root + "/graphql"


def endpoint_template(url: str, base_url: str = DEFAULT_API_URL) -> str:
    """`https://api.github.com/repos/o/r/actions/runs/12/jobs?page=2` →
    `/repos/{owner}/{repo}/actions/runs/{id}/jobs`; a GHES path prefix is dropped."""
    path = urlsplit(url).path
    prefix = urlsplit(base_url).path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    segments = [s for s in path.split("/") if s]
    out: list[str] = []
    i = 0
    while i < len(segments):
        segment = segments[i]
        previous = segments[i - 1] if i else ""
        if previous == "repos" and i + 1 < len(segments):
            out += ["{owner}", "{repo}"]
            i += 2
            continue
        if previous in _REST_AFTER:
            out.append(_REST_AFTER[previous])
            break
        if previous in _NAMED_AFTER:
            out.append(_NAMED_AFTER[previous])
        elif segment.isdigit():
            out.append("{id}")
        elif _SHA.fullmatch(segment):
            out.append("{sha}")
        else:
            out.append(segment)
        i += 1
    return "/" + "/".join(out)


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


AuthSource = Callable[[], Awaitable[str]]


class GitHubClient(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's client with retries, rate-limit waits, call counting and auth refresh.

    `auth` returns the Authorization header value (`token …` or `bearer …`) and is asked
    before every attempt, so a long-lived client follows token refreshes; a per-call
    `jwt=`/`oauth_token=` given to gidgethub's methods still wins.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str,
        *,
        auth: AuthSource | None = None,
        oauth_token: str | None = None,
        base_url: str = DEFAULT_API_URL,
        cache: gidgethub.abc.CACHE_TYPE | None = None,
        policy: RetryPolicy | None = None,
        stats: CallStats | None = None,
        installation_id: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            session, requester, oauth_token=oauth_token, cache=cache, base_url=base_url
        )
        self._auth = auth
        self.policy = policy or RetryPolicy()
        self.stats = stats if stats is not None else CallStats()
        self.installation_id = installation_id
        self._clock = clock

    def __repr__(self) -> str:
        who = f"installation {self.installation_id}" if self.installation_id else "app"
        return f"<GitHubClient {who} at {self.base_url}>"

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        """gidgethub's GraphQL call, sent beside this client's REST root (not always to
        api.github.com), through the same retries and counting."""
        return await super().graphql(
            query, endpoint=endpoint or graphql_url(self.base_url), **variables
        )

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        endpoint = endpoint_template(url, self.base_url)
        backoff = self.policy.backoff()

        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            asked = None if outcome is None or outcome.failed else outcome.result().wait
            return (asked or backoff)(state)

        def repeat_unanswered(exc: BaseException) -> bool:
            # A request that may have reached GitHub is repeated only if that is harmless.
            return isinstance(exc, _NoAnswer) and (not exc.sent or _repeatable(method, url))

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.policy.attempts),
            wait=wait,
            retry=(
                tenacity.retry_if_exception(repeat_unanswered)
                | tenacity.retry_if_result(lambda answer: answer.wait is not None)
            ),
            before_sleep=lambda state: _log_retry(state, method, endpoint),
            sleep=self.sleep,
            retry_error_callback=_last_outcome,
        )
        try:
            answer: _Answer = await retrying(self._attempt, method, url, headers, body, endpoint)
        except _NoAnswer as exc:
            attempts = retrying.statistics["attempt_number"]
            raise GitHubUnreachable(
                f"{method} {endpoint}: no answer after {attempts} attempts ({exc.reason})"
            ) from None
        return answer.status, answer.headers, answer.body

    async def _attempt(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, endpoint: str
    ) -> _Answer:
        """One request, counted; its answer says whether and how long to wait to repeat it."""
        try:
            status, response_headers, data = await self._send(method, url, headers, body)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            self.stats.record(method, endpoint, NO_RESPONSE)
            sent = not isinstance(exc, aiohttp.ClientConnectorError)
            raise _NoAnswer(type(exc).__name__, sent=sent) from exc
        self.stats.record(method, endpoint, status)
        remaining = _float_header(response_headers, "x-ratelimit-remaining")
        if remaining is not None:
            self.stats.rate_limit_remaining[self.installation_id] = int(remaining)
        wait = self._asked_wait(status, response_headers, data)
        if status >= 500 and not _repeatable(method, url):
            # GitHub may have acted before failing: the caller re-checks, then retries.
            wait = None
        return _Answer(status, response_headers, data, wait)

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        request_headers = dict(headers)
        if "authorization" not in request_headers and self._auth is not None:
            request_headers["authorization"] = await self._auth()
        async with self._session.request(
            method,
            url,
            headers=request_headers,
            data=body,
            timeout=aiohttp.ClientTimeout(total=self.policy.timeout),
        ) as response:
            return response.status, response.headers, await response.read()

    def _asked_wait(self, status: int, headers: Mapping[str, str], body: bytes) -> wait_base | None:
        """How long to wait before trying again, or None when the answer is final."""
        if status not in (403, 429) and status < 500:
            return None
        retry_after = _float_header(headers, "retry-after")
        if retry_after is not None:
            return tenacity.wait_fixed(max(retry_after, 0.0))
        if status >= 500:
            return self.policy.backoff()
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _float_header(headers, "x-ratelimit-reset") or self._clock()
            wait = max(reset - self._clock(), 0.0) + self.policy.reset_margin
            return tenacity.wait_fixed(wait) if wait <= self.policy.max_reset_wait else None
        if status == 429 or SECONDARY_RATE_LIMIT_TEXT in body.lower():
            # Doubling from the minute GitHub asks for, without a ceiling.
            return tenacity.wait_exponential(multiplier=self.policy.secondary_backoff)
        return None


class _Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes
    wait: wait_base | None  # None: final, given to the caller as it is


class _NoAnswer(Exception):
    """No answer to one attempt (connection error or timeout)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent  # the request may have reached GitHub


def _last_outcome(state: tenacity.RetryCallState) -> _Answer:
    """Out of attempts: the last answer is the caller's to read (or its error to raise)."""
    assert state.outcome is not None
    answer: _Answer = state.outcome.result()
    return answer


def _log_retry(state: tenacity.RetryCallState, method: str, endpoint: str) -> None:
    extra: dict[str, Any] = {
        "method": method,
        "endpoint": endpoint,
        "attempt": state.attempt_number,
        "delay_s": round(state.upcoming_sleep, 3),
    }
    outcome = state.outcome
    if outcome is not None and outcome.failed:
        log.warning(
            "GitHub did not answer; retrying", extra=extra | {"error": str(outcome.exception())}
        )
    elif outcome is not None:
        log.warning(
            "GitHub asked us to try again", extra=extra | {"status": outcome.result().status}
        )


def _repeatable(method: str, url: str) -> bool:
    """Whether sending the request again is harmless even if GitHub acted on the first one.

    A POST that creates something (an issue, a comment) is not: after a timeout or a 5xx it
    is left to the caller, whose retry finds what was created (the alert issue by its
    marker, comments by theirs). Rate-limit refusals are retried for every method, since
    GitHub did nothing. Fetching an installation token, adding labels, assignees or a
    reaction are repeatable."""
    if method != "POST":
        return True
    # Adding labels or assignees, or a reaction, twice leaves what adding them once leaves.
    path = url.split("?", 1)[0].rstrip("/")
    return path.endswith(_IDEMPOTENT_POSTS)


# A ref created twice is refused the second time (422 "Reference already exists"), which
# create_tag takes as done.
_IDEMPOTENT_POSTS = ("/access_tokens", "/labels", "/assignees", "/reactions", "/git/refs")
