"""Statements and blocks: the shape of a configuration before any keyword has meaning."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from conf.diagnostics import Diagnostics, Loc
from conf.lexer import BRACE_CLOSE, BRACE_OPEN, split_statement
from conf.preprocess import SourceLine


@dataclass(frozen=True)
class Stmt:
    """One statement: `keyword arg...`, optionally followed by a `{ ... }` block."""

    words: tuple[str, ...]
    loc: Loc
    raw: str  # the statement's text, for keywords that split it with quotes and escapes
    block: tuple[Stmt, ...] | None = None
    end: Loc | None = None  # where the block's '}' is (keepalived reports block-end problems there)

    @property
    def keyword(self) -> str:
        return self.words[0]

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]

    @property
    def raw_args(self) -> str:
        """The raw text after the keyword (the keyword may be quoted, or touch a quote: `regex"x"`)."""
        raw = self.raw.lstrip()
        for written in (self.keyword, f'"{self.keyword}"'):
            if raw.startswith(written):
                return raw[len(written) :].lstrip()
        parts = raw.split(None, 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass
class _Open:
    words: tuple[str, ...]
    loc: Loc
    raw: str
    children: list[Stmt] = field(default_factory=list)
    anonymous: bool = False  # a '{' with no keyword: its contents belong to the parent

    def close(self, end: Loc | None) -> Stmt:
        return Stmt(self.words, self.loc, self.raw, tuple(self.children), end)


def build_tree(lines: Iterable[SourceLine], diags: Diagnostics) -> tuple[Stmt, ...]:
    """Group statements into blocks. Unbalanced braces are reported, never fatal."""
    root = _Open(("",), Loc("", 0), "")
    stack: list[_Open] = [root]
    # The last statement can still take a block whose '{' starts the next line.
    last: Stmt | None = None
    for line in lines:
        for segment in split_statement(line.text):
            top = stack[-1]
            if segment.brace == BRACE_OPEN:
                if last is not None and last.block is None and top.children and top.children[-1] is last:
                    top.children.pop()
                    stack.append(_Open(last.words, last.loc, last.raw))
                else:
                    diags.error(line.loc, "unexpected '{' with no keyword before it")
                    stack.append(_Open(("",), line.loc, "", anonymous=True))
                last = None
            elif segment.brace == BRACE_CLOSE:
                last = None
                if len(stack) == 1:
                    diags.error(line.loc, "unexpected '}' with no block open")
                    continue
                closed = stack.pop()
                if closed.anonymous:
                    stack[-1].children.extend(closed.children)
                else:
                    stack[-1].children.append(closed.close(line.loc))
            else:
                if not segment.words:
                    continue
                stmt = Stmt(segment.words, line.loc, segment.raw)
                top.children.append(stmt)
                last = stmt
    while len(stack) > 1:
        unclosed = stack.pop()
        if unclosed.anonymous:
            diags.error(unclosed.loc, "'{' opened here is never closed")
            stack[-1].children.extend(unclosed.children)
        else:
            diags.error(unclosed.loc, f"block '{' '.join(unclosed.words)}' opened here is never closed")
            stack[-1].children.append(unclosed.close(None))
    return tuple(root.children)
