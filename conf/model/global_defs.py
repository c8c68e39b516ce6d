"""global_defs and the other global blocks (stub, to be completed)."""

from __future__ import annotations

from dataclasses import dataclass

from conf.schema import Block, kw
from conf.values import Str


@dataclass(frozen=True, kw_only=True)
class GlobalDefs(Block):
    block_keyword = "global_defs"

    router_id: str | None = kw(Str())
