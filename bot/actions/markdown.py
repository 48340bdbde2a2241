"""Quoting untrusted text into GitHub markdown, and the hidden markers the bot leaves.

Commit messages, author names, job names and branch names are written by people who are not
the bot. Quoted into an issue or a comment they must not:

- **notify anyone.** GitHub turns `@login` and `@org/team` in a rendered text node into a
  mention, and a backslash (`\\@login`) does not stop it: escapes are undone before mentions
  are found. A ZERO WIDTH SPACE (U+200B) right after the `@` does: the mention pattern needs
  the login to follow the `@` directly, and U+200B is not a login character. It is invisible
  when rendered, and it is what Dependabot puts into the release notes it quotes.
- **cross-reference issues.** `#123`, `GH-123`, `owner/repo#123` and URLs of issues create a
  "mentioned this" event on the target. U+200B after `#` and in `GH-` breaks the references;
  `://` and `www.` are broken the same way so URLs are not autolinked.
- **break the layout.** Newlines become spaces (one quoted value stays on its line and in
  its table cell), `|` is escaped for tables, markdown punctuation is backslash-escaped.
- **inject HTML or touch a marker.** `<`, `>` and `&` become entities, so neither a tag, an
  `<!--` that would hide the rest of the body, nor a `-->` that would end a marker survives.
  Bidirectional overrides (which make text read differently than it is) are dropped.

Markers are HTML comments, invisible when rendered: `<!-- trunkwatch:alert repo=o%2Fr
branch=main group=inductor -->`. Values are percent-encoded (no spaces, no `>`), so a marker
is one token sequence that quoted text can never produce or end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

ZWSP = "\u200b"
MARKER_PREFIX = "trunkwatch:"

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# ASCII punctuation that means something to markdown (GFM lets any of it be backslash-escaped).
_MARKDOWN = frozenset("\\`*_{}[]()!|~$")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_GH_REF = re.compile(r"(?i)\b(gh)-(?=\d)")
_URL_SCHEME = re.compile(r"(?i)(\w):(?=//)")
_WWW = re.compile(r"(?i)\b(www)\.")
_MARKER = re.compile(r"<!-- trunkwatch:([a-z_]+)((?: [a-z_]+=[^\s<>]*)*) -->")


def one_line(text: str, limit: int | None = None) -> str:
    """The text with line breaks as spaces and invisible controls removed, cut to `limit`."""
    flat = _INVISIBLE.sub("", _LINE_BREAKS.sub(" ", text)).strip()
    if limit is not None and len(flat) > limit:
        flat = flat[: max(limit - 1, 0)].rstrip() + "…"
    return flat


def escape(text: str, limit: int | None = None) -> str:
    """Untrusted text as inline markdown: one line, pings nobody, links nothing, safe in a
    table cell and next to a marker. `limit` cuts the raw text (never an escape) first."""
    flat = one_line(text, limit)
    flat = _GH_REF.sub(lambda m: f"{m.group(1)}-{ZWSP}", flat)
    flat = _URL_SCHEME.sub(lambda m: f"{m.group(1)}:{ZWSP}", flat)
    flat = _WWW.sub(lambda m: f"{m.group(1)}{ZWSP}.", flat)
    out: list[str] = []
    for char in flat:
        if char in _HTML:
            out.append(_HTML[char])
        elif char in _MARKDOWN:
            out.append("\\" + char)
        elif char in "@#":
            out.append(char + ZWSP)
        else:
            out.append(char)
    return "".join(out)


def link(label: str, url: str) -> str:
    """`[label](url)` for a label already escaped and a URL the bot built or GitHub gave."""
    if not url:
        return label
    safe_url = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    safe_url = safe_url.replace("<", "%3C").replace(">", "%3E").replace('"', "%22")
    return f"[{label}]({safe_url})"


def mention(login: str) -> str:
    """A real mention of a login or `@org/team` that the bot chose to notify (configured
    owners, a suspect PR's author from the API). Anything that is not a login is escaped."""
    handle = login.removeprefix("@")
    if re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9][\w.-]*)?", handle):
        return "@" + handle
    return escape(login)


# --- markers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Marker:
    """One hidden marker: its kind (`alert`, `suspect`, `comment`, …) and its fields."""

    kind: str
    fields: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What an alert issue is for: one (repository, branch, group)."""

    repo: str
    branch: str
    group: str


def marker(kind: str, **fields: str | int) -> str:
    """`<!-- trunkwatch:kind a=1 b=x%20y -->` with every value percent-encoded."""
    if not re.fullmatch(r"[a-z_]+", kind) or not all(re.fullmatch(r"[a-z_]+", k) for k in fields):
        raise ValueError(f"marker names are lower-case words: {kind!r} {sorted(fields)!r}")
    parts = "".join(f" {name}={quote(str(value), safe='')}" for name, value in fields.items())
    return f"<!-- {MARKER_PREFIX}{kind}{parts} -->"


def parse_markers(text: str | None) -> list[Marker]:
    """Every well-formed marker in the text, in order."""
    found: list[Marker] = []
    for match in _MARKER.finditer(text or ""):
        pairs = (item.partition("=") for item in match.group(2).split())
        found.append(Marker(match.group(1), {k: unquote(v) for k, _, v in pairs}))
    return found


def find_marker(text: str | None, kind: str, **expected: str | int) -> Marker | None:
    """The first marker of `kind` whose fields include all of `expected`."""
    wanted = {name: str(value) for name, value in expected.items()}
    for found in parse_markers(text):
        if found.kind == kind and all(found.fields.get(k) == v for k, v in wanted.items()):
            return found
    return None


def alert_marker(key: AlertKey, alert: str = "", previous: int | None = None) -> str:
    """The alert issue's marker. Only repo, branch and group identify the issue; `alert` (the
    tracker's id) and `previous` (the group's last issue) let a lost store be rebuilt."""
    fields: dict[str, str | int] = {"repo": key.repo, "branch": key.branch, "group": key.group}
    if alert:
        fields["alert"] = alert
    if previous:
        fields["previous"] = previous
    return marker("alert", **fields)


def parse_alert_marker(text: str | None) -> AlertKey | None:
    """The (repo, branch, group) named by the first alert marker in the text, if any."""
    for found in parse_markers(text):
        repo, branch, group = (found.get(k) for k in ("repo", "branch", "group"))
        if found.kind == "alert" and repo and branch and group:
            return AlertKey(repo, branch, group)
    return None
