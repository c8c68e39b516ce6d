"""vrrp_sync_group and vrrp_instance (stub: being written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conf.schema import Block, Cx, name_header

if TYPE_CHECKING:
    from conf.model.config import Config


@dataclass(frozen=True, kw_only=True)
class SyncGroup(Block):
    block_keyword = "vrrp_sync_group"

    name: str = ""
    header = name_header("vrrp_sync_group")


@dataclass(frozen=True, kw_only=True)
class VrrpInstance(Block):
    block_keyword = "vrrp_instance"

    name: str = ""
    header = name_header("vrrp_instance")


def validate_vrrp(config: Config, cx: Cx) -> Config:
    return config
