"""Preferences for rules written without one, as keepalived numbers them."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from conf.model.rules import RuleEntry

if TYPE_CHECKING:
    from conf.model.config import Config

RULE_START_PREFERENCE = 16384  # keepalived's RULE_START_PRIORITY


def assign_rule_preferences(config: Config) -> Config:
    """Each rule without a preference gets the next one down from 16384, per family, in file order.

    keepalived numbers them as it reads the file (vrrp_iprule.c), static_rules and
    virtual_rules alike; here the order is the rules' position in the files, the
    files taken in the order their rules first appear.
    """
    owners: list[tuple[str | None, RuleEntry]] = [(None, rule) for rule in config.static_rules]
    owners += [(instance.name, rule) for instance in config.vrrp_instances for rule in instance.virtual_rules]
    unnumbered = [(owner, rule) for owner, rule in owners if rule.preference is None]
    if not unnumbered:
        return config
    file_rank: dict[str, int] = {}
    for _, rule in owners:
        file_rank.setdefault(rule.loc.file, len(file_rank))
    unnumbered.sort(key=lambda pair: (file_rank[pair[1].loc.file], pair[1].loc.line))
    following = {4: RULE_START_PREFERENCE, 6: RULE_START_PREFERENCE}
    numbered: dict[int, RuleEntry] = {}
    for _, rule in unnumbered:
        numbered[id(rule)] = dataclasses.replace(rule, preference=following[rule.family])
        following[rule.family] -= 1

    def renumber(rules: tuple[RuleEntry, ...]) -> tuple[RuleEntry, ...]:
        return tuple(numbered.get(id(rule), rule) for rule in rules)

    instances = tuple(
        dataclasses.replace(instance, virtual_rules=renumber(instance.virtual_rules))
        for instance in config.vrrp_instances
    )
    return dataclasses.replace(config, static_rules=renumber(config.static_rules), vrrp_instances=instances)
