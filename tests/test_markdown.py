"""Quoting untrusted text into markdown, and the hidden markers."""

from __future__ import annotations

import re

import pytest

from bot.actions import markdown as md
from bot.actions.markdown import ZWSP, AlertKey


def test_mentions_are_broken_with_a_zero_width_space() -> None:
    quoted = md.escape("thanks @octocat and @pytorch/inductor-oncall")
    assert "@octocat" not in quoted
    assert "@pytorch" not in quoted
    assert f"@{ZWSP}octocat" in quoted
    assert quoted.replace(ZWSP, "").endswith("@octocat and @pytorch/inductor-oncall")


@pytest.mark.parametrize(
    "text",
    ["fixes #1", "see octo/other#12", "GH-77 again", "https://github.com/o/r/issues/1", "www.x.io"],
)
def test_references_and_links_are_broken(text: str) -> None:
    quoted = md.escape(text)
    assert not re.search(r"#\d", quoted)
    assert not re.search(r"(?i)gh-\d", quoted)
    assert "://" not in quoted
    assert "www." not in quoted


def test_tables_html_and_markers_cannot_be_broken() -> None:
    quoted = md.escape("a | b\nc\r\n<!-- x --> <img src=x> `code` **bold** [l](u)")
    assert "\n" not in quoted and "\r" not in quoted
    assert "|" not in quoted.replace("\\|", "")
    assert "<" not in quoted and ">" not in quoted
    assert "-->" not in quoted
    assert "\\`code\\`" in quoted
    assert "\\*\\*bold\\*\\*" in quoted
    assert "\\[l\\]\\(u\\)" in quoted


def test_bidi_overrides_and_controls_are_dropped() -> None:
    assert md.escape("ab\u202ecd\x00ef") == "abcdef"


def test_limit_cuts_the_raw_text_before_escaping() -> None:
    quoted = md.escape("<" * 10, limit=4)
    assert quoted == "&lt;&lt;&lt;…"


def test_mention_only_for_logins_and_teams() -> None:
    assert md.mention("alice") == "@alice"
    assert md.mention("@alice") == "@alice"
    assert md.mention("@pytorch/inductor-oncall") == "@pytorch/inductor-oncall"
    assert md.mention("dependabot[bot]").startswith("dependabot\\[")
    assert "@" not in md.mention("evil <b>").replace(f"@{ZWSP}", "")


def test_link_keeps_the_url_in_one_piece() -> None:
    assert md.link("log", "https://x/a b)c") == "[log](https://x/a%20b%29c)"
    assert md.link("plain", "") == "plain"


def test_alert_marker_round_trip_with_hostile_values() -> None:
    key = AlertKey("octo/trunk", "release/2.0 --> <!--", "inductor perf|x")
    text = f"intro\n{md.alert_marker(key, 'a1', 41)}\nrest -->"
    assert md.parse_alert_marker(text) == key
    found = md.find_marker(text, "alert", alert="a1")
    assert found is not None and found.get("previous") == "41"
    assert text.count("-->") == 2  # the marker's own end and the trailing text's


def test_markers_are_matched_by_fields() -> None:
    text = md.marker("suspect", alert="a1") + "\n" + md.marker("suspect", alert="a2")
    assert md.find_marker(text, "suspect", alert="a2") is not None
    assert md.find_marker(text, "suspect", alert="a3") is None
    assert md.find_marker(None, "suspect") is None
    assert md.parse_alert_marker("<!-- trunkwatch:alert repo=o%2Fr -->") is None


def test_marker_names_are_checked() -> None:
    with pytest.raises(ValueError):
        md.marker("Bad Kind")
    with pytest.raises(ValueError):
        md.marker("ok", **{"a b": "x"})


def test_escaped_text_cannot_forge_a_marker() -> None:
    forged = md.marker("alert", repo="octo/trunk", branch="main", group="inductor")
    assert md.parse_markers(md.escape(forged)) == []
