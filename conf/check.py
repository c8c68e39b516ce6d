"""`hakeeper check-config`: one node's file, its machine, lint, and the cross-node simulation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from conf.diagnostics import Diagnostic, Diagnostics, Severity
from conf.environment import Machine, check_environment
from conf.lint import lint
from conf.load import Loaded, load
from conf.peers import Node, node_label, simulate


@dataclass
class CheckReport:
    nodes: list[Loaded] = field(default_factory=list)
    # Findings about several nodes at once (the peer simulation), in the order found.
    cross_node: Diagnostics = field(default_factory=Diagnostics)

    def all(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for node in self.nodes:
            order = {name: i for i, name in enumerate(node.files)}
            out.extend(sorted(node.diagnostics, key=lambda d: (order.get(d.loc.file, len(order)), d.loc.line)))
        out.extend(self.cross_node)
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
    path: str,
    peers: Sequence[str] = (),
    *,
    config_id: str | None = None,
    strict_env: bool = False,
    machine: Machine | None = None,
) -> CheckReport:
    report = CheckReport()
    main = load(path, config_id=config_id, strict_env=strict_env)
    report.nodes.append(main)
    if main.diagnostics.worst == Severity.FATAL:
        return report
    lint(main.config, main.diagnostics)
    check_environment(main.config, main.diagnostics, machine)
    if not peers:
        return report

    labels: list[str] = [node_label(path, [])]
    nodes = [Node(labels[0], main.config)]
    for spec in peers:
        peer, peer_id = split_peer(spec, config_id)
        # A peer is another machine: its file is checked, its environment is not ours to judge.
        loaded = load(peer, config_id=peer_id)
        lint(loaded.config, loaded.diagnostics)
        report.nodes.append(loaded)
        if loaded.diagnostics.worst == Severity.FATAL:
            continue
        label = node_label(peer if peer_id == config_id else f"{peer}@{peer_id}", labels)
        labels.append(label)
        nodes.append(Node(label, loaded.config))
    simulate(nodes, report.cross_node)
    return report


def split_peer(spec: str, config_id: str | None) -> tuple[str, str | None]:
    """`FILE` or `FILE@ID`: a peer may use its own config id (one file with @main/@backup lines)."""
    path, at, ident = spec.rpartition("@")
    if at and ident and not os.path.exists(spec) and os.path.exists(path):
        return path, ident
    return spec, config_id
