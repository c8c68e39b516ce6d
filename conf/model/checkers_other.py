"""SMTP_CHECK, MISC_CHECK, FILE_CHECK and BFD_CHECK (keepalived/check/check_smtp.c, check_misc.c,
check_file.c, check_bfd.c, 2.2.7).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.diagnostics import Diagnostics
from conf.model.checker_base import (
    _CONNECTION_FIELDS,
    BFD_NAME_MAX,
    INT_MAX,
    TIMER_HZ,
    TIMER_MAX_US,
    UINT_MAX,
    Checker,
    Connection,
    ConnectionChecker,
    OneWord,
    TimedChecker,
    Timer,
    _warmup_default,
    inherited,
    script_env_refs,
)
from conf.model.checker_http import HttpGet, SslGet, encode_command_word
from conf.model.checkers import DnsCheck, PingCheck, TcpCheck, UdpCheck
from conf.model.common import EnvRef
from conf.model.trackers import Weight
from conf.schema import NOWHERE, ArgError, Cx, Scope, Value, blocks, kw
from conf.tree import Stmt
from conf.values import (
    Bool,
    Flag,
    Int,
    Script,
    ScriptValue,
    Str,
    UserGroup,
    parse_int,
    quote,
)

# ------------------------------------------------------------------ SMTP

SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
_TIMING_FIELDS = ("alpha", "delay_loop", "retry", "delay_before_retry", "warmup", "log_all_failures")


@dataclass(frozen=True, kw_only=True)
class SmtpHost(Connection):
    """The deprecated `host { }` of SMTP_CHECK: one more connection, checked like a separate checker.

    keepalived applies timing keywords written here to the whole SMTP_CHECK; they are
    collected here and moved to the checker when it completes.
    """

    block_keyword = "host"

    alpha: bool | None = kw(Bool())
    delay_loop: float | None = kw(Timer(1, TIMER_MAX_US))
    retry: int | None = kw(Int(0, UINT_MAX))
    delay_before_retry: float | None = kw(Timer(0, TIMER_MAX_US))
    warmup: float | None = kw(Timer(0, TIMER_MAX_US))
    log_all_failures: bool | None = kw(Bool())

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        return self.checked_connection(cx, scope)


@dataclass(frozen=True, kw_only=True)
class SmtpCheck(ConnectionChecker):
    """SMTP_CHECK. After completion `host` holds the extra connections, each of which the
    real server turns into an SMTP_CHECK of its own, as keepalived does."""

    block_keyword = "SMTP_CHECK"

    helo_name: str = kw(Str(), default=SMTP_DEFAULT_HELO)
    host: tuple[SmtpHost, ...] = blocks(
        SmtpHost, names=("host",), deprecated={"host": "define one SMTP_CHECK per connection instead"}
    )

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        checker = self._with_host_timings(scope)
        timed = TimedChecker.complete(checker, cx, scope)
        if timed is None:
            return None
        checker = timed
        extra = checker.host
        top_level = any(name in self.locs for name in _CONNECTION_FIELDS)
        if top_level or not extra:
            checked = checker.checked_connection(cx, scope)
            if checked is None:
                return None
            checker = checked
        else:
            # Without connection keywords of its own, the checker takes the first host's.
            checker = checker.replace(**extra[0].connection())
            extra = extra[1:]
        return checker.replace(host=tuple(h.replace(**dict.fromkeys(_TIMING_FIELDS)) for h in extra))

    def _with_host_timings(self, scope: Scope) -> Self:
        changes: dict[str, Any] = {}
        for name in _TIMING_FIELDS:
            written = [(self.where(name), getattr(self, name))] if name in self.locs else []
            written += [(h.where(name), getattr(h, name)) for h in self.host if getattr(h, name) is not None]
            if written:
                changes[name] = max(written, key=lambda item: item[0])[1]
        if "delay_loop" in changes and "warmup" not in changes and "warmup" not in self.locs:
            # The default warmup is the checker's delay_loop, which has just changed.
            changes["warmup"] = _warmup_default(Scope({"delay_loop": changes["delay_loop"]}, scope.parent, None))
        return self.replace(**changes)

    def split_hosts(self) -> tuple[SmtpCheck, ...]:
        """This checker and one more for each remaining host connection."""
        own = self.replace(host=())
        return (own, *(own.replace(**h.connection(), locs={**self.locs, **h.locs}) for h in self.host))


# ------------------------------------------------------------------ MISC


_SCRATCH = Cx(Diagnostics(), "")  # for re-reading a formatted command; it reports nothing


class MiscPath(ScriptValue):
    """`misc_path COMMAND...`; the user comes from MISC_CHECK's own `user` keyword."""

    def __init__(self) -> None:
        super().__init__(with_user=False)

    def format(self, value: Script) -> str:
        # `text` is the first word as written, or all the words when there were several:
        # write whichever reads back to the same command.
        for candidate in (quote(value.text), value.text, encode_command_word(value.text)):
            if not candidate.isprintable():
                continue  # a control character would break the line
            try:
                again = self.parse((), Stmt(("misc_path", candidate), NOWHERE, f"misc_path {candidate}"), _SCRATCH)
            except ArgError:
                continue
            if (again.text, again.argv) == (value.text, value.argv):
                return candidate
        return quote(value.text)


@dataclass(frozen=True, kw_only=True)
class MiscCheck(TimedChecker):
    block_keyword = "MISC_CHECK"

    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 0))
    misc_path: Script | None = kw(MiscPath())
    misc_timeout: int = kw(Int(0, UINT_MAX // TIMER_HZ), default=0)  # seconds; 0: the virtual server's delay_loop
    misc_dynamic: bool = kw(Flag(accepts_bool=False), default=False)
    user: tuple[str, str | None] | None = kw(UserGroup())

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.misc_path is None:
            cx.error(self.loc, "No script path has been specified for MISC_CHECKER - skipping")
            return None
        checker = super().complete(cx, scope)
        if checker is not None and self.user is not None:
            # The script runs as `user`; the script object says so, like other scripts' do.
            path = self.misc_path
            checker = checker.replace(misc_path=Script(path.text, path.argv, self.user[0], self.user[1]))
        return checker

    def env_refs(self) -> Iterator[EnvRef]:
        # Completion has put `user` into the script.
        if self.misc_path is not None:
            yield from script_env_refs(self.misc_path, self.where("misc_path"), "misc_path of MISC_CHECK")


# ------------------------------------------------------------------ FILE


class FileWeight(Value[Weight]):
    """`weight N [reverse|noreverse]`: the multiplier of the tracked file's value."""

    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Weight:
        try:
            value = parse_int(args[0], -INT_MAX, INT_MAX)
        except ArgError as exc:
            raise ArgError(f"{exc.message}; weight for track file must be in [{-INT_MAX}..{INT_MAX}]") from None
        reverse = False
        if len(args) > 1:
            if args[1] not in ("reverse", "noreverse"):
                raise ArgError(f"unknown track file weight option {args[1]}")
            reverse = args[1] == "reverse"
        return Weight(value, reverse)

    def format(self, value: Weight) -> str:
        return f"{value.value}{' reverse' if value.reverse else ''}"


@dataclass(frozen=True, kw_only=True)
class FileCheck(Checker):
    """FILE_CHECK: the real server's weight follows a track_file's value."""

    block_keyword = "FILE_CHECK"

    track_file: str | None = kw(Str())
    weight: Weight | None = kw(FileWeight())  # None until validation copies the track_file's own
    # Documented since 2.2.7 but only parsed by later releases; 2.2.x calls it an unknown keyword.
    dynamic: bool = kw(Flag(accepts_bool=False), default=False)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.track_file is None:
            cx.error(self.loc, "FILE_CHECK has no track_file specified - ignoring")
            return None
        if self.dynamic:
            cx.warning(
                self.where("dynamic"), "FILE_CHECK 'dynamic' is not known to keepalived 2.2 (an unknown keyword there)"
            )
        return self


# ------------------------------------------------------------------ BFD


@dataclass(frozen=True, kw_only=True)
class BfdCheck(Checker):
    """BFD_CHECK: the real server follows a bfd_instance's state."""

    block_keyword = "BFD_CHECK"

    name: str | None = kw(OneWord("BFD_CHECK name"), once=True)
    alpha: bool = kw(Bool(), inherit=inherited("alpha", False))

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.name is None:
            cx.error(self.loc, "No name has been specified for BFD_CHECKER - skipping")
            return None
        if len(self.name) >= BFD_NAME_MAX:
            cx.error(
                self.where("name"),
                f"BFD_CHECK - BFD name {self.name} too long (at most {BFD_NAME_MAX - 1} characters) - skipping checker",
            )
            return None
        return self


CHECKER_TYPES: Mapping[str, type[Checker]] = {
    cls.block_keyword: cls
    for cls in (TcpCheck, HttpGet, SslGet, SmtpCheck, MiscCheck, DnsCheck, PingCheck, UdpCheck, FileCheck, BfdCheck)
}
