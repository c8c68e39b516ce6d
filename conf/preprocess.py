"""The keepalived.conf preprocessor: includes, `@id` lines, `$NAME` parameters, `~SEQ` and `~LST`.

It turns files into a stream of logical lines, each tagged with the file and
line it came from. Expanded lines (from parameters and sequences) keep the
location of the line that produced them, which is where keepalived reports
them too. Nothing here raises for bad input: problems become diagnostics.
"""

from __future__ import annotations

import glob
import os
import random
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from conf.diagnostics import Diagnostics, Loc
from conf.lexer import decomment, split_words

INCLUDE_KEYWORDS = ("include", "includer", "includem", "includew", "includeb", "includea")

# include_check bits, as keepalived names them.
CHECK_READABLE = 1
CHECK_MATCH = 2
CHECK_WILDCARD = 4
CHECK_BRACE = 8
CHECK_ALL = CHECK_READABLE | CHECK_MATCH | CHECK_WILDCARD | CHECK_BRACE
_CHECK_NAMES = {
    "read": CHECK_READABLE,  # keepalived's spelling; the man page says "readable"
    "readable": CHECK_READABLE,
    "match": CHECK_MATCH | CHECK_READABLE,
    "wildcard_match": CHECK_WILDCARD | CHECK_READABLE,
    "brace_match": CHECK_BRACE | CHECK_READABLE,
}
_INCLUDE_VARIANT_CHECKS = {
    "include": 0,
    "includer": CHECK_READABLE,
    "includem": CHECK_MATCH | CHECK_READABLE,
    "includew": CHECK_WILDCARD | CHECK_READABLE,
    "includeb": CHECK_BRACE | CHECK_READABLE,
    "includea": CHECK_ALL,
}

# Bounds that keep hostile or mistaken input from running away.
MAX_INCLUDE_DEPTH = 32
MAX_SUBSTITUTIONS_PER_LINE = 10_000
MAX_LINE_LENGTH = 1_000_000
MAX_EXPANSION_DEPTH = 64
MAX_SEQUENCE_VALUES = 1_000_000

_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]*")
_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class SourceLine:
    text: str
    loc: Loc


@dataclass
class Definition:
    name: str
    value: str = ""
    multiline: bool = False
    # Built-in definitions compute their value when used; the argument is the
    # optional "${_RANDOM MIN MAX}" parameter text.
    compute: Callable[[str], str] | None = None
    takes_params: bool = False


@dataclass
class _FileState:
    display: str  # the name used in diagnostics
    directory: str  # directory of the file: relative includes and ${_PWD} use it
    pending: Definition | None = None  # multi-line definition being collected
    include_check: int = 0


@dataclass
class Preprocessor:
    diags: Diagnostics
    config_id: str
    random_seed: int | None = None
    definitions: dict[str, Definition] = field(default_factory=dict)
    files_read: list[str] = field(default_factory=list)
    _stack: list[str] = field(default_factory=list)  # real paths being read, for loop detection
    _file: _FileState | None = None
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.random_seed is not None:
            self._rng.seed(self.random_seed)
        self._define_builtins()

    # ------------------------------------------------------------------ files

    def read(self, path: str) -> Iterator[SourceLine]:
        """Logical lines of the main configuration file and everything it includes."""
        try:
            st = os.stat(path)
        except OSError as exc:
            self.diags.fatal(Loc(path, 0), f"cannot open configuration file: {exc.strerror}")
            return
        if stat.S_ISDIR(st.st_mode):
            self.diags.fatal(Loc(path, 0), "configuration file is a directory")
            return
        yield from self._read_file(path, path, include_check=0)

    def _read_file(self, path: str, display: str, include_check: int) -> Iterator[SourceLine]:
        real = os.path.realpath(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            self.diags.fatal(Loc(display, 0), f"cannot read configuration file: {exc.strerror}")
            return
        self.files_read.append(display)
        outer = self._file
        self._stack.append(real)
        self._file = _FileState(display, os.path.dirname(os.path.abspath(path)), include_check=include_check)
        try:
            text = data.decode("utf-8", errors="surrogateescape")
            for number, physical in enumerate(text.split("\n"), start=1):
                yield from self._physical_line(physical.rstrip("\r"), Loc(display, number))
            self._finish_pending()
        finally:
            self._file = outer
            self._stack.pop()

    def _physical_line(self, physical: str, loc: Loc) -> Iterator[SourceLine]:
        state = self._require_file()
        if "\0" in physical:
            self.diags.error(loc, "line contains a NUL byte; line ignored")
            return
        cleaned = decomment(physical)
        if cleaned.unterminated_quote:
            self.diags.error(loc, "unterminated quote")
        text = cleaned.text
        if state.pending is not None:
            self._continue_definition(state, text, cleaned.continued)
            return
        if text:
            yield from self._logical_line(text, loc, depth=0, from_file=True)

    def _continue_definition(self, state: _FileState, text: str, continued: bool) -> None:
        pending = state.pending
        assert pending is not None
        if not text:
            # A blank line ends a multi-line definition.
            self._finish_pending()
            return
        if continued:
            body = text[:-1].rstrip(" \t")
            if body:
                pending.value += body + "\n"
            return
        pending.value += text
        self._finish_pending()

    def _finish_pending(self) -> None:
        state = self._file
        if state is None or state.pending is None:
            return
        if not state.pending.value:
            state.pending.multiline = False
        state.pending = None

    def _require_file(self) -> _FileState:
        assert self._file is not None, "preprocessor used outside a file"
        return self._file

    # ---------------------------------------------------------- logical lines

    def _logical_line(self, text: str, loc: Loc, depth: int, from_file: bool = False) -> Iterator[SourceLine]:
        if depth > MAX_EXPANSION_DEPTH:
            self.diags.error(loc, "parameter or sequence expansion nested too deeply; line ignored")
            return
        text = text.strip(" \t")
        if not text:
            return
        if text.startswith("@"):
            kept = self._conditional(text)
            if kept is None:
                return
            text = kept
        if text.startswith("$"):
            definition = self._definition(text)
            if definition is not None:
                if definition.multiline and from_file:
                    self._require_file().pending = definition
                return
        if text.startswith("~SEQ"):
            yield from self._sequence(text, loc, depth)
            return
        if text.startswith("~LST"):
            yield from self._list(text, loc, depth)
            return
        if "$" in text and not text.startswith("~"):
            expanded = self._substitute(text, loc)
            if expanded is not None:
                for line in expanded:
                    yield from self._logical_line(line, loc, depth + 1)
                return
        yield from self._maybe_include(text, loc)

    def _conditional(self, text: str) -> str | None:
        """Apply `@ID rest` / `@^ID rest`; None drops the line."""
        negate = text.startswith("@^")
        offset = 2 if negate else 1
        match = re.search(r"[ \t]", text[offset:])
        if match is None:
            return None
        ident = text[offset : offset + match.start()]
        if (ident == self.config_id) == negate:
            return None
        return text[offset + match.start() :].lstrip(" \t")

    def _definition(self, text: str) -> Definition | None:
        match = _DEFINITION.match(text)
        if match is None:
            return None
        name, value = match.group(1), match.group(2)
        definition = self.definitions.get(name)
        if definition is None or definition.compute is not None:
            definition = Definition(name)
            self.definitions[name] = definition
        definition.multiline = False
        definition.value = value
        if value.endswith("\\") and not value.endswith("\\\\"):
            body = value[:-1].rstrip(" \t")
            definition.value = body + "\n" if body else ""
            definition.multiline = True
        return definition

    # ----------------------------------------------------------- substitution

    def _substitute(self, text: str, loc: Loc) -> list[str] | None:
        """Replace `$NAME` and `${NAME}`; returns None when nothing was replaced.

        Replacement text is scanned again, so definitions may refer to other
        definitions; a multi-line definition at the end of a line expands to
        several lines.
        """
        rest: list[str] = []
        pos = 0
        count = 0
        while True:
            dollar = text.find("$", pos)
            if dollar < 0 or dollar == len(text) - 1:
                break
            found = self._find_use(text, dollar)
            if found is None:
                pos = dollar + 1
                continue
            definition, end, params = found
            count += 1
            if count > MAX_SUBSTITUTIONS_PER_LINE or len(text) > MAX_LINE_LENGTH:
                self.diags.error(loc, f"expansion of ${definition.name} does not terminate; line ignored")
                return []
            if definition.multiline:
                first, _, remainder = definition.value.partition("\n")
                text = text[:dollar] + first
                rest = remainder.split("\n") + rest if remainder else rest
                pos = dollar
                continue
            value = definition.compute(params) if definition.compute else definition.value
            text = text[:dollar] + value + text[end:]
            pos = dollar
            if value.lstrip(" \t").startswith("~"):
                break
        if count == 0:
            return None
        return [text, *rest]

    def _find_use(self, text: str, dollar: int) -> tuple[Definition, int, str] | None:
        """The definition used at text[dollar], the end of the use, and its parameter text."""
        i = dollar + 1
        braces = text[i] == "{"
        if braces:
            i += 1
        if i >= len(text) or not _NAME_START.match(text[i]):
            return None
        name_match = _NAME_CHARS.match(text, i + 1)
        assert name_match is not None
        name_end = name_match.end()
        name = text[i:name_end]
        params = ""
        if braces:
            j = name_end
            while j < len(text) and (text[j] == " " or text[j].isdigit()):
                j += 1
            params = text[name_end:j]
            if params and params != params.rstrip(" "):
                return None
            if j >= len(text) or text[j] != "}":
                return None
            end = j + 1
        else:
            if name_end < len(text) and text[name_end] not in " \t,)":
                return None
            end = name_end
        definition = self.definitions.get(name)
        if definition is None:
            return None
        if definition.multiline and end != len(text):
            return None
        if params.strip() and not definition.takes_params:
            return None
        return definition, end, params.strip()

    def _define_builtins(self) -> None:
        def builtin(name: str, compute: Callable[[str], str], takes_params: bool = False) -> None:
            self.definitions[name] = Definition(name, compute=compute, takes_params=takes_params)

        builtin("_PWD", lambda _params: self._file.directory if self._file else os.getcwd())
        builtin("_INSTANCE", lambda _params: self.config_id)
        builtin("_HASH", lambda _params: "#")
        builtin("_BANG", lambda _params: "!")
        builtin("_RANDOM", self._random, takes_params=True)

    def _random(self, params: str) -> str:
        bounds = [int(p) for p in params.split()][:2]
        low = bounds[0] if bounds else 0
        high = bounds[1] if len(bounds) > 1 else 32767
        if high < low:
            low, high = high, low
        return str(self._rng.randint(low, high))

    # -------------------------------------------------------------- sequences

    def _sequence(self, text: str, loc: Loc, depth: int) -> Iterator[SourceLine]:
        parsed = self._parse_sequence(text, loc)
        if parsed is None:
            return
        var, values, rest = parsed
        for value in values:
            self.definitions[var] = Definition(var, value)
            yield from self._logical_line(rest, loc, depth + 1)

    def _parse_sequence(self, text: str, loc: Loc) -> tuple[str, list[str], str] | None:
        hexadecimal = text.startswith("~SEQx")
        body = text[5 if hexadecimal else 4 :].lstrip(" \t")
        close = body.find(")")
        if not body.startswith("(") or close < 0:
            self.diags.error(loc, f"invalid ~SEQ specification '{text}'")
            return None
        inner = body[1:close]
        rest = body[close + 1 :].lstrip(" \t")
        var, comma, numbers = inner.partition(",")
        var = var.strip(" \t")
        if not comma or not var or re.search(r"[ \t]", var):
            self.diags.error(loc, f"invalid ~SEQ definition '{text}'")
            return None
        expanded = self._substitute(numbers, loc)
        if expanded is not None:
            if len(expanded) > 1:
                self.diags.error(loc, f"~SEQ parameter is a multiline definition '{text}'")
                return None
            numbers = expanded[0]
        try:
            parts = [_c_long(p) for p in numbers.split(",")]
        except ValueError:
            self.diags.error(loc, f"invalid ~SEQ definition '{text}'")
            return None
        if len(parts) == 1:
            end = parts[0]
            start, step = (-1 if end < 0 else 1), (-1 if end < 1 else 1)
        elif len(parts) == 2:
            start, end = parts
            step = 1 if start <= end else -1
        elif len(parts) == 3:
            start, step, end = parts
            if step == 0 or (start < end and step < 0) or (start > end and step > 0):
                self.diags.error(loc, f"invalid ~SEQ values '{text}'")
                return None
        else:
            self.diags.error(loc, f"invalid ~SEQ definition '{text}'")
            return None
        if hexadecimal and (start < 0 or end < 0):
            self.diags.error(loc, f"~SEQx is only valid for positive numbers '{text}'")
            return None
        count = (end - start) // step + 1
        if count > MAX_SEQUENCE_VALUES:
            self.diags.error(loc, f"~SEQ would produce {count} lines, more than {MAX_SEQUENCE_VALUES}")
            return None
        stop = end + (1 if step > 0 else -1)
        values = [format(v, "x") if hexadecimal else str(v) for v in range(start, stop, step)]
        return var, values, rest

    def _list(self, text: str, loc: Loc, depth: int) -> Iterator[SourceLine]:
        parsed = _parse_list(text[4:])
        if parsed is None:
            self.diags.error(loc, f"invalid ~LST specification '{text}'")
            return
        names, value_sets, rest = parsed
        for value_set in value_sets:
            for name, value in zip(names, value_set, strict=True):
                self.definitions[name] = Definition(name, value)
            yield from self._logical_line(rest, loc, depth + 1)

    # --------------------------------------------------------------- includes

    def _maybe_include(self, text: str, loc: Loc) -> Iterator[SourceLine]:
        first = text.split(None, 1)
        if not first:
            return  # only whitespace that keepalived's blank-stripping does not remove (\v, \f)
        keyword = first[0]
        if keyword == "include_check":
            self._set_include_check(text)
        if keyword not in INCLUDE_KEYWORDS:
            yield SourceLine(text, loc)
            return
        words = split_words(text)
        if len(words) != 2:
            self.diags.error(loc, f"'{keyword}' takes exactly one file name or pattern")
            return
        yield from self._include(words[1], _INCLUDE_VARIANT_CHECKS[keyword], loc)

    def _set_include_check(self, text: str) -> None:
        state = self._require_file()
        options = text.split()[1:]
        if not options:
            state.include_check = CHECK_ALL
            return
        for option in options:
            sign = option[0] if option[0] in "+-" else ""
            bits = _CHECK_NAMES.get(option.lstrip("+-"), 0)
            if sign == "-":
                state.include_check &= ~bits
            else:
                state.include_check |= bits

    def _include(self, pattern: str, variant_checks: int, loc: Loc) -> Iterator[SourceLine]:
        state = self._require_file()
        checks = state.include_check | variant_checks
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self.diags.error(loc, f"includes nested more than {MAX_INCLUDE_DEPTH} deep; '{pattern}' skipped")
            return
        full_pattern = pattern if os.path.isabs(pattern) else os.path.join(state.directory, pattern)
        display_base = os.path.dirname(state.display)
        matched = False
        has_wildcard = any(c in pattern for c in "*?[")
        has_brace = "{" in pattern
        for alternative in expand_braces(full_pattern):
            paths = sorted(glob.glob(alternative)) if any(c in alternative for c in "*?[") else (
                [alternative] if os.path.lexists(alternative) else []
            )
            if not paths and has_brace and not has_wildcard:
                self._include_problem(
                    loc, checks & CHECK_BRACE, f"include '{pattern}': '{alternative}' does not exist"
                )
            for path in paths:
                matched = True
                display = path if os.path.isabs(pattern) else os.path.normpath(
                    os.path.join(display_base, os.path.relpath(path, state.directory))
                )
                yield from self._include_one(path, display, checks, loc)
        if not matched:
            if has_wildcard:
                self._include_problem(loc, checks & CHECK_WILDCARD, f"include '{pattern}' matched no files")
            else:
                self._include_problem(loc, checks & CHECK_MATCH, f"include '{pattern}': no such file")

    def _include_one(self, path: str, display: str, checks: int, loc: Loc) -> Iterator[SourceLine]:
        try:
            st = os.stat(path)
        except OSError as exc:
            self._include_problem(loc, checks & CHECK_READABLE, f"include '{display}': {exc.strerror}")
            return
        if not stat.S_ISREG(st.st_mode) or st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            self._include_problem(
                loc, checks & CHECK_READABLE, f"include '{display}' is not a regular non-executable file; skipped"
            )
            return
        real = os.path.realpath(path)
        if real in self._stack:
            chain = " -> ".join([*(os.path.basename(p) for p in self._stack), os.path.basename(real)])
            self.diags.error(loc, f"include loop: {chain}; '{display}' skipped")
            return
        if not os.access(path, os.R_OK):
            self._include_problem(loc, checks & CHECK_READABLE, f"include '{display}' is not readable")
            return
        yield from self._read_file(path, display, self._require_file().include_check)

    def _include_problem(self, loc: Loc, is_error: int, message: str) -> None:
        if is_error:
            self.diags.error(loc, message)
        else:
            self.diags.warning(loc, message)


def expand_braces(pattern: str) -> list[str]:
    """csh-style brace expansion, as glob(3) does with GLOB_BRACE: a{b,c}d -> abd, acd."""
    depth = 0
    open_at = -1
    for i, ch in enumerate(pattern):
        if ch == "\\":
            continue
        if ch == "{":
            if depth == 0:
                open_at = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                head, body, tail = pattern[:open_at], pattern[open_at + 1 : i], pattern[i + 1 :]
                alternatives = _split_top_level(body)
                return [x for alt in alternatives for x in expand_braces(head + alt + tail)]
    return [pattern]


def _split_top_level(body: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


_C_LONG = re.compile(r"[ \t]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[ \t]*\Z")


def _c_long(text: str) -> int:
    """Parse an integer as strtol(..., 0) does: 0x hex, leading-0 octal, decimal."""
    match = _C_LONG.match(text)
    if match is None:
        raise ValueError(text)
    sign, digits = match.groups()
    if digits.lower().startswith("0x"):
        value = int(digits, 16)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def _parse_list(spec: str) -> tuple[list[str], list[list[str]], str] | None:
    """Parse `(var, v1, v2)` or `({a, b}, {1, 2}, {3, 4})` followed by the text to repeat."""
    spec = spec.lstrip(" \t")
    if not spec.startswith("("):
        return None
    pos = 1
    groups: list[list[str]] = []
    while True:
        while pos < len(spec) and spec[pos] in " \t":
            pos += 1
        if pos >= len(spec):
            return None
        if spec[pos] == "{":
            close = spec.find("}", pos)
            if close < 0:
                return None
            groups.append([item.strip(" \t") for item in spec[pos + 1 : close].split(",")])
            pos = close + 1
        else:
            match = re.compile(r"[^,)]*").match(spec, pos)
            assert match is not None
            groups.append([match.group(0).strip(" \t")])
            pos = match.end()
        while pos < len(spec) and spec[pos] in " \t":
            pos += 1
        if pos >= len(spec):
            return None
        if spec[pos] == ")":
            break
        if spec[pos] != ",":
            return None
        pos += 1
    names, value_sets = groups[0], groups[1:]
    if not value_sets or not all(names) or any(re.search(r"[ \t]", n) for n in names):
        return None
    padded: list[list[str]] = []
    for values in value_sets:
        if len(values) > len(names):
            return None
        padded.append(values + [""] * (len(names) - len(values)))
    return names, padded, spec[pos + 1 :].lstrip(" \t")
