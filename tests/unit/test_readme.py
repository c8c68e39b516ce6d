"""The README's commands, links and paths name things that exist.

- The Quickstart section (the one whose code blocks hold `make lab` and `make test`): every
  `make TARGET` is a target of the Makefile, every `VAR=value` given to make is used by that
  target's recipe, and every `hakeeper SUB` is a subcommand of `services.cli`'s parser.
- Every code block: every `hakeeper SUB` (also `.venv/bin/hakeeper SUB`) names a subcommand,
  and the options written after it are options of that subcommand.
- Every relative link (`](docs/...)`) and every backquoted repository path points to a file or
  directory of the repository.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
SECTION = re.compile(r"^## ", re.M)
COMMENT = re.compile(r"(?:^|\s)#.*$")
# A command starts a line or follows a separator; `.venv/bin/hakeeper` and `/usr/local/bin/hakeeper` count.
HAKEEPER = re.compile(r"(?:^|[\s;&|(])(?:\S*bin/)?hakeeper[ \t]+(?P<sub>[A-Za-z][\w-]*)(?P<rest>[^;&|\n]*)")
MAKE = re.compile(r"(?:^|[\s;&|(])make(?P<args>(?:[ \t]+[^\s;&|]+)*)")
LONG_OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
SHORT_OPTION = re.compile(r"(?<![\w-])-[A-Za-z](?![\w-])")
TARGET = re.compile(r"^(?P<names>[A-Za-z0-9_.%/-]+(?:[ \t]+[A-Za-z0-9_.%/-]+)*)[ \t]*:(?![=:])", re.M)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
REPO_PATH = re.compile(r"`(?P<path>(?:bench|bus|conf|docs|services|tests)/[\w./-]*)`")


@dataclass(frozen=True)
class Command:
    """One command found in a code block: the line it came from, for the failure messages."""

    line: str
    name: str
    args: str


def readme() -> str:
    return README.read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return [match.group(1) for match in FENCE.finditer(text)]


def code_lines(blocks: list[str]) -> list[str]:
    """The blocks' lines without their shell comments."""
    lines: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            stripped = COMMENT.sub("", line).strip()
            if stripped:
                lines.append(stripped)
    return lines


def quickstart_blocks(text: str) -> list[str]:
    """The code blocks of the section whose code holds both `make lab` and `make test`."""
    found: list[list[str]] = []
    for section in SECTION.split(text):
        blocks = code_blocks(section)
        commands = {f"make {target}" for line in code_lines(blocks) for target in make_targets(line)}
        if {"make lab", "make test"} <= commands:
            found.append(blocks)
    assert len(found) == 1, f"expected one README section with `make lab` and `make test` in code, found {len(found)}"
    return found[0]


def make_commands(line: str) -> list[Command]:
    return [Command(line, "make", match.group("args")) for match in MAKE.finditer(line)]


def make_targets(line: str) -> list[str]:
    return [
        word
        for command in make_commands(line)
        for word in command.args.split()
        if "=" not in word and not word.startswith("-")
    ]


def make_variables(command: Command) -> list[str]:
    return [word.partition("=")[0] for word in command.args.split() if "=" in word and not word.startswith("-")]


def hakeeper_commands(line: str) -> list[Command]:
    return [Command(line, match.group("sub"), match.group("rest")) for match in HAKEEPER.finditer(line)]


def makefile_recipes() -> dict[str, str]:
    """Each target of the Makefile, with its recipe (the tab-indented lines after it)."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    recipes: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = TARGET.match(line)
        if match is None:
            continue
        recipe: list[str] = []
        for following in lines[index + 1 :]:
            if not following.startswith("\t"):
                break
            recipe.append(following)
        for name in match.group("names").split():
            recipes[name] = recipes.get(name, "") + "\n".join(recipe)
    return recipes


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """`services.cli`'s subcommands, each with its own parser."""
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("services.cli's parser has no subcommands")


def hakeeper_problems(commands: list[Command]) -> list[str]:
    known = subcommands()
    problems: list[str] = []
    for command in commands:
        parser = known.get(command.name)
        if parser is None:
            problems.append(f"`hakeeper {command.name}` is not a subcommand (known: {sorted(known)}): {command.line}")
            continue
        options = {option for action in parser._actions for option in action.option_strings}
        written = LONG_OPTION.findall(command.args) + SHORT_OPTION.findall(command.args)
        problems.extend(
            f"`hakeeper {command.name}` has no option {option}: {command.line}"
            for option in written
            if option not in options
        )
    return problems


# ------------------------------------------------------------------------------ the parsers


def test_the_command_finders_see_what_they_must_and_nothing_else() -> None:
    assert make_targets("make lab ARGS=--interactive") == ["lab"]
    assert make_targets("cmake lab") == []
    assert make_variables(make_commands("make lab ARGS=--interactive")[0]) == ["ARGS"]
    found = hakeeper_commands(".venv/bin/hakeeper events --follow --topic vrrp/")
    assert [(c.name, LONG_OPTION.findall(c.args)) for c in found] == [("events", ["--follow", "--topic"])]
    assert [c.name for c in hakeeper_commands("pip install . && hakeeper status --json")] == ["status"]
    assert hakeeper_commands("systemctl enable --now hakeeper") == []
    assert hakeeper_commands("HAKEEPER_RUNTIME_DIR=/run/hakeeper supervisord -c supervisord.conf") == []
    assert hakeeper_commands("cp conf/hakeeper.service /etc/systemd/system/") == []
    assert code_lines(["make test   # lint, types and tests\n# only a comment\n"]) == ["make test"]


def test_the_checks_report_what_is_missing() -> None:
    problems = hakeeper_problems(hakeeper_commands("hakeeper frobnicate -f x; hakeeper status --jsn"))
    assert any("`hakeeper frobnicate` is not a subcommand" in p for p in problems), problems
    assert any("`hakeeper status` has no option --jsn" in p for p in problems), problems
    assert "no-such-target" not in makefile_recipes()


# ------------------------------------------------------------------------------ the README


def test_quickstart_make_targets_exist() -> None:
    lines = code_lines(quickstart_blocks(readme()))
    recipes = makefile_recipes()
    targets = [(target, line) for line in lines for target in make_targets(line)]
    assert targets, "no `make` command in the Quickstart code"
    missing = [
        f"`make {target}`: no target {target!r} in the Makefile ({line})"
        for target, line in targets
        if target not in recipes
    ]
    assert not missing, "\n".join(missing)


def test_quickstart_make_variables_are_used_by_their_target() -> None:
    recipes = makefile_recipes()
    unused: list[str] = []
    for line in code_lines(quickstart_blocks(readme())):
        for command in make_commands(line):
            targets = [word for word in command.args.split() if "=" not in word and not word.startswith("-")]
            for variable in make_variables(command):
                uses = (f"$({variable})", f"${{{variable}}}")
                if not any(use in recipes.get(target, "") for target in targets for use in uses):
                    unused.append(f"{variable}= is not used by the recipe of {targets}: {line}")
    assert not unused, "\n".join(unused)


def test_quickstart_hakeeper_commands_exist() -> None:
    commands = [c for line in code_lines(quickstart_blocks(readme())) for c in hakeeper_commands(line)]
    problems = hakeeper_problems(commands)
    assert not problems, "\n".join(problems)


def test_every_hakeeper_command_in_code_blocks_exists() -> None:
    commands = [c for line in code_lines(code_blocks(readme())) for c in hakeeper_commands(line)]
    assert len({c.name for c in commands}) >= 5, f"too few hakeeper commands found: {commands}"
    problems = hakeeper_problems(commands)
    assert not problems, "\n".join(problems)


def test_relative_links_point_to_files() -> None:
    targets = [match.group("target") for match in LINK.finditer(readme())]
    relative = [t for t in targets if not SCHEME.match(t) and not t.startswith("#")]
    assert relative, "no relative link found in README.md"
    missing = [t for t in relative if not (ROOT / t.partition("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_backquoted_repository_paths_exist(kind: str) -> None:
    paths = {match.group("path") for match in REPO_PATH.finditer(readme())}
    wanted = sorted(p for p in paths if p.endswith("/") == (kind == "directory"))
    assert wanted, f"no backquoted repository {kind} path found in README.md"
    missing = [p for p in wanted if not (ROOT / p).exists()]
    assert not missing, f"README.md names missing paths: {missing}"
