"""`.github/trunkwatch.yml`: validation with line numbers, defaults, `_extends`, loading.

Loading from GitHub runs over real HTTP against a minimal contents-API server on 127.0.0.1
defined below (answers keyed by repository and path, requests recorded), and once against
the shared simulated GitHub (`bot.sim.simulated_github`), started here directly as
tests/conftest.py has no `sim` fixture yet.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub.aiohttp import GitHubAPI

from bot.config import (
    CONFIG_PATH,
    MAX_BYTES,
    ConfigError,
    ConfigInvalid,
    ConfigLoader,
    CulpritConfig,
    GroupConfig,
    LoadedConfig,
    NoConfig,
    ReadFailed,
    RepoConfig,
    check_file,
    load_default,
    load_file,
    load_text,
    merge,
    parse_document,
    parse_duration,
    push_touches_config,
    read_text,
    validate,
)
from bot.config.values import shown
from bot.sim.simulated_github.server import SimulatedGitHub
from bot.tracker.model import GroupRule, TrackerConfig

DESIGN_EXAMPLE = """\
branches: [main]                 # watched branches; default: the repository's default branch
groups:
  inductor:
    workflows: ["inductor*"]      # workflow-name globs
    jobs: ["*"]                   # job-name globs within them
    exclude_jobs: ["*unstable*"]
    threshold: 3                  # consecutive failing commits, per job
    min_failing_jobs: 1           # jobs at or over threshold that make the group broken
    priority: P2
    owners: ["@pytorch/inductor-oncall", "alice"]
    escalate_after: 2h
    escalation_owners: ["@pytorch/pt2-oncall"]
    labels: ["module: inductor"]
alerts:
  labels: ["ci: alert"]
  recovery_passes: 1
suspects:
  label: "ci: suspected breakage"
  max_prs: 5
  comment: true
commands:
  prefix: /trunkwatch
"""


def errors_of(text: str, source: str = CONFIG_PATH) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_text(textwrap.dedent(text), source)
    return [str(error) for error in caught.value.errors]


def group_file(settings: str) -> str:
    """A file whose one group `g` has `settings` (one per line, from line 3 on)."""
    body = textwrap.indent(textwrap.dedent(settings), "    ")
    return f"groups:\n  g:\n{body}"


G_IGNORED = "; the group 'g' is ignored"  # a wrong value in a group voids the group


# --- errors, each with its line -------------------------------------------------------------


def test_error_str_names_file_line_and_key() -> None:
    error = ConfigError(CONFIG_PATH, 7, "groups.inductor.treshold", "unknown key")
    assert str(error) == ".github/trunkwatch.yml:7: groups.inductor.treshold: unknown key"
    assert str(ConfigError("f.yml", 0, "", "the file is empty")) == "f.yml: the file is empty"


def test_unknown_key_suggests_the_closest_one() -> None:
    text = DESIGN_EXAMPLE.replace("    threshold: 3", "    treshold: 3")
    assert errors_of(text) == [
        ".github/trunkwatch.yml:7: groups.inductor.treshold: unknown key "
        "(did you mean 'threshold'?)"
    ]


def test_unknown_key_without_a_close_match_and_at_top_level() -> None:
    assert errors_of("groups: {g: {}}\nbranchez: [main]\nfrobnicate: 1\n") == [
        ".github/trunkwatch.yml:2: branchez: unknown key (did you mean 'branches'?)",
        ".github/trunkwatch.yml:3: frobnicate: unknown key",
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("threshold: three", "threshold: expected a positive integer, got 'three'"),
        ("threshold: true", "threshold: expected a positive integer, got true"),
        ("threshold: 2.5", "threshold: expected a positive integer, got 2.5"),
        ("threshold: 0", "threshold: expected a positive integer, got 0"),
        ("min_failing_jobs: 0", "min_failing_jobs: expected a positive integer, got 0"),
        ("min_failing_jobs: [1]", "min_failing_jobs: expected a positive integer, got a list"),
        ("split_shards: 1", "split_shards: expected true or false, got 1"),
        (
            "workflows: inductor*",
            """workflows: expected a list, got 'inductor*' (write ["inductor*"])""",
        ),
        ("workflows: []", "workflows: expected at least one entry"),
        ("jobs: [3]", "jobs[0]: expected a non-empty string, got 3"),
        (
            "owners: ['not a login']",
            "owners[0]: expected a GitHub login or @org/team, got 'not a login'",
        ),
        ("labels: [{a: b}]", "labels[0]: expected a non-empty string, got a mapping"),
    ],
)
def test_wrong_types_name_key_and_line(setting: str, message: str) -> None:
    assert errors_of(group_file(setting)) == [
        f".github/trunkwatch.yml:3: groups.g.{message}{G_IGNORED}"
    ]


@pytest.mark.parametrize("glob", ["inductor[", "test [linux", "x[!]"])
def test_unbalanced_bracket_in_a_glob_is_an_error(glob: str) -> None:
    (error,) = errors_of(group_file(f"exclude_jobs: ['*', {glob!r}]"))
    assert error.startswith(".github/trunkwatch.yml:3: groups.g.exclude_jobs[1]: bad glob")
    assert "never closed" in error


def test_balanced_globs_are_fine() -> None:
    config = load_text(group_file("jobs: ['test [[]x]*', '[!a]*', '[]]', 'a]b']"), "f")
    assert config.groups[0].jobs == ("test [[]x]*", "[!a]*", "[]]", "a]b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m", timedelta(weeks=1, days=2, hours=3, minutes=4)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("value", ["2x", "90", "1.5h", "30m1h", "h", "0m", "2 hours", "", "-1h"])
def test_bad_durations(value: str) -> None:
    assert parse_duration(value) is None
    setting = f"escalate_after: {value!r}\nescalation_owners: [bob]"
    (error,) = errors_of(group_file(setting))
    assert error.startswith(
        ".github/trunkwatch.yml:3: groups.g.escalate_after: expected a duration"
    )


def test_a_number_is_not_a_duration() -> None:
    (error,) = errors_of(group_file("escalate_after: 120\nescalation_owners: [bob]"))
    assert error.endswith(f"such as 30m, 2h, 1d, 1w or 1h30m, got 120{G_IGNORED}")


def test_escalation_needs_someone_to_escalate_to() -> None:
    assert errors_of(group_file("escalate_after: 2h")) == [
        ".github/trunkwatch.yml:3: groups.g.escalate_after: "
        f"set, but escalation_owners is empty: nobody to escalate to{G_IGNORED}"
    ]


@pytest.mark.parametrize("priority", ["P5", "p2", "2", "high", "P22"])
def test_bad_priority(priority: str) -> None:
    (error,) = errors_of(group_file(f"priority: {priority!r}"))
    assert error == (
        ".github/trunkwatch.yml:3: groups.g.priority: "
        f"expected one of P0, P1, P2, P3, P4, got {priority!r}{G_IGNORED}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "1: expected a mapping of settings (key: value) at the top, got a list"),
        (
            "just words\n",
            "1: expected a mapping of settings (key: value) at the top, got a single value",
        ),
        ("", " the file is empty; expected a mapping with `groups:`"),
        ("# only a comment\n", " the file is empty; expected a mapping with `groups:`"),
        (
            "groups: {g: {}}\n---\ngroups: {h: {}}\n",
            "2: expected one YAML document, found several (---)",
        ),
        ("groups: [a, b\nalerts: {}\n", "2: not valid YAML: expected ',' or ']', but got ':'"),
    ],
)
def test_documents_that_are_not_one_mapping(text: str, message: str) -> None:
    assert errors_of(text) == [f".github/trunkwatch.yml:{message}"]


def test_python_tags_are_refused() -> None:
    (error,) = errors_of("groups: {g: {}}\nalerts: !!python/object/apply:os.system ['true']\n")
    assert error.startswith(".github/trunkwatch.yml:2: alerts: unsupported YAML tag")


def test_duplicate_keys_are_errors() -> None:
    assert errors_of("groups: {g: {}}\nbranches: [a]\nbranches: [b]\n") == [
        ".github/trunkwatch.yml:3: branches: duplicate key (first on line 2); the first one applies"
    ]


def test_too_large_is_refused_before_parsing() -> None:
    text = "groups: {g: {}}\n" + "#" * MAX_BYTES
    (error,) = errors_of(text)
    assert error.startswith(".github/trunkwatch.yml: the file is ")
    assert error.endswith(f"the limit is {MAX_BYTES}")


def test_too_large_local_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text("groups: {g: {}}\n" + "#" * MAX_BYTES)
    (error,) = check_file(path).errors
    assert str(error).startswith(f"{path}: the file is {MAX_BYTES + 16} bytes")


def test_alias_bomb_is_refused_before_it_is_expanded() -> None:
    """Refused at its first anchor, so never expanded (how fast: bench/bounds.py)."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    errors = errors_of("\n".join(lines))
    assert errors == [
        ".github/trunkwatch.yml:1: YAML anchors and aliases (&name, *name) are not allowed "
        "in this file"
    ]


def test_deep_nesting_is_refused() -> None:
    (error,) = errors_of("groups: " + "[" * 20000)
    assert error == ".github/trunkwatch.yml:1: nested too deeply"


def test_missing_groups() -> None:
    assert errors_of("alerts: {recovery_passes: 2}\n") == [
        ".github/trunkwatch.yml:1: groups: required: at least one group of jobs to watch; "
        "no group is watched"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "groups: {}\n",
            "1: groups: expected a mapping of group names, got an empty mapping; "
            "no group is watched",
        ),
        (
            "groups: [inductor]\n",
            "1: groups: expected a mapping of group names, got a list; no group is watched",
        ),
        (
            "groups:\n  bad/name: {}\n",
            "2: groups.bad/name: a group name may only use A-Z a-z 0-9 _ . -; "
            "the group 'bad/name' is ignored",
        ),
        (
            "groups:\n  g: 3\n",
            "2: groups.g: expected a mapping of settings, got 3; the group 'g' is ignored",
        ),
    ],
)
def test_bad_groups(text: str, message: str) -> None:
    assert errors_of(text) == [f".github/trunkwatch.yml:{message}"]
    assert read_text(text, CONFIG_PATH).config == RepoConfig(groups=())


def test_every_error_is_collected_in_file_order() -> None:
    text = """\
        branches: main
        groups:
          inductor:
            workflows: ["inductor[*"]
            treshold: 3
            priority: P9
            escalate_after: soon
            escalation_owners: [bob]
        alerts:
          recovery_passes: 0
        suspects:
          max_prs: -1
          comment: "yes"
        commands:
          prefix: trunkwatch
    """
    errors = errors_of(text)
    assert [error.split(":")[1] for error in errors] == [
        "1", "4", "5", "6", "7", "10", "12", "13", "15"
    ]  # fmt: skip
    assert errors[0] == (
        """.github/trunkwatch.yml:1: branches: expected a list, got 'main' (write ["main"]); """
        "the default applies: the repository's default branch"
    )
    assert errors[-1] == (
        ".github/trunkwatch.yml:15: commands.prefix: expected a word starting with '/', "
        "got 'trunkwatch'; the default applies: \"/trunkwatch\""
    )


def test_retention_must_exceed_the_largest_threshold() -> None:
    text = "groups:\n  g: {threshold: 10}\nalerts:\n  retention_commits: 10\n"
    assert errors_of(text) == [
        ".github/trunkwatch.yml:4: alerts.retention_commits: "
        "must be larger than the largest threshold (10); the default applies: 2000"
    ]


# --- defaults and the full example ----------------------------------------------------------


def test_defaults() -> None:
    config = load_text("groups:\n  everything:\n", "f")
    assert config.groups == (GroupConfig("everything"),)
    group = config.groups[0]
    assert (group.workflows, group.jobs, group.exclude_jobs) == (("*",), ("*",), ())
    assert (group.threshold, group.min_failing_jobs, group.priority) == (3, 1, "P2")
    assert (group.owners, group.escalate_after, group.escalation_owners) == ((), None, ())
    assert (group.labels, group.split_shards) == ((), False)
    assert config.branches is None
    assert config.alerts.labels == ("ci: alert",)
    assert (config.alerts.recovery_passes, config.alerts.retention_commits) == (1, 2000)
    assert config.suspects.label == "ci: suspected breakage"
    assert (config.suspects.max_prs, config.suspects.comment) == (5, True)
    assert config.commands.prefix == "/trunkwatch"
    assert config.tracker_config("trunk") == TrackerConfig(
        groups=(GroupRule("everything"),), branches=("trunk",)
    )


def test_empty_sections_mean_defaults() -> None:
    config = load_text("groups: {g: {}}\nalerts:\nsuspects: {}\ncommands:\n", "f")
    assert config.alerts.labels == ("ci: alert",)
    assert config.commands.prefix == "/trunkwatch"


def test_the_design_example() -> None:
    config = load_text(DESIGN_EXAMPLE, CONFIG_PATH)
    assert config.tracker_config("master") == TrackerConfig(
        groups=(
            GroupRule(
                name="inductor",
                workflows=("inductor*",),
                jobs=("*",),
                exclude_jobs=("*unstable*",),
                threshold=3,
                min_failing_jobs=1,
                split_shards=False,
            ),
        ),
        branches=("main",),
        recovery_passes=1,
        retention_commits=2000,
    )
    inductor = config.group("inductor")
    assert inductor is not None
    assert inductor.priority == "P2"
    assert inductor.owners == ("@pytorch/inductor-oncall", "alice")
    assert inductor.owner_users == ("alice",)
    assert inductor.owner_teams == ("@pytorch/inductor-oncall",)
    assert inductor.escalate_after == timedelta(hours=2)
    assert inductor.escalation_owners == ("@pytorch/pt2-oncall",)
    assert inductor.labels == ("module: inductor",)
    assert config.group("nope") is None


def test_options_beyond_the_example() -> None:
    text = """\
        branches: [main, release/2.5]
        groups:
          shards:
            split_shards: true
            owners: ["@alice", "bob-smith"]
            escalate_after: null
            priority: P0
        alerts:
          retention_commits: 500
          recovery_passes: 2
        suspects: {max_prs: 0, comment: false}
        commands: {prefix: /tw}
    """
    config = load_text(textwrap.dedent(text), "f")
    (group,) = config.groups
    assert group.split_shards and group.rule().split_shards
    assert group.owners == ("alice", "bob-smith")
    tracker = config.tracker_config("main")
    assert tracker.branches == ("main", "release/2.5")
    assert (tracker.recovery_passes, tracker.retention_commits) == (2, 500)
    assert (config.suspects.max_prs, config.suspects.comment) == (0, False)
    assert config.commands.prefix == "/tw"


def test_embedded_default() -> None:
    config = load_default()
    inductor = config.group("inductor")
    assert inductor is not None
    assert inductor.workflows == ("inductor*",)
    assert inductor.owners == ("@pytorch/inductor-oncall", "alice")
    assert (inductor.priority, inductor.threshold) == ("P2", 3)
    assert len(config.groups) >= 2
    assert config.tracker_config("main").branches == ("main",)


# --- local files ------------------------------------------------------------------------------


def test_load_and_check_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(DESIGN_EXAMPLE)
    assert load_file(good).groups[0].name == "inductor"
    assert check_file(good).problems == []
    bad = tmp_path / "bad.yml"
    bad.write_text(DESIGN_EXAMPLE.replace("threshold: 3", "threshold: three"))
    assert [str(e) for e in check_file(bad).errors] == [
        f"{bad}:7: groups.inductor.threshold: expected a positive integer, got 'three'; "
        "the group 'inductor' is ignored"
    ]
    with pytest.raises(ConfigInvalid):
        load_file(bad)
    missing = tmp_path / "missing.yml"
    assert [str(e) for e in check_file(missing).errors] == [
        f"{missing}: cannot read: No such file or directory"
    ]
    assert check_file(missing).config is None


def test_local_file_with_extends(tmp_path: Path) -> None:
    path = tmp_path / "part.yml"
    path.write_text("_extends: org-config\nalerts: {recovery_passes: 2}\n")
    assert check_file(path).problems == []  # a part: its `groups` may come from the base
    with pytest.raises(ConfigInvalid) as caught:
        load_file(path)
    assert str(caught.value.errors[0]).startswith(f"{path}:1: _extends: cannot be followed")
    path.write_text("_extends: 'a b c'\nalerts: {recovery_passes: 0}\n")
    assert [str(e) for e in check_file(path).errors] == [
        f"{path}:1: _extends: expected 'repo', 'owner/repo' or 'owner/repo:path', got 'a b c'",
        f"{path}:2: alerts.recovery_passes: expected a positive integer, got 0; "
        "the default applies: 1",
    ]


# --- merging ----------------------------------------------------------------------------------


def test_deep_merge_mappings_merge_lists_replace_extending_file_wins() -> None:
    base, _ = parse_document(
        "groups:\n  a: {threshold: 5, owners: [x, y]}\n  b: {}\nalerts: {labels: [one]}\n", "base"
    )
    top, _ = parse_document(
        "groups:\n  a: {owners: [z]}\n  c: {}\nalerts: {recovery_passes: 2}\n", "top"
    )
    assert base is not None and top is not None
    config = validate(merge(base, top))
    a = config.group("a")
    assert a is not None
    assert (a.threshold, a.owners) == (5, ("z",))
    assert [group.name for group in config.groups] == ["a", "b", "c"]
    assert config.alerts.labels == ("one",)
    assert config.alerts.recovery_passes == 2


def test_errors_in_a_merged_tree_name_the_file_they_came_from() -> None:
    base, _ = parse_document("groups:\n  a:\n    threshold: nope\n", "org/base:cfg.yml")
    top, _ = parse_document("alerts: {}\ngroups:\n  a: {priority: P2}\n", CONFIG_PATH)
    assert base is not None and top is not None
    with pytest.raises(ConfigInvalid) as caught:
        validate(merge(base, top))
    assert [str(e) for e in caught.value.errors] == [
        "org/base:cfg.yml:3: groups.a.threshold: expected a positive integer, got 'nope'; "
        "the group 'a' is ignored"
    ]


# --- push helper --------------------------------------------------------------------------------


def test_push_touches_config() -> None:
    assert push_touches_config([{"added": [], "modified": ["README.md"], "removed": []}]) is False
    assert push_touches_config([{"modified": ["a"]}, {"removed": [CONFIG_PATH]}]) is True
    assert push_touches_config([{"added": [CONFIG_PATH]}]) is True
    assert push_touches_config([]) is False


# --- loading from GitHub, over HTTP -----------------------------------------------------------


@dataclass
class ContentsServer:
    """GitHub's contents API for a few files: `files[(repo, path)] = text`."""

    files: dict[tuple[str, str], str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # repositories that answer 502
    requests: list[str] = field(default_factory=list)

    async def contents(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        if repo in self.broken:
            return web.json_response({"message": "Server Error"}, status=502)
        text = self.files.get((repo, request.match_info["path"]))
        if text is None:
            return web.json_response({"message": "Not Found"}, status=404)
        data = text.encode()
        return web.json_response(
            {
                "type": "file",
                "encoding": "base64",
                "size": len(data),
                "path": request.match_info["path"],
                "content": base64.encodebytes(data).decode(),
            }
        )


@pytest.fixture
async def github(
    aiohttp_server: Callable[..., Any],
) -> AsyncIterator[tuple[ContentsServer, GitHubAPI]]:
    contents = ContentsServer()
    app = web.Application()
    app.router.add_get("/repos/{owner}/{name}/contents/{path:.+}", contents.contents)
    server = await aiohttp_server(app, host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        yield contents, GitHubAPI(session, "trunkwatch-tests", base_url=str(server.make_url("")))


async def test_reads_the_repository_file_from_the_default_branch(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = DESIGN_EXAMPLE
    result = await ConfigLoader().get(gh, "octo/repo", "trunk")
    assert isinstance(result, LoadedConfig)
    assert result.source == "octo/repo:.github/trunkwatch.yml"
    assert result.errors == ()
    assert result.config.group("inductor") is not None
    assert server.requests == ["/repos/octo/repo/contents/.github/trunkwatch.yml?ref=trunk"]


async def test_org_fallback_and_no_config(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/.github", CONFIG_PATH] = "groups: {org-wide: {}}\n"
    loader = ConfigLoader()
    result = await loader.get(gh, "octo/repo", "main")
    assert result.source == "octo/.github:.github/trunkwatch.yml"
    assert result.config is not None and result.config.groups[0].name == "org-wide"
    none = await loader.get(gh, "other/repo", "main")
    assert none == NoConfig()
    assert await loader.for_repo(gh, "other/repo", "main") is None
    assert server.requests[-2:] == [
        "/repos/other/repo/contents/.github/trunkwatch.yml?ref=main",
        "/repos/other/.github/contents/.github/trunkwatch.yml",
    ]


async def test_extends_chain_of_two_levels(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = (
        "_extends: ci-config\ngroups:\n  inductor: {threshold: 4}\n"
    )
    server.files["octo/ci-config", CONFIG_PATH] = (
        "_extends: pytorch/shared:ci/base.yml\n"
        "groups:\n  inductor: {workflows: ['inductor*'], owners: [alice]}\n"
        "alerts: {labels: [mid]}\n"
    )
    server.files["pytorch/shared", "ci/base.yml"] = (
        "groups:\n  trunk: {workflows: [trunk]}\n"
        "alerts: {labels: [base], recovery_passes: 2}\nsuspects: {max_prs: 3}\n"
    )
    result = await ConfigLoader().get(gh, "octo/repo", "main")
    config = result.config
    assert config is not None, result.errors
    inductor = config.group("inductor")
    assert inductor is not None
    assert (inductor.threshold, inductor.workflows, inductor.owners) == (
        4,
        ("inductor*",),
        ("alice",),
    )
    assert [group.name for group in config.groups] == ["trunk", "inductor"]  # bases first
    assert config.alerts.labels == ("mid",)
    assert (config.alerts.recovery_passes, config.suspects.max_prs) == (2, 3)
    assert server.requests[1:] == [
        "/repos/octo/ci-config/contents/.github/trunkwatch.yml",
        "/repos/pytorch/shared/contents/ci/base.yml",
    ]


async def test_extends_errors(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/a", CONFIG_PATH] = "groups: {g: {}}\n_extends: octo/b\n"
    server.files["octo/b", CONFIG_PATH] = "\n_extends: a\n"
    server.files["octo/c", CONFIG_PATH] = "_extends: nowhere\ngroups: {g: {}}\n"
    server.files["octo/d", CONFIG_PATH] = "_extends: e\n"
    server.files["octo/e", CONFIG_PATH] = "_extends: f\n"
    server.files["octo/f", CONFIG_PATH] = "_extends: g\n"
    loader = ConfigLoader()
    cycle = await loader.get(gh, "octo/a", "main")
    assert isinstance(cycle, NoConfig)
    assert [str(e) for e in cycle.errors] == [
        "octo/b:.github/trunkwatch.yml:2: _extends: cycle: octo/a:.github/trunkwatch.yml → "
        "octo/b:.github/trunkwatch.yml → octo/a:.github/trunkwatch.yml"
    ]
    missing = await loader.get(gh, "octo/c", "main")
    assert [str(e) for e in missing.errors] == [
        ".github/trunkwatch.yml:1: _extends: octo/nowhere:.github/trunkwatch.yml does not exist"
    ]
    deep = await loader.get(gh, "octo/d", "main")
    assert [str(e) for e in deep.errors] == [
        "octo/f:.github/trunkwatch.yml:1: _extends: too many levels of _extends (at most 2): "
        "octo/g:.github/trunkwatch.yml not read"
    ]


async def test_base_file_may_lack_groups(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = "_extends: base\ngroups: {g: {}}\n"
    server.files["octo/base", CONFIG_PATH] = "alerts: {recovery_passes: 3}\n"
    result = await ConfigLoader().get(gh, "octo/repo", "main")
    assert result.errors == ()
    assert result.config is not None and result.config.alerts.recovery_passes == 3


async def test_cache_hit_and_invalidation(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = "groups: {one: {}}\n"
    loader = ConfigLoader()
    first = await loader.get(gh, "octo/repo", "main")
    assert await loader.get(gh, "octo/repo", "main") == first
    assert len(server.requests) == 1
    server.files["octo/repo", CONFIG_PATH] = "groups: {two: {}}\n"
    loader.invalidate("octo/repo")
    again = await loader.get(gh, "octo/repo", "main")
    assert again.config is not None and again.config.groups[0].name == "two"
    assert len(server.requests) == 2


async def test_cache_expires(github: tuple[ContentsServer, GitHubAPI]) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = "groups: {one: {}}\n"
    now = [0.0]
    loader = ConfigLoader(ttl=600, timer=lambda: now[0])
    await loader.get(gh, "octo/repo", "main")
    now[0] = 601.0
    await loader.get(gh, "octo/repo", "main")
    assert len(server.requests) == 2


async def test_invalidating_a_base_drops_the_repositories_built_on_it(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/.github", CONFIG_PATH] = "groups: {org: {}}\n"
    loader = ConfigLoader()
    await loader.get(gh, "octo/repo", "main")
    server.files["octo/.github", CONFIG_PATH] = "groups: {org2: {}}\n"
    loader.invalidate("octo/.github")
    result = await loader.get(gh, "octo/repo", "main")
    assert result.config is not None and result.config.groups[0].name == "org2"


async def test_an_unreadable_file_keeps_the_last_valid_config_and_reports_once(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = DESIGN_EXAMPLE
    loader = ConfigLoader()
    good = await loader.get(gh, "octo/repo", "main")
    server.files["octo/repo", CONFIG_PATH] = DESIGN_EXAMPLE.replace('["inductor*"]', '["ind')
    loader.invalidate("octo/repo")
    broken = await loader.get(gh, "octo/repo", "main")
    assert isinstance(broken, LoadedConfig)
    assert broken.fallback and broken.config == good.config
    assert broken.report_errors is True
    (error,) = broken.errors
    assert str(error).startswith(".github/trunkwatch.yml:5: not valid YAML")
    cached = await loader.get(gh, "octo/repo", "main")
    assert (cached.config, cached.errors, cached.report_errors) == (
        good.config,
        broken.errors,
        False,
    )
    loader.invalidate("octo/repo")  # the same broken file read again: nothing new to report
    assert (await loader.get(gh, "octo/repo", "main")).report_errors is False
    server.files["octo/repo", CONFIG_PATH] = "groups: {fixed: {}}\n"
    loader.invalidate("octo/repo")
    fixed = await loader.get(gh, "octo/repo", "main")
    assert fixed.errors == () and fixed.config is not None and not fixed.fallback
    assert fixed.config.groups[0].name == "fixed"


TWO_GROUPS = """\
groups:
  inductor:
    workflows: ["inductor*"]
    priority: P2
  trunk:
    workflows: [trunk]
suspects:
  max_prs: 3
"""


async def test_a_wrong_value_voids_its_group_and_an_unknown_key_is_skipped(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = TWO_GROUPS
    loader = ConfigLoader()
    good = await loader.get(gh, "octo/repo", "main")
    assert good.errors == () and good.warnings == () and not good.report_errors
    newer = TWO_GROUPS.replace("priority: P2", "priority: P9") + "from_a_newer_release: 1\n"
    server.files["octo/repo", CONFIG_PATH] = newer
    loader.invalidate("octo/repo")
    partly = await loader.get(gh, "octo/repo", "main")
    assert isinstance(partly, LoadedConfig) and not partly.fallback
    assert [group.name for group in partly.config.groups] == ["trunk"]
    assert partly.config.suspects.max_prs == 3  # the rest of the file applies
    assert partly.report_errors is True
    assert [str(e) for e in partly.errors] == [
        ".github/trunkwatch.yml:4: groups.inductor.priority: "
        "expected one of P0, P1, P2, P3, P4, got 'P9'; the group 'inductor' is ignored"
    ]
    assert [str(e) for e in partly.warnings] == [
        ".github/trunkwatch.yml:9: from_a_newer_release: unknown key"
    ]
    loader.invalidate("octo/repo")  # read again, the same problems: nothing new to report
    assert (await loader.get(gh, "octo/repo", "main")).report_errors is False

    # An unreadable file now falls back to the configuration that applied last.
    server.files["octo/repo", CONFIG_PATH] = "groups: [\n"
    loader.invalidate("octo/repo")
    unreadable = await loader.get(gh, "octo/repo", "main")
    assert unreadable.fallback and unreadable.config == partly.config
    assert unreadable.warnings == () and unreadable.report_errors

    # Only an unknown key: everything applies, and it is still said.
    server.files["octo/repo", CONFIG_PATH] = TWO_GROUPS + "from_a_newer_release: 1\n"
    loader.invalidate("octo/repo")
    warned = await loader.get(gh, "octo/repo", "main")
    assert warned.config == good.config and warned.errors == ()
    assert len(warned.warnings) == 1 and warned.report_errors


async def test_an_extends_chain_that_cannot_be_followed_is_unreadable(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = TWO_GROUPS
    loader = ConfigLoader()
    good = await loader.get(gh, "octo/repo", "main")
    server.files["octo/repo", CONFIG_PATH] = "_extends: nowhere\n" + TWO_GROUPS
    loader.invalidate("octo/repo")
    cut = await loader.get(gh, "octo/repo", "main")
    assert cut.fallback and cut.config == good.config
    assert [e.key for e in cut.errors] == ["_extends"]


async def test_broken_file_without_a_valid_one_gives_no_config(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = "- not\n- a mapping\n"
    result = await ConfigLoader().get(gh, "octo/repo", "main")
    assert isinstance(result, NoConfig)
    assert result.source == "octo/repo:.github/trunkwatch.yml"
    assert result.report_errors
    assert [str(e) for e in result.errors] == [
        ".github/trunkwatch.yml:1: expected a mapping of settings (key: value) at the top, "
        "got a list"
    ]


async def test_github_down_keeps_the_last_valid_config(
    github: tuple[ContentsServer, GitHubAPI],
) -> None:
    server, gh = github
    server.files["octo/repo", CONFIG_PATH] = DESIGN_EXAMPLE
    loader = ConfigLoader()
    good = await loader.get(gh, "octo/repo", "main")
    server.broken.add("octo/repo")
    loader.invalidate("octo/repo")
    assert await loader.get(gh, "octo/repo", "main") == good
    with pytest.raises(ReadFailed):
        await ConfigLoader().get(gh, "octo/repo", "main")


async def test_against_the_simulated_github() -> None:
    sim = SimulatedGitHub()
    base_url = await sim.start()
    try:
        sim.add_installation(7, account="octo")
        token, _ = sim.issue_token(7)
        sim.add_repo("octo/repo", default_branch="trunk")
        sim.set_file("octo/repo", CONFIG_PATH, "_extends: base\ngroups: {g: {threshold: 4}}\n")
        sim.set_file("octo/base", CONFIG_PATH, "groups: {g: {priority: P1}}\n")
        sim.set_file("octo/.github", CONFIG_PATH, "groups: {org: {}}\n")
        sim.add_repo("octo/plain")
        loader = ConfigLoader()
        async with aiohttp.ClientSession() as session:
            gh = GitHubAPI(session, "trunkwatch-tests", oauth_token=token, base_url=base_url)
            extended = await loader.get(gh, "octo/repo", "trunk")
            fallback = await loader.get(gh, "octo/plain", "main")
        assert extended.config is not None, extended.errors
        group = extended.config.groups[0]
        assert (group.threshold, group.priority) == (4, "P1")
        assert fallback.source == "octo/.github:.github/trunkwatch.yml"
        assert fallback.config is not None and fallback.config.groups[0].name == "org"
    finally:
        await sim.stop()


# --- culprit: ----------------------------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"


def culprit_of(section: str) -> CulpritConfig:
    config = load_text(f"groups: {{g: {{}}}}\nculprit:\n{textwrap.indent(section, '  ')}", "f")
    return config.culprit


def test_culprit_defaults_when_the_section_is_absent() -> None:
    culprit = load_text("groups: {g: {}}\n", "f").culprit
    assert culprit == CulpritConfig(
        confirm="rerun",
        confirm_before_filing=False,
        bisect_tag="trunkwatch/bisect/{sha}",
        max_runs=6,
        bisect_at_once=3,
        revert="off",
        max_reverts_per_day=2,
        no_revert_label="trunkwatch: no revert",
    )
    assert load_default().culprit == culprit


def test_culprit_settings() -> None:
    culprit = culprit_of(
        "confirm: off\nconfirm_before_filing: false\nbisect_tag: 'ci/bisect-{sha}-tw'\n"
        "max_runs: 0\nrevert: suggest\nmax_reverts_per_day: 0\nno_revert_label: keep\n"
    )
    assert (culprit.confirm, culprit.revert) == ("off", "suggest")  # a bare off is false
    assert (culprit.max_runs, culprit.max_reverts_per_day) == (0, 0)
    assert culprit.no_revert_label == "keep"
    assert culprit.bisect_tag == "ci/bisect-{sha}-tw"
    assert culprit_of("revert: auto\nconfirm: 'rerun'\n").revert == "auto"
    assert culprit_of("revert: 'off'\n").revert == "off"
    assert culprit_of("confirm_before_filing: true\n").confirm_before_filing
    assert culprit_of("bisect_at_once: 2\n").bisect_at_once == 2
    assert (
        load_text("groups: {g: {}}\nculprit: {bisect_at_once: 1}\n", "f")
        .tracker_config("main")
        .bisect_at_once
        == 1
    )


@pytest.mark.parametrize("off", ["''", "off", "null", "false", ""])
def test_an_empty_or_off_bisect_tag_turns_bisection_off(off: str) -> None:
    culprit = culprit_of(f"bisect_tag: {off}\n")
    assert culprit.bisect_tag is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("confirm: true", "confirm: expected one of off, rerun, got true"),
        ("confirm: always", "confirm: expected one of off, rerun, got 'always'"),
        ("revert: on", "revert: expected one of off, suggest, auto, got true"),
        ("revert: [auto]", "revert: expected one of off, suggest, auto, got a list"),
        ("max_runs: -1", "max_runs: expected an integer ≥ 0, got -1"),
        ("max_runs: six", "max_runs: expected an integer ≥ 0, got 'six'"),
        ("max_reverts_per_day: 1.5", "max_reverts_per_day: expected an integer ≥ 0, got 1.5"),
        ("bisect_at_once: 0", "bisect_at_once: expected a positive integer, got 0"),
        ("bisect_at_once: 4", "bisect_at_once: expected 1, 2 or 3, got 4"),
        ("bisect_at_once: true", "bisect_at_once: expected a positive integer, got true"),
        (
            "confirm_before_filing: 'yes'",
            "confirm_before_filing: expected true or false, got 'yes'",
        ),
        ("no_revert_label: ''", "no_revert_label: expected a non-empty string, got ''"),
        (
            "bisect_tag: 'bisect/sha'",
            "bisect_tag: must contain {sha} exactly once, got 'bisect/sha'",
        ),
        (
            "bisect_tag: '{sha}/{sha}'",
            "bisect_tag: must contain {sha} exactly once, got '{sha}/{sha}'",
        ),
        ("bisect_tag: 'a b/{sha}'", "bisect_tag: not a valid git tag name, got 'a b/{sha}'"),
        ("bisect_tag: 'x..y/{sha}'", "bisect_tag: not a valid git tag name, got 'x..y/{sha}'"),
        ("bisect_tag: '{sha}.lock'", "bisect_tag: not a valid git tag name, got '{sha}.lock'"),
        (
            "bisect_tag: '.hidden/{sha}'",
            "bisect_tag: not a valid git tag name, got '.hidden/{sha}'",
        ),
        ("bisect_tag: 'x/{sha}/'", "bisect_tag: not a valid git tag name, got 'x/{sha}/'"),
        ("bisect_tag: 'x:{sha}'", "bisect_tag: not a valid git tag name, got 'x:{sha}'"),
        (
            "bisect_tag: 'refs/tags/b/{sha}'",
            "bisect_tag: a tag name, without refs/tags/, got 'refs/tags/b/{sha}'",
        ),
        ("bisect_tag: 7", "bisect_tag: expected a tag name with {sha}, or off, got 7"),
    ],
)
def test_a_wrong_culprit_setting_names_key_and_line_and_keeps_its_default(
    setting: str, message: str
) -> None:
    key = setting.partition(":")[0]
    other, value = ("max_reverts_per_day", 1) if key == "max_runs" else ("max_runs", 4)
    text = f"groups: {{g: {{}}}}\nculprit:\n  {other}: {value}\n  {setting}\n"
    checked = read_text(text, "f")
    default = CulpritConfig()
    assert [str(e) for e in checked.errors] == [
        f"f:4: culprit.{message}; the default applies: {shown(getattr(default, key))}"
    ]
    assert checked.config is not None
    assert checked.config.culprit == replace(default, **{other: value})  # the rest applies


def test_waiting_for_a_rerun_that_is_off_is_an_error() -> None:
    checked = read_text(
        "groups: {g: {}}\nculprit: {confirm: off, confirm_before_filing: true}\n", "f"
    )
    assert [str(e) for e in checked.errors] == [
        "f:2: culprit.confirm_before_filing: true, but confirm is off: no rerun would ever come;"
        " the default applies: false"
    ]
    assert checked.config is not None
    assert checked.config.culprit.confirm == "off"
    assert not checked.config.culprit.confirm_before_filing


def test_unknown_culprit_keys_are_warnings() -> None:
    checked = read_text("groups: {g: {}}\nculprit:\n  bisect_depth: 3\n", "f")
    assert checked.errors == ()
    assert [str(e) for e in checked.warnings] == [
        "f:3: culprit.bisect_depth: unknown key (did you mean 'bisect_tag'?)"
    ]
