"""The normalised configuration, as JSON (stable, documented) or as keepalived.conf text."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Mapping
from typing import Any

from conf.build import grammar_of
from conf.schema import Block, field_keywords, kw_of
from conf.values import Const, Flag

JSON_SCHEMA_VERSION = 1
_SKIP = ("loc", "locs")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any model value. Field names are the JSON keys."""
    if isinstance(value, Block):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _SKIP}
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _SKIP}
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [to_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, (frozenset, set)) else items
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(
        value,
        (
            ipaddress.IPv4Address,
            ipaddress.IPv6Address,
            ipaddress.IPv4Network,
            ipaddress.IPv6Network,
            ipaddress.IPv4Interface,
            ipaddress.IPv6Interface,
        ),
    ):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot represent {type(value).__name__} in JSON")


def to_json_document(config: Block) -> dict[str, Any]:
    document = to_jsonable(config)
    assert isinstance(document, dict)
    return {"schema_version": JSON_SCHEMA_VERSION, **document}


def to_text(config: Block) -> str:
    """keepalived.conf syntax with every default written out; it parses back to the same model."""
    lines: list[str] = []
    _render_body(config, 0, lines)
    return "\n".join(lines) + "\n"


def _render_body(obj: Block, depth: int, out: list[str]) -> None:
    pad = "    " * depth
    for f in grammar_of(type(obj)).fields:
        spec = kw_of(f)
        assert spec is not None
        value = getattr(obj, f.name)
        keyword = field_keywords(f, spec)[0] if not isinstance(spec.block, Mapping) else ""
        if spec.lines is not None:
            fmt = spec.line_format or str
            if spec.catch_all:
                out.extend(f"{pad}{fmt(item)}" for item in value)
            elif value:
                out.append(f"{pad}{keyword} {{")
                out.extend(f"{pad}    {fmt(item)}" for item in value)
                out.append(f"{pad}}}")
        elif spec.block is not None:
            for sub in value if spec.repeat else ((value,) if value is not None else ()):
                sub_keyword = type(sub).block_keyword if isinstance(spec.block, Mapping) else keyword
                header = sub.header_text()
                out.append(f"{pad}{sub_keyword}{' ' + header if header else ''} {{")
                _render_body(sub, depth + 1, out)
                out.append(f"{pad}}}")
        elif spec.value is not None:
            values = value if spec.repeat else (() if value is None else (value,))
            for item in values:
                if isinstance(spec.value, Flag):
                    if item == spec.value.value:
                        out.append(f"{pad}{keyword}")
                    elif item != f.default:
                        negation = _negating_keyword(spec.also, item)
                        if negation:
                            out.append(f"{pad}{negation}")
                    continue
                text = spec.value.format(item)
                out.append(f"{pad}{keyword}{' ' + text if text else ''}")


def _negating_keyword(also: Mapping[str, Any], value: Any) -> str | None:
    for name, parser in also.items():
        if isinstance(parser, Const) and parser.value == value:
            return name
    return None
