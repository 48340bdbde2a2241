"""How the simulated GitHub answers: JSON, errors in GitHub's shape, and pagination."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sim.simulated_github.state import Installation

DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
# What the middleware learnt about a request, for the handlers.
JSON_BODY = web.RequestKey("json_body", object)
INSTALLATION = web.RequestKey("installation", Installation)


class ApiError(Exception):
    """An error answer: `{"message", "documentation_url", "status"}` (+ `errors`)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "message": self.message,
            "documentation_url": DOCS,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return web.json_response(body, status=self.status)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def answer(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(422, f"Invalid value for parameter '{name}'") from None


def paginate(
    request: web.Request, items: list[Any], default_per_page: int = DEFAULT_PER_PAGE
) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` and its Link header, as GitHub paginates (page, per_page)."""
    per_page = min(max(int_param(request, "per_page", default_per_page), 1), MAX_PER_PAGE)
    page = max(int_param(request, "page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    start = (page - 1) * per_page
    links = []

    def link(n: int, rel: str) -> str:
        return f'<{request.url.update_query(page=n, per_page=per_page)}>; rel="{rel}"'

    if page > 1:
        links += [link(page - 1, "prev"), link(1, "first")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    headers = {"Link": ", ".join(links)} if links else {}
    return items[start : start + per_page], headers


def paged(
    request: web.Request, items: list[Any], key: str | None = None, **extra: Any
) -> web.Response:
    """A paginated answer: a bare list, or `{total_count, <key>: [...], **extra}`."""
    page, headers = paginate(request, items)
    body: Any = page if key is None else {"total_count": len(items), **extra, key: page}
    response = web.json_response(body)
    response.headers.update(headers)
    return response


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (the middleware parsed it); `{}` when there is none."""
    body = request.get(JSON_BODY)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    return body
