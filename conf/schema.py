"""How a model dataclass declares the keywords that fill it.

Each field of a block's frozen dataclass carries a `Kw` in its metadata, so the
model is the single statement of the grammar: the keyword names, how their
arguments parse, the default and where an unset value is inherited from.

    @dataclass(frozen=True, kw_only=True)
    class VrrpScript(Block):
        interval: float = kw(Timer(1, 3600), default=1.0)
        weight: int = kw(Int(-253, 253), default=0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from conf.diagnostics import Diagnostics, Loc, Severity
from conf.tree import Stmt

T = TypeVar("T")

NOWHERE = Loc("", 0)


class ArgError(Exception):
    """The arguments of a statement are unusable; the statement is ignored."""

    def __init__(self, message: str, severity: Severity = Severity.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.severity = severity


@dataclass
class Cx:
    """What building a model needs besides the statements: where to report, and who we are."""

    diags: Diagnostics
    config_id: str

    def report(self, where: Stmt | Loc, severity: Severity, message: str) -> None:
        loc = where.loc if isinstance(where, Stmt) else where
        self.diags.add(loc, severity, message)

    def error(self, where: Stmt | Loc, message: str) -> None:
        self.report(where, Severity.ERROR, message)

    def warning(self, where: Stmt | Loc, message: str) -> None:
        self.report(where, Severity.WARNING, message)


@dataclass
class Scope:
    """The values of the block being built, and of the blocks around it.

    Inherited defaults read from here: a real server's `delay_loop` comes from its
    virtual server (`scope.parent`), an instance's garp delays from global_defs
    (`scope.globals`).
    """

    values: dict[str, Any]
    parent: Scope | None
    globals: Any  # the GlobalDefs being used; Any so that this module need not import the model
    name: str = ""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class Value(Generic[T]):
    """Parses the arguments of one statement, and formats a value back into them."""

    min_args: int = 1
    max_args: int | None = 1  # None: any number

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> T:
        raise NotImplementedError

    def format(self, value: T) -> str:
        raise NotImplementedError


LineParser = Callable[[Stmt, Cx], Any]
Inherit = Callable[[Scope], Any]


@dataclass(frozen=True)
class Kw:
    """The keywords that set one field, and how."""

    names: tuple[str, ...] = ()  # accepted keywords; the first is canonical (default: the field name)
    value: Value[Any] | None = None  # arguments of a plain statement
    block: type[Block] | Mapping[str, type[Block]] | None = None  # a `{ ... }` of keywords
    lines: LineParser | None = None  # a `{ ... }` whose every line is one item
    line_format: Callable[[Any], str] | None = None  # renders one item of `lines` back
    repeat: bool = False  # every statement adds to a tuple instead of replacing
    always: bool = False  # build the sub-block from an empty body when it is absent
    once: bool = False  # a repeat is an error and the first statement stands (keepalived's notify scripts)
    replaced_error: bool = False  # a repeat is an error and the last statement stands (the SSL block)
    catch_all: bool = False  # with `lines`: statements matching no keyword are items (virtual_server_group)
    inherit: Inherit | None = None  # computes the value when no statement sets it
    also: Mapping[str, Value[Any]] = field(default_factory=dict)  # other keywords setting the field
    deprecated: Mapping[str, str] = field(default_factory=dict)  # keyword -> advice, reported as warning

    def keywords(self) -> tuple[str, ...]:
        return self.names + tuple(self.also)


def kw(
    value: Value[Any],
    *,
    default: Any = None,
    names: tuple[str, ...] = (),
    inherit: Inherit | None = None,
    also: Mapping[str, Value[Any]] | None = None,
    deprecated: Mapping[str, str] | None = None,
    once: bool = False,
    replaced_error: bool = False,
) -> Any:
    """A keyword whose arguments set the field.

    A repeated keyword: the last one wins with a warning; with `once` the first
    stands and the others are errors; with `replaced_error` the last stands and
    the earlier ones are errors.
    """
    spec = Kw(
        names=names,
        value=value,
        inherit=inherit,
        also=also or {},
        deprecated=deprecated or {},
        once=once,
        replaced_error=replaced_error,
    )
    return field(default=default, metadata={"kw": spec})


def many(
    value: Value[Any], *, names: tuple[str, ...] = (), deprecated: Mapping[str, str] | None = None
) -> Any:
    """A keyword that may repeat; each statement adds one value to a tuple."""
    spec = Kw(names=names, value=value, repeat=True, deprecated=deprecated or {})
    return field(default=(), metadata={"kw": spec})


def block(cls: type[Block], *, names: tuple[str, ...] = (), default: Any = None, always: bool = False) -> Any:
    """A sub-block; repeated occurrences are merged, as keepalived does.

    With `always`, an absent block is built from nothing, so that its computed
    defaults exist (global_defs).
    """
    return field(default=default, metadata={"kw": Kw(names=names, block=cls, always=always)})


def blocks(
    cls: type[Block] | Mapping[str, type[Block]],
    *,
    names: tuple[str, ...] = (),
    deprecated: Mapping[str, str] | None = None,
) -> Any:
    """Repeatable sub-blocks collected into a tuple (vrrp_instance, real_server, checkers)."""
    spec = Kw(names=names, block=cls, repeat=True, deprecated=deprecated or {})
    return field(default=(), metadata={"kw": spec})


def lines(
    parser: LineParser,
    *,
    names: tuple[str, ...] = (),
    line_format: Callable[[Any], str] | None = None,
    deprecated: Mapping[str, str] | None = None,
) -> Any:
    """A block whose lines are items (virtual_ipaddress, track_script, unicast_peer)."""
    spec = Kw(names=names, lines=parser, line_format=line_format, repeat=True, deprecated=deprecated or {})
    return field(default=(), metadata={"kw": spec})


def items(parser: LineParser, *, line_format: Callable[[Any], str] | None = None) -> Any:
    """The lines of this block that are not keywords, as items (the addresses of a virtual_server_group)."""
    spec = Kw(names=(), lines=parser, line_format=line_format, repeat=True, catch_all=True)
    return field(default=(), metadata={"kw": spec})


def internal(default: Any = None) -> Any:
    """A field filled by the block's header or completion, not by a keyword."""
    return field(default=default)


@dataclass(frozen=True, kw_only=True)
class Block:
    """Base of every configuration block in the model."""

    loc: Loc = field(default=NOWHERE, compare=False, repr=False)
    # Where each field was set: field name -> location of the statement.
    locs: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False, hash=False)

    # The keyword(s) naming this block, for messages ("vrrp_instance VI_1").
    block_keyword: ClassVar[str] = ""

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        """Fields set by the arguments after the block keyword; None drops the block."""
        if stmt.args:
            cx.warning(stmt, f"'{stmt.keyword}' takes no arguments; '{' '.join(stmt.args)}' ignored")
        return {}

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        """Checks that need the whole block; may fix values, or return None to drop it."""
        return self

    def header_text(self) -> str:
        """The block's arguments, as written after its keyword (for dumps)."""
        return ""

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (locations are kept)."""
        return dataclasses.replace(self, **changes) if changes else self

    def where(self, name: str) -> Loc:
        """Location of the statement that set `name`, else of the block itself."""
        return self.locs.get(name, self.loc)


def name_header(kind: str) -> Any:
    """A block header taking exactly one name: `vrrp_script NAME {`."""

    def header(cls: type[Block], stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        if not stmt.args:
            cx.error(stmt, f"{kind} must have a name; block ignored")
            return None
        if len(stmt.args) > 1:
            cx.warning(stmt, f"{kind} {stmt.args[0]}: extra words '{' '.join(stmt.args[1:])}' ignored")
        return {"name": stmt.args[0]}

    return classmethod(header)


def kw_of(f: dataclasses.Field[Any]) -> Kw | None:
    spec = f.metadata.get("kw")
    return spec if isinstance(spec, Kw) else None


def field_keywords(f: dataclasses.Field[Any], spec: Kw) -> tuple[str, ...]:
    """Canonical keyword first, then its aliases."""
    return spec.names or (f.name,)
