"""Build the typed model from statements, driven by the `Kw` metadata of the model's fields."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from conf.diagnostics import Loc, Severity
from conf.schema import ArgError, Block, Cx, Kw, Scope, Value, field_keywords, kw_of
from conf.tree import Stmt

B = TypeVar("B", bound=Block)

_MISSING = object()


@dataclass(frozen=True)
class Entry:
    """How one keyword is handled inside one kind of block."""

    field: str
    spec: Kw
    value: Value[Any] | None  # for plain statements
    block: type[Block] | None  # for sub-blocks


@dataclass(frozen=True)
class BlockGrammar:
    keywords: Mapping[str, Entry]
    fields: tuple[dataclasses.Field[Any], ...]
    catch_all: Entry | None = None  # takes the statements that match no keyword


_GRAMMARS: dict[type[Block], BlockGrammar] = {}


def grammar_of(cls: type[Block]) -> BlockGrammar:
    """The keywords of a block, read once from its fields' metadata."""
    known = _GRAMMARS.get(cls)
    if known is not None:
        return known
    keywords: dict[str, Entry] = {}
    fields: list[dataclasses.Field[Any]] = []
    catch_all: Entry | None = None
    for f in dataclasses.fields(cls):
        spec = kw_of(f)
        if spec is None:
            continue
        fields.append(f)
        if spec.catch_all:
            catch_all = Entry(f.name, spec, None, None)
            continue
        if isinstance(spec.block, Mapping):
            for name, sub in spec.block.items():
                keywords[name] = Entry(f.name, spec, None, sub)
            continue
        for name in field_keywords(f, spec):
            keywords[name] = Entry(f.name, spec, spec.value, spec.block)
        for name, value in spec.also.items():
            keywords[name] = Entry(f.name, spec, value, None)
    grammar = BlockGrammar(keywords, tuple(fields), catch_all)
    _GRAMMARS[cls] = grammar
    return grammar


@cache
def _all_block_keywords() -> dict[str, list[str]]:
    """keyword -> names of the blocks that accept it, for 'belongs in ...' hints."""
    from conf.model.config import Config  # noqa: PLC0415 - the model imports this module

    index: dict[str, list[str]] = {}
    seen: set[type[Block]] = set()

    def walk(cls: type[Block], label: str) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, entry in grammar_of(cls).keywords.items():
            index.setdefault(name, [])
            if label not in index[name]:
                index[name].append(label)
            if entry.block is not None:
                walk(entry.block, name)

    walk(Config, "the top level")
    return index


def build_block(
    cls: type[B], stmt: Stmt, body: Sequence[Stmt], cx: Cx, parent: Scope | None, globals_: Any
) -> B | None:
    """Build one block from its header statement and its body; None if it had to be dropped."""
    init = cls.header(stmt, cx)
    if init is None:
        return None
    grammar = grammar_of(cls)
    grouped: dict[str, list[tuple[Stmt, Entry]]] = {}
    for child in body:
        entry = grammar.keywords.get(child.keyword)
        if entry is None and grammar.catch_all is not None:
            grouped.setdefault(grammar.catch_all.field, []).append((child, grammar.catch_all))
            continue
        if entry is None:
            _unknown_keyword(cls, child, grammar, cx)
            continue
        if not _shape_ok(child, entry, cx):
            continue
        advice = entry.spec.deprecated.get(child.keyword)
        if advice:
            cx.warning(child, f"'{child.keyword}' is deprecated; {advice}")
        grouped.setdefault(entry.field, []).append((child, entry))

    values: dict[str, Any] = dict(init)
    locs: dict[str, Loc] = {}
    name = str(init.get("name", "")) if isinstance(init.get("name", ""), str) else ""
    scope = Scope(values, parent, globals_, name)
    for f in grammar.fields:
        spec = kw_of(f)
        assert spec is not None
        statements = grouped.get(f.name)
        value: Any = _MISSING
        if statements:
            value = _build_field(f, spec, statements, cx, scope)
            locs[f.name] = statements[-1][0].loc
        if value is _MISSING and spec.always and isinstance(spec.block, type):
            keyword = field_keywords(f, spec)[0]
            value = build_block(spec.block, Stmt((keyword,), stmt.loc, keyword), (), cx, scope, scope.globals)
        if value is _MISSING:
            if spec.inherit is not None:
                value = spec.inherit(scope)
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:  # pragma: no cover - every keyword field declares a default
                raise TypeError(f"{cls.__name__}.{f.name} has no default")
        values[f.name] = value
        if parent is None and f.name == "global_defs":
            # The root: what follows inherits from the global_defs just built.
            scope.globals = value
    obj = cls(**values, loc=stmt.loc, locs=locs)
    return obj.complete(cx, scope)


def build_root(cls: type[B], body: Sequence[Stmt], cx: Cx) -> B:
    root = build_block(cls, Stmt(("",), Loc("", 0), ""), body, cx, None, None)
    assert root is not None, "the root block is never dropped"
    return root


def _shape_ok(child: Stmt, entry: Entry, cx: Cx) -> bool:
    wants_block = entry.block is not None or entry.spec.lines is not None
    if wants_block and child.block is None:
        cx.error(child, f"'{child.keyword}' needs a '{{ ... }}' block; statement ignored")
        return False
    if not wants_block and child.block is not None:
        cx.error(child, f"'{child.keyword}' does not take a '{{ ... }}' block; block ignored")
        return False
    if entry.spec.lines is not None and child.args:
        cx.error(child, f"block {child.keyword} has extra parameters '{' '.join(child.args)}'; ignored")
    return True


def _build_field(
    f: dataclasses.Field[Any], spec: Kw, statements: list[tuple[Stmt, Entry]], cx: Cx, scope: Scope
) -> Any:
    if spec.lines is not None:
        items: list[Any] = []
        for stmt, _entry in statements:
            for line in (stmt,) if spec.catch_all else (stmt.block or ()):
                if line.block is not None:
                    cx.error(line, f"unexpected block inside '{stmt.keyword}'; ignored")
                    continue
                try:
                    parsed = spec.lines(line, cx)
                except ArgError as exc:
                    cx.report(line, exc.severity, exc.message)
                    continue
                # A parser may turn one line into several items (`group { VI_1 VI_2 }`).
                if isinstance(parsed, list):
                    items.extend(parsed)
                else:
                    items.append(parsed)
        return tuple(items)

    if statements[0][1].block is not None:
        if spec.repeat:
            built = []
            for stmt, entry in statements:
                assert entry.block is not None
                obj = build_block(entry.block, stmt, stmt.block or (), cx, scope, scope.globals)
                if obj is not None:
                    built.append(obj)
            return tuple(built)
        # Repeated single blocks merge, the way keepalived keeps applying keywords to one object.
        first, entry = statements[0]
        assert entry.block is not None
        merged = [child for stmt, _ in statements for child in (stmt.block or ())]
        obj = build_block(entry.block, first, merged, cx, scope, scope.globals)
        return _MISSING if obj is None else obj

    results: list[Any] = []
    failures: list[tuple[Stmt, ArgError]] = []
    for stmt, entry in statements:
        assert entry.value is not None
        try:
            results.append(_parse_statement(stmt, entry.value, cx))
        except ArgError as exc:
            failures.append((stmt, exc))
    for stmt, failure in failures:
        suffix = ""
        if failure.severity >= Severity.ERROR:
            suffix = "; ignored" if spec.repeat or results else _default_note(f, spec)
        prefix = "" if failure.message.startswith(f"'{stmt.keyword}'") else f"{stmt.keyword}: "
        cx.report(stmt, failure.severity, f"{prefix}{failure.message}{suffix}")
    if spec.repeat:
        return tuple(results) if results else _MISSING
    if spec.once and len(statements) > 1 and results:
        first = statements[0][0]
        for stmt, _entry in statements[1:]:
            cx.error(stmt, f"'{stmt.keyword}' already set at line {first.loc.line}; this one is ignored")
        return results[0]
    if spec.replaced_error and len(statements) > 1 and results:
        last = statements[-1][0]
        for stmt, _entry in statements[:-1]:
            cx.error(last, f"'{stmt.keyword}' already set at line {stmt.loc.line}; replaced by this one")
        return results[-1]
    if len(statements) > 1 and results:
        first = statements[0][0]
        cx.warning(
            statements[-1][0],
            f"'{first.keyword}' set more than once (first at line {first.loc.line}); the last one is used",
        )
    return results[-1] if results else _MISSING


def _default_note(f: dataclasses.Field[Any], spec: Kw) -> str:
    if spec.inherit is not None:
        return "; using the inherited default"
    if f.default is None or f.default is dataclasses.MISSING or f.default == ():
        return "; ignored"
    if isinstance(f.default, bool):
        return ""
    shown = spec.value.format(f.default) if spec.value is not None else str(f.default)
    return f"; using default {shown}"


def _parse_statement(stmt: Stmt, value: Value[Any], cx: Cx) -> Any:
    args = stmt.args
    if len(args) < value.min_args:
        raise ArgError(f"'{stmt.keyword}' is missing its argument" if value.min_args == 1 else
                       f"'{stmt.keyword}' needs at least {value.min_args} arguments")
    if value.max_args is not None and len(args) > value.max_args:
        parsed = value.parse(args[: value.max_args], stmt, cx)
        extra = " ".join(args[value.max_args :])
        cx.warning(stmt, f"'{stmt.keyword}': extra argument(s) '{extra}' ignored")
        return parsed
    return value.parse(args, stmt, cx)


def _unknown_keyword(cls: type[Block], stmt: Stmt, grammar: BlockGrammar, cx: Cx) -> None:
    where = cls.block_keyword or "this block"
    close = difflib.get_close_matches(stmt.keyword, list(grammar.keywords), n=1, cutoff=0.6)
    if close:
        hint = f"; did you mean '{close[0]}'?"
    else:
        homes = _all_block_keywords().get(stmt.keyword)
        if homes:
            hint = f"; it belongs in {' or '.join(homes[:3])}"
        else:
            anywhere = difflib.get_close_matches(stmt.keyword, list(_all_block_keywords()), n=1, cutoff=0.75)
            hint = f"; did you mean '{anywhere[0]}' (in {_all_block_keywords()[anywhere[0]][0]})?" if anywhere else ""
    suffix = " (its block is skipped)" if stmt.block is not None else ""
    cx.warning(stmt, f"unknown keyword '{stmt.keyword}' in {where}{hint}{suffix}")
