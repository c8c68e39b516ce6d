"""`hakeeper check-config`: one node's file, its machine, lint, and the cross-node simulation."""

from __future__ import annotations

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
    for peer in peers:
        # A peer is another machine: its file is checked, its environment is not ours to judge.
        loaded = load(peer, config_id=config_id)
        lint(loaded.config, loaded.diagnostics)
        report.nodes.append(loaded)
        if loaded.diagnostics.worst == Severity.FATAL:
            continue
        label = node_label(peer, labels)
        labels.append(label)
        nodes.append(Node(label, loaded.config))
    simulate(nodes, report.cross_node)
    return report
