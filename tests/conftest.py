"""Fixtures shared by every test directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conf.diagnostics import Diagnostics
from conf.preprocess import Preprocessor

WriteConf = Callable[..., Path]


@pytest.fixture
def write_conf(tmp_path: Path) -> WriteConf:
    """Write a configuration file (dedented) under tmp_path and return its path."""

    def write(text: str, name: str = "keepalived.conf") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


def expand(path: Path, config_id: str = "main") -> tuple[list[tuple[int, str]], Diagnostics]:
    """(line, text) of every logical line the preprocessor produces, and its diagnostics."""
    diags = Diagnostics()
    lines = [(line.loc.line, line.text) for line in Preprocessor(diags, config_id).read(str(path))]
    return lines, diags
