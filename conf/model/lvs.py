"""LVS blocks (stub: completed separately)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conf.schema import Block, Cx

if TYPE_CHECKING:
    from conf.model.config import Config


@dataclass(frozen=True, kw_only=True)
class VirtualServerGroup(Block):
    block_keyword = "virtual_server_group"


@dataclass(frozen=True, kw_only=True)
class VirtualServer(Block):
    block_keyword = "virtual_server"


@dataclass(frozen=True, kw_only=True)
class SslConfig(Block):
    block_keyword = "SSL"


def validate_lvs(config: Config, cx: Cx) -> Config:
    return config
