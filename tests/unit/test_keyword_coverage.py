"""hakeeper knows every keyword keepalived 2.2.7 knows, in the block where keepalived knows it."""

from __future__ import annotations

from pathlib import Path

from conf.build import grammar_of
from conf.model.config import Config
from conf.schema import Block

TABLE = Path(__file__).resolve().parent.parent / "fixtures" / "keepalived-2.2.7-keywords.tsv"


def _block_at(path: str) -> type[Block] | None:
    cls: type[Block] = Config
    for part in filter(None, path.split("/")):
        entry = grammar_of(cls).keywords.get(part)
        if entry is None or entry.block is None:
            return None
        cls = entry.block
    return cls


def test_every_keepalived_keyword_is_known_where_keepalived_knows_it() -> None:
    missing = []
    rows = [line.split("\t") for line in TABLE.read_text().splitlines() if line and not line.startswith("#")]
    assert len(rows) > 450
    for path, keyword in rows:
        block = _block_at(path)
        if block is None or keyword not in grammar_of(block).keywords:
            missing.append(f"{path or '(top level)'}: {keyword}")
    assert not missing, "\n".join(missing)
