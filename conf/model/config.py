"""The root of the model: everything a keepalived.conf holds."""

from __future__ import annotations

from dataclasses import dataclass

from conf.model.global_defs import GlobalDefs
from conf.schema import Block, block


@dataclass(frozen=True, kw_only=True)
class Config(Block):
    block_keyword = "the top level"

    global_defs: GlobalDefs = block(GlobalDefs, always=True, default=GlobalDefs())
