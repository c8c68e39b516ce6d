"""bfd_instance (stub: completed separately)."""

from __future__ import annotations

from dataclasses import dataclass

from conf.schema import Block, name_header


@dataclass(frozen=True, kw_only=True)
class BfdInstance(Block):
    block_keyword = "bfd_instance"

    name: str = ""
    header = name_header("bfd_instance")

    def header_text(self) -> str:
        return self.name
