"""Generate docs/config-json.md, the reference of `hakeeper dump-config --json`, from the model itself.

    python -m conf.jsondoc > docs/config-json.md

A test keeps the committed file equal to this output, so the document cannot
drift from the code.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from conf.build import grammar_of
from conf.dump import JSON_SCHEMA_VERSION
from conf.model.config import Config
from conf.schema import Block, field_keywords, kw_of

INTRO = f"""# `hakeeper dump-config --json`

The normalised configuration: every keyword of keepalived.conf with its
default filled in and inherited values resolved (a real server's `delay_loop`
from its virtual server, an instance's garp settings from `global_defs`, the
VRRP version from the address family, and so on).

Stability: keys are the keepalived keywords they come from (lists of blocks
use the plural: `vrrp_instances`, `virtual_servers`). A key is never renamed
or removed within a `schema_version`; new keys may appear. The current
`schema_version` is {JSON_SCHEMA_VERSION}. Addresses are strings
(`"192.0.2.1"`, `"192.0.2.1/24"`), durations are seconds (floats where
keepalived allows fractions), absent optional values are `null`.

Scripts are objects: `{{"command": "...", "argv": [...], "user": ..., "group": ...}}`.
Tracker references (`track_script` and friends) are
`{{"name": ..., "weight": ..., "reverse": ...}}`, where `null` means the tracked
object's own setting.

This file is generated from the model by `python -m conf.jsondoc`.
"""


def _blocks(root: type[Block]) -> Iterator[tuple[str, type[Block]]]:
    seen: set[type[Block]] = set()
    queue: list[tuple[str, type[Block]]] = [("(top level)", root)]
    while queue:
        label, cls = queue.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        yield label, cls
        for f in grammar_of(cls).fields:
            spec = kw_of(f)
            assert spec is not None
            if isinstance(spec.block, Mapping):
                queue.extend((name, sub) for name, sub in spec.block.items())
            elif isinstance(spec.block, type):
                queue.append((field_keywords(f, spec)[0], spec.block))


def _default(f: dataclasses.Field[Any]) -> str:
    spec = kw_of(f)
    if spec is not None and spec.inherit is not None:
        return "inherited"
    if f.default is dataclasses.MISSING:
        return ""
    if f.default is None:
        return "null"
    if f.default == ():
        return "[]"
    if isinstance(f.default, Block):
        return "{...}"
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    return f"`{f.default}`" if not dataclasses.is_dataclass(f.default) else "{...}"


def _item_classes() -> Iterator[type[Any]]:
    """The line items of value blocks (addresses, routes, tracker references ...): frozen
    dataclasses of the model modules that are not blocks and carry a location."""
    import importlib  # noqa: PLC0415 - only the document generator needs every model module
    import pkgutil  # noqa: PLC0415

    import conf.model  # noqa: PLC0415

    seen: set[type[Any]] = set()
    for info in sorted(pkgutil.iter_modules(conf.model.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"conf.model.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and not issubclass(value, Block)
                and value.__module__ == module.__name__
                and value not in seen
                and any(f.name == "loc" for f in dataclasses.fields(value))
                and value.__name__ != "EnvRef"  # a check-config finding, not part of the model
            ):
                seen.add(value)
                yield value


def render() -> str:
    out = [INTRO]
    for label, cls in _blocks(Config):
        keyword = cls.block_keyword or label
        out.append(f"\n## `{keyword}`\n")
        out.append("| JSON key | keywords | type | default |")
        out.append("|---|---|---|---|")
        keyword_fields = {f.name for f in grammar_of(cls).fields}
        for f in dataclasses.fields(cls):
            if f.name in ("loc", "locs"):
                continue
            spec = kw_of(f)
            if f.name not in keyword_fields:
                out.append(f"| `{f.name}` | (block header) | `{f.type}` | |")
                continue
            assert spec is not None
            if isinstance(spec.block, Mapping):
                names = ", ".join(f"`{n}`" for n in spec.block)
            else:
                names = ", ".join(f"`{n}`" for n in (*field_keywords(f, spec), *spec.also))
            out.append(f"| `{f.name}` | {names} | `{str(f.type).replace('|', 'or')}` | {_default(f)} |")
    out.append("\n## Items of value blocks\n")
    out.append(
        "Lines of blocks such as `virtual_ipaddress` or `track_script` are objects with these keys; "
        "`NameRef` (a sync group or track group member) is written as its name alone."
    )
    for cls in _item_classes():
        out.append(f"\n### `{cls.__name__}` ({cls.__module__.rsplit('.', 1)[-1]})\n")
        out.append("| JSON key | type |")
        out.append("|---|---|")
        for f in dataclasses.fields(cls):
            if f.name != "loc":
                out.append(f"| `{f.name}` | `{str(f.type).replace('|', 'or')}` |")
    return "\n".join(out) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
