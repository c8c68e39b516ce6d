"""`hakeeper check-config`: diagnostics of one node's file, lint, and the cross-node simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from conf.diagnostics import Diagnostic, Diagnostics, Severity
from conf.load import Loaded, load


@dataclass
class CheckReport:
    nodes: list[Loaded] = field(default_factory=list)
    extra: Diagnostics = field(default_factory=Diagnostics)

    def all(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for node in self.nodes:
            order = {name: i for i, name in enumerate(node.files)}
            out.extend(sorted(node.diagnostics, key=lambda d: (order.get(d.loc.file, len(order)), d.loc.line)))
        out.extend(self.extra)
        return out

    def lines(self) -> list[str]:
        return [d.render() for d in self.all()]

    @property
    def exit_code(self) -> int:
        merged = Diagnostics()
        merged.extend(self.all())
        return merged.exit_code()

    def worst(self) -> Severity | None:
        return max((d.severity for d in self.all()), default=None)


def check_files(
    path: str, peers: Sequence[str], *, config_id: str | None = None, strict_env: bool = False
) -> CheckReport:
    report = CheckReport()
    report.nodes.append(load(path, config_id=config_id, strict_env=strict_env))
    for peer in peers:
        report.nodes.append(load(peer, config_id=config_id, strict_env=strict_env))
    return report
