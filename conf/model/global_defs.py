"""global_defs, and the other global blocks: linkbeat_interfaces, interface_up_down_delays,
track_group and garp_group.

Keywords, ranges, defaults and messages follow keepalived/core/global_parser.c,
keepalived/core/global_data.c and keepalived/vrrp/vrrp_parser.c (2.2.7). Where
2.2.7 has an obvious bug the intended behaviour is used instead; docs/compatibility.md
lists each case.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from conf.diagnostics import Loc, Severity
from conf.model.common import EnvRef, NameRef, check_ifname, format_name_ref, parse_name_refs
from conf.schema import (
    NOWHERE,
    ArgError,
    Block,
    Cx,
    Inherit,
    Scope,
    Value,
    kw,
    lines,
    many,
)
from conf.tree import Stmt
from conf.values import (
    AtLeastOne,
    Bool,
    Decimal,
    Flag,
    Int,
    IPAddress,
    Script,
    ScriptValue,
    Str,
    UserGroup,
    Words,
    format_units,
    parse_c_unsigned,
    parse_int,
    parse_ip_text,
    quote,
)

if TYPE_CHECKING:
    from conf.model.addresses import StaticAddress
    from conf.model.bfd import BfdInstance
    from conf.model.config import Config

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
TIMER_MAX_SECONDS = UINT_MAX // 1_000_000  # keepalived keeps timers in microseconds in an unsigned int
TASK_COMM_LEN = 16  # the kernel's limit on a process name, with its NUL
CPU_SETSIZE = 1024  # glibc's cpu_set_t; keepalived's real limit is the CPUs online on the machine
NFT_TABLE_MAXNAMELEN = 256
PATH_MAX = 4096
IP_VS_IFNAME_MAXLEN = 16


# ---------------------------------------------------------------------------------------------
# Values specific to global_defs


class ProcessName(Value[str]):
    """A process name; the kernel keeps at most 15 bytes, so keepalived truncates."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        name = args[0]
        raw = name.encode("utf-8", "surrogateescape")
        if len(raw) >= TASK_COMM_LEN:
            name = raw[: TASK_COMM_LEN - 1].decode("utf-8", "ignore")
            cx.error(stmt, f"process name {args[0]} more than {TASK_COMM_LEN - 1} characters, truncating to {name}")
        return name

    def format(self, value: str) -> str:
        return quote(value)


@dataclass(frozen=True)
class SmtpServer:
    host: str  # an IP address or a host name (keepalived resolves names when it reads the file)
    port: int = 25


_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?\Z")


class SmtpServerValue(Value[SmtpServer]):
    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> SmtpServer:
        host = args[0]
        port_text = args[1] if len(args) > 1 else "25"
        try:
            port = parse_int(port_text, 1, 65535)
        except ArgError as exc:
            raise ArgError(f"invalid smtp server {host} {port_text}: port {exc.message}") from None
        address = parse_ip_text(host)
        if address is not None:
            return SmtpServer(str(address), port)
        if not _HOSTNAME.match(host):
            raise ArgError(f"invalid smtp server {host} {port_text}")
        return SmtpServer(host, port)

    def format(self, value: SmtpServer) -> str:
        return value.host if value.port == 25 else f"{value.host} {value.port}"


class ResetOnError(Value[int]):
    """A number whose bad value resets the setting to `reset` instead of keeping it.

    keepalived does this for vrrp_garp_master_refresh, the nice priorities and the
    real-time rlimits.
    """

    def __init__(self, low: int, high: int, reset: int, message: str) -> None:
        self.low = low
        self.high = high
        self.reset = reset
        self.message = message

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        try:
            return parse_int(args[0], self.low, self.high)
        except ArgError as exc:
            cx.error(stmt, f"{self.message.format(args[0])} ({exc.message}); setting to {self.reset}")
            return self.reset

    def format(self, value: int) -> str:
        return str(value)


class RtLimit(ResetOnError):
    """`*_rlimit_rttime USECS`: 1 becomes 2, because keepalived halves it and needs a non-zero result."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        value = super().parse(args, stmt, cx)
        return 2 if value == 1 else value


class RealtimePriority(Value[int]):
    """A SCHED_RR priority: any integer, clamped to [1, 99] with an error."""

    def __init__(self, process: str) -> None:
        self.process = process

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        try:
            value = parse_int(args[0], -(2**31), INT_MAX)
        except ArgError:
            raise ArgError(f"{self.process} process real-time priority '{args[0]}' invalid") from None
        if value < 1:
            cx.error(stmt, f"{self.process} process real-time priority {value} less than minimum 1 - "
                           "setting to minimum")
            return 1
        if value > 99:
            cx.error(stmt, f"{self.process} process real-time priority {value} greater than maximum 99 - "
                           "setting to maximum")
            return 99
        return value

    def format(self, value: int) -> str:
        return str(value)


class CpuAffinity(Value[tuple[int, ...] | None]):
    """`CPU [CPU...]`; one bad CPU clears the whole set, as keepalived does."""

    max_args = None

    def __init__(self, process: str) -> None:
        self.process = process

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[int, ...] | None:
        cpus: list[int] = []
        for word in args:
            try:
                cpus.append(parse_int(word, 0, CPU_SETSIZE - 1))
            except ArgError as exc:
                cx.error(stmt, f"invalid cpu_id {word} specified for {self.process} process ({exc.message}); "
                               "using all CPUs")
                return None
        return tuple(sorted(set(cpus)))

    def format(self, value: tuple[int, ...] | None) -> str:
        return " ".join(str(cpu) for cpu in value or ())


class MaxAutoPriority(Value[int]):
    """`max_auto_priority [N]`; alone it means the highest SCHED_RR priority."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        if not args:
            return 99
        try:
            return parse_int(args[0], -1, 99)
        except ArgError:
            raise ArgError(f"max_auto_priority '{args[0]}' must be in [0, 99] (or -1 to disable)") from None

    def format(self, value: int) -> str:
        return str(value)


class McastGroup(Value[IPAddress]):
    """A VRRP multicast group; like keepalived, anything after '/' or '-' is dropped."""

    def __init__(self, version: int) -> None:
        self.version = version

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> IPAddress:
        text = re.split(r"[/-]", args[0], maxsplit=1)[0]
        address = parse_ip_text(text)
        if address is None:
            raise ArgError(f"can't parse {stmt.keyword} [{args[0]}]")
        if address.version != self.version:
            raise ArgError(f"{stmt.keyword} [{args[0]}] is not IPv{self.version}")
        if not address.is_multicast:
            raise ArgError(f"{stmt.keyword} [{args[0]}] is not multicast")
        if self.version == 6 and (int(address) >> 112) & 0xF != 2:
            cx.error(stmt, f"{stmt.keyword} [{args[0]}] should be link-local multicast")
        return address

    def format(self, value: IPAddress) -> str:
        return str(value)


@dataclass(frozen=True)
class GarpExtraIf:
    """`vrrp_garp_extra_if [all] SECS`: repeat gratuitous ARPs on the VMAC's base interface."""

    interval: int
    all_interfaces: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"interval": self.interval, "all": self.all_interfaces}


class GarpExtraIfValue(Value[GarpExtraIf]):
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> GarpExtraIf:
        if stmt.keyword == "vrrp_vmac_garp_intvl":
            # keepalived raises its config status for this one (class DEPRECATED).
            cx.error(stmt, "keyword 'vrrp_vmac_garp_intvl' is deprecated - please use 'vrrp_garp_extra_if'")
        interval = 0
        all_interfaces = False
        for word in args:
            if word == "all":
                all_interfaces = True
                continue
            try:
                interval = parse_int(word, 1, 86400)
            except ArgError as exc:
                raise ArgError(f"{stmt.keyword} '{word}' invalid ({exc.message})") from None
        if not interval:
            raise ArgError(f"{stmt.keyword} specified without time")
        return GarpExtraIf(interval, all_interfaces)

    def format(self, value: GarpExtraIf) -> str:
        return f"{'all ' if value.all_interfaces else ''}{value.interval}"


@dataclass(frozen=True)
class DynamicInterfaces:
    """`dynamic_interfaces [allow_if_changes]`: missing interfaces are expected to appear later."""

    allow_if_changes: bool = False


class DynamicInterfacesValue(Value[DynamicInterfaces]):
    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> DynamicInterfaces:
        if not args:
            return DynamicInterfaces()
        if args[0] == "allow_if_changes":
            return DynamicInterfaces(allow_if_changes=True)
        # keepalived still turns dynamic interfaces on.
        cx.error(stmt, f"unknown dynamic_interfaces option '{args[0]}'; ignored")
        return DynamicInterfaces()

    def format(self, value: DynamicInterfaces) -> str:
        return "allow_if_changes" if value.allow_if_changes else ""


@dataclass(frozen=True)
class RxBufsPolicy:
    """How the VRRP receive buffers are sized: by the MTU, by the advert size, or a fixed size."""

    mtu: bool = False
    advert: bool = False
    size: int | None = None


class RxBufsPolicyValue(Value[RxBufsPolicy]):
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> RxBufsPolicy:
        mtu = advert = False
        size: int | None = None
        for word in args:
            if word.upper() == "MTU":
                mtu = True
            elif word.upper() == "ADVERT":
                advert = True
            else:
                # keepalived 2.2.7 always reads the first word here; the word itself is meant.
                try:
                    size = parse_int(word, 0, UINT_MAX)
                except ArgError as exc:
                    cx.error(stmt, f"invalid vrrp_rx_bufs_policy {word} ({exc.message}); ignored")
        if size is not None and (mtu or advert):
            cx.error(stmt, "cannot set vrrp_rx_bufs_policy size and policy, ignoring policy")
            mtu = advert = False
        elif mtu and advert:
            cx.error(stmt, "cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT")
            advert = False
        if not (mtu or advert or size is not None):
            raise ArgError("no valid vrrp_rx_bufs_policy given")
        return RxBufsPolicy(mtu, advert, size)

    def format(self, value: RxBufsPolicy) -> str:
        if value.size is not None:
            return str(value.size)
        return "MTU" if value.mtu else "ADVERT"


class ExactlyOne(Value[Any]):
    """A value that must be the only word: keepalived ignores the keyword otherwise."""

    max_args = None

    def __init__(self, inner: Value[Any], message: str) -> None:
        self.inner = inner
        self.message = message

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Any:
        if len(args) != 1:
            raise ArgError(self.message)
        return self.inner.parse(args, stmt, cx)

    def format(self, value: Any) -> str:
        return self.inner.format(value)


class OptionalWord(Value[str]):
    """`keyword [WORD]` where the keyword alone means `default`."""

    min_args = 0

    def __init__(self, default: str, max_length: int | None = None) -> None:
        self.default = default
        self.max_length = max_length

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            return self.default
        if self.max_length is not None and len(args[0]) >= self.max_length:
            raise ArgError(f"{stmt.keyword} name '{args[0]}' too long")
        return args[0]

    def format(self, value: str) -> str:
        return quote(value)


class IptablesValue(Value[str]):
    """`vrrp_iptables`: keepalived is built without iptables since 2.2 on Debian and uses nftables."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        cx.error(stmt, "iptables not supported, using nftables instead; please replace 'vrrp_iptables' "
                       "with the 'nftables' option")
        return "keepalived"

    def format(self, value: str) -> str:
        return quote(value)


class Umask(Value[int]):
    """`umask NUMBER` (strtol base 0) or `umask IWGRP|IWOTH`, as keepalived reads it."""

    max_args = None
    _BITS: ClassVar[dict[str, int]] = {
        "IRUSR": 0o400, "IWUSR": 0o200, "IXUSR": 0o100,
        "IRGRP": 0o040, "IWGRP": 0o020, "IXGRP": 0o010,
        "IROTH": 0o004, "IWOTH": 0o002, "IXOTH": 0o001,
    }

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        if args[0][:1].isdigit():
            if len(args) != 1:
                raise ArgError("extra parameter(s) to umask option")
            value = parse_c_unsigned(args[0], 0o777)
            if value is None:
                raise ArgError(f"invalid umask value {args[0]}")
            return value
        bits = 0
        need_or = False
        for word in args:
            rest = word
            while rest:
                if need_or:
                    if rest[0] != "|":
                        raise ArgError(f"invalid umask syntax {word}")
                    need_or = False
                    rest = rest[1:]
                    continue
                if rest[:5] not in self._BITS:
                    raise ArgError(f"unknown umask bit {rest}")
                bits |= self._BITS[rest[:5]]
                rest = rest[5:]
                need_or = True
        if not need_or:
            raise ArgError("umask missing bit value")
        return bits

    def format(self, value: int) -> str:
        return f"0{value:o}" if value else "0"


class IncludeCheck(Value[tuple[str, ...]]):
    """`include_check [[+|-]read|match|wildcard_match|brace_match ...]` (applied by the preprocessor)."""

    min_args = 0
    max_args = None
    # keepalived wants `read`; its man page says `readable`, so both are taken.
    TYPES = ("read", "readable", "match", "wildcard_match", "brace_match")

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[str, ...]:
        kept: list[str] = []
        for index, word in enumerate(args):
            signed = word[:1] in ("+", "-")
            if not signed and index > 0:
                cx.error(stmt, f"duplicate include_check '{word}' specified - ignoring")
                continue
            if word.lstrip("+-") not in self.TYPES or len(word) - len(word.lstrip("+-")) > 1:
                cx.error(stmt, f"unknown include_check type '{word.lstrip('+-')}' - ignoring")
                continue
            kept.append(word)
        return tuple(kept)

    def format(self, value: tuple[str, ...]) -> str:
        return " ".join(value)


@dataclass(frozen=True)
class NotifyFifo:
    """`notify_fifo PATH [USER [GROUP]]`: a FIFO keepalived writes state changes to."""

    path: str
    user: str | None = None
    group: str | None = None


class NotifyFifoValue(Value[NotifyFifo]):
    max_args = 3

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> NotifyFifo:
        return NotifyFifo(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None)

    def format(self, value: NotifyFifo) -> str:
        return " ".join(quote(w) for w in (value.path, value.user, value.group) if w)


@dataclass(frozen=True)
class LvsTimeouts:
    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


LVS_MAX_TIMEOUT = 86400 * 31


class LvsTimeoutsValue(Value[LvsTimeouts]):
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> LvsTimeouts:
        if len(args) < 2:
            raise ArgError("lvs_timeouts requires at least one option")
        values: dict[str, int] = {}
        i = 0
        while i < len(args):
            option = args[i]
            if option not in ("tcp", "tcpfin", "udp"):
                cx.error(stmt, f"unknown option {option} specified for lvs_timeouts")
                i += 1
                continue
            if i + 1 >= len(args):
                cx.error(stmt, f"no value specified for lvs_timeout {option} - ignoring")
                break
            try:
                values[option] = parse_int(args[i + 1], 0, LVS_MAX_TIMEOUT)
            except ArgError as exc:
                cx.error(stmt, f"invalid lvs_timeout {option} ({args[i + 1]}): {exc.message} - ignoring")
            i += 2
        if not values:
            raise ArgError("no valid lvs_timeouts option")
        return LvsTimeouts(**values)

    def format(self, value: LvsTimeouts) -> str:
        return " ".join(f"{name} {v}" for name, v in dataclasses.asdict(value).items() if v is not None)


@dataclass(frozen=True)
class LvsSyncDaemon:
    """`lvs_sync_daemon IF [inst VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`."""

    interface: str
    inst: str | None = None
    id: int | None = None  # None: the VRID of the instance
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: IPAddress | None = None


class LvsSyncDaemonValue(Value[LvsSyncDaemon]):
    max_args = None
    _NUMBERS: ClassVar[dict[str, tuple[int, int]]] = {
        "id": (0, 255), "maxlen": (1, 65535 - 20 - 8), "port": (1, 65535), "ttl": (1, 255),
    }

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> LvsSyncDaemon:
        interface = args[0]
        if len(interface) >= IP_VS_IFNAME_MAXLEN:
            raise ArgError(f"lvs_sync_daemon interface name '{interface}' too long")
        check_ifname(interface)
        values: dict[str, Any] = {}
        i = 1
        while i < len(args):
            option = args[i]
            has_value = i + 1 < len(args)
            if option == "inst":
                if not has_value:
                    cx.error(stmt, "no value specified for lvs_sync_daemon inst - ignoring")
                elif "inst" in values:
                    cx.error(stmt, f"lvs_sync_daemon vrrp instance has already been specified as {values['inst']}"
                                   " - ignoring")
                else:
                    values["inst"] = args[i + 1]
            elif option in self._NUMBERS:
                low, high = self._NUMBERS[option]
                if not has_value:
                    cx.error(stmt, f"no value specified for lvs_sync_daemon {option} - ignoring")
                else:
                    try:
                        values[option] = parse_int(args[i + 1], low, high)
                    except ArgError as exc:
                        cx.error(stmt, f"invalid lvs_sync_daemon {option} ({args[i + 1]}): {exc.message} - ignoring")
            elif option == "group":
                if not has_value:
                    cx.error(stmt, "no value specified for lvs_sync_daemon group - ignoring")
                else:
                    group = parse_ip_text(re.split(r"[/-]", args[i + 1], maxsplit=1)[0])
                    if group is None:
                        cx.error(stmt, f"invalid lvs_sync_daemon group ({args[i + 1]}) - ignoring")
                    elif not group.is_multicast:
                        cx.error(stmt, f"lvs_sync_daemon group address {args[i + 1]} is not multicast - ignoring")
                    else:
                        values["group"] = group
            elif i == 1:
                # The pre-1.2.20 form: `lvs_sync_daemon IF VRRP_INSTANCE [SYNC_ID]`.
                values["inst"] = option
                i += 1
                continue
            elif i == 2 and "inst" in values and "id" not in values:
                try:
                    values["id"] = parse_int(option, 0, 255)
                    cx.error(stmt, "please use keyword \"id\" before lvs_sync_daemon SYNCID")
                except ArgError:
                    cx.error(stmt, f"invalid syncid ({option}) - defaulting to vrid")
                i += 1
                continue
            else:
                cx.error(stmt, f"unknown option {option} specified for lvs_sync_daemon")
                i += 1
                continue
            i += 2
        return LvsSyncDaemon(interface, **values)

    def format(self, value: LvsSyncDaemon) -> str:
        words = [value.interface]
        for name in ("inst", "id", "maxlen", "port", "ttl", "group"):
            item = getattr(value, name)
            if item is not None:
                words += [name, quote(str(item))]
        return " ".join(words)


class LvsFlushOnStop(Value[str]):
    """`lvs_flush_on_stop [VS]`: "full" removes everything, "VS" only keepalived's virtual servers."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            return "full"
        if args[0] == "VS":
            return "VS"
        raise ArgError(f"unknown lvs_flush_on_stop type {args[0]}")

    def format(self, value: str) -> str:
        return "" if value == "full" else value


class QuietlyOptional(Str):
    """A word that keepalived silently does without when it is missing (smtp_helo_name)."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            raise ArgError(f"'{stmt.keyword}' without a value is ignored", Severity.WARNING)
        return args[0]


class DirName(Value[str]):
    """A directory; keepalived strips one trailing '/'."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        name = args[0]
        return name[:-1] if len(name) > 1 and name.endswith("/") else name

    def format(self, value: str) -> str:
        return quote(value)


class SnmpSocket(Value[str]):
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if len(args) > 1:
            raise ArgError("too many parameters specified for snmp_socket")
        if len(args[0]) > PATH_MAX - 1:
            raise ArgError("snmp socket name too long")
        return args[0]

    def format(self, value: str) -> str:
        return quote(value)


def _words_line(stmt: Stmt, cx: Cx) -> list[str]:
    """A value-block line whose every word is one item (notification_email)."""
    return list(stmt.words)


def _format_word(word: str) -> str:
    return quote(word)


# ---------------------------------------------------------------------------------------------
# global_defs


def _if_min_garp(when_min: int, otherwise: int) -> Inherit:
    return lambda scope: when_min if scope["vrrp_min_garp"] else otherwise


def _process_name_default(name: str) -> Inherit:
    return lambda scope: name if scope["process_names"] else None


@dataclass(frozen=True, kw_only=True)
class GlobalDefs(Block):
    """Everything inside `global_defs { }`.

    None means "not set": keepalived then computes the value at run time from the
    machine (router_id from the host name, notification_email_from from the user
    running keepalived), or leaves the feature off.
    """

    block_keyword = "global_defs"

    # Process names and identity
    process_names: bool = kw(Flag(), default=False)
    process_name: str | None = kw(ProcessName())
    vrrp_process_name: str | None = kw(ProcessName(), inherit=_process_name_default("keepalived_vrrp"))
    checker_process_name: str | None = kw(
        ProcessName(),
        names=("checker_process_name", "lvs_process_name"),
        deprecated={"lvs_process_name": "use 'checker_process_name'"},
        inherit=_process_name_default("keepalived_lvs"),
    )
    bfd_process_name: str | None = kw(ProcessName(), inherit=_process_name_default("keepalived_bfd"))
    router_id: str | None = kw(Str())

    # E-mail notification
    notification_email_from: str | None = kw(Str())
    smtp_server: SmtpServer | None = kw(SmtpServerValue())
    smtp_helo_name: str | None = kw(QuietlyOptional())
    smtp_connect_timeout: int = kw(AtLeastOne(TIMER_MAX_SECONDS), default=30)
    notification_email: tuple[str, ...] = lines(_words_line, line_format=_format_word)
    smtp_alert: bool | None = kw(Bool())
    smtp_alert_vrrp: bool | None = kw(Bool())
    smtp_alert_checker: bool | None = kw(Bool())
    checker_log_all_failures: bool = kw(Bool(), default=False)
    no_email_faults: bool = kw(Flag(), default=False)
    no_checker_emails: bool = kw(Bool(), default=False)
    rs_init_notifies: bool = kw(Bool(), default=False)

    # Startup and shutdown scripts, script security, notify FIFOs
    startup_script: Script | None = kw(ScriptValue(), once=True)
    # None: no script, or keepalived's 10 seconds once one is set.
    startup_script_timeout: int | None = kw(
        Int(1, 1000), inherit=lambda s: 10 if s["startup_script"] is not None else None
    )
    shutdown_script: Script | None = kw(ScriptValue(), once=True)
    shutdown_script_timeout: int | None = kw(
        Int(1, 1000), inherit=lambda s: 10 if s["shutdown_script"] is not None else None
    )
    script_user: tuple[str, str | None] | None = kw(UserGroup())
    enable_script_security: bool = kw(Flag(), default=False)
    notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    vrrp_notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    vrrp_notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    lvs_notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    lvs_notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    fifo_write_vrrp_states_on_reload: bool = kw(Flag(), default=False)
    vrrp_notify_priority_changes: bool = kw(Bool(), default=False)

    # Process scheduling
    max_auto_priority: int = kw(MaxAutoPriority(), default=0)
    min_auto_priority_delay: int = kw(Int(1, 10_000_000), default=1_000_000)  # microseconds
    vrrp_priority: int = kw(ResetOnError(-20, 19, 0, "invalid vrrp process priority {}"), default=0)
    checker_priority: int = kw(ResetOnError(-20, 19, 0, "invalid checker process priority {}"), default=0)
    bfd_priority: int = kw(ResetOnError(-20, 19, 0, "invalid bfd process priority {}"), default=0)
    vrrp_no_swap: bool = kw(Flag(), default=False)
    checker_no_swap: bool = kw(Flag(), default=False)
    bfd_no_swap: bool = kw(Flag(), default=False)
    # None: no real-time scheduling.
    vrrp_rt_priority: int | None = kw(RealtimePriority("vrrp"))
    checker_rt_priority: int | None = kw(RealtimePriority("checker"))
    bfd_rt_priority: int | None = kw(RealtimePriority("bfd"))
    # None: every CPU.
    vrrp_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("vrrp"))
    checker_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("checker"))
    bfd_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("bfd"))
    vrrp_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid vrrp real-time limit - {}"),
        names=("vrrp_rlimit_rttime", "vrrp_rlimit_rtime"),
        deprecated={"vrrp_rlimit_rtime": "use 'vrrp_rlimit_rttime'"},
        default=10000,
    )
    checker_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid checker real-time limit - {}"),
        names=("checker_rlimit_rttime", "checker_rlimit_rtime"),
        deprecated={"checker_rlimit_rtime": "use 'checker_rlimit_rttime'"},
        default=10000,
    )
    bfd_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid bfd real-time limit - {}"),
        names=("bfd_rlimit_rttime", "bfd_rlimit_rtime"),
        deprecated={"bfd_rlimit_rtime": "use 'bfd_rlimit_rttime'"},
        default=10000,
    )

    # VRRP
    vrrp_mcast_group4: IPAddress = kw(McastGroup(4), default=ipaddress.IPv4Address("224.0.0.18"))
    vrrp_mcast_group6: IPAddress = kw(McastGroup(6), default=ipaddress.IPv6Address("ff02::12"))
    vrrp_min_garp: bool = kw(Bool(), default=False)
    vrrp_garp_master_delay: int = kw(
        Int(0, TIMER_MAX_SECONDS), default=5, inherit=_if_min_garp(0, 5)
    )
    vrrp_garp_master_repeat: int = kw(AtLeastOne(UINT_MAX), default=5, inherit=_if_min_garp(1, 5))
    vrrp_garp_master_refresh: int = kw(
        ResetOnError(0, UINT_MAX, 0, "invalid vrrp_garp_master_refresh '{}'"), default=0
    )
    # keepalived 2.2.7's vrrp_min_garp also sets this to 0, a value it refuses from the file and
    # which would silence the refresh adverts; the man page only speaks of the first burst.
    vrrp_garp_master_refresh_repeat: int = kw(AtLeastOne(UINT_MAX), default=1)
    vrrp_garp_lower_prio_delay: int = kw(
        Int(0, TIMER_MAX_SECONDS), default=5, inherit=lambda s: s["vrrp_garp_master_delay"]
    )
    # Capped so that the value can be written back: keepalived reads this keyword up to INT_MAX only.
    vrrp_garp_lower_prio_repeat: int = kw(
        Int(0, INT_MAX), default=5, inherit=lambda s: min(s["vrrp_garp_master_repeat"], INT_MAX)
    )
    vrrp_down_timer_adverts: int = kw(Int(1, 100), default=3)
    # None: no pacing (keepalived's 0, which cannot be written).
    vrrp_garp_interval: float | None = kw(Decimal(0.000001, UINT_MAX / 1e6))
    vrrp_gna_interval: float | None = kw(Decimal(0.000001, UINT_MAX / 1e6))
    vrrp_garp_extra_if: GarpExtraIf | None = kw(
        GarpExtraIfValue(), names=("vrrp_garp_extra_if", "vrrp_vmac_garp_intvl")
    )
    vrrp_lower_prio_no_advert: bool = kw(Bool(), default=False)
    vrrp_higher_prio_send_advert: bool = kw(Bool(), default=False)
    vrrp_version: int = kw(Int(2, 3), default=2)
    vrrp_check_unicast_src: bool = kw(Flag(), default=False)
    vrrp_skip_check_adv_addr: bool = kw(Flag(), default=False)
    vrrp_strict: bool = kw(Flag(), default=False)
    vrrp_startup_delay: float | None = kw(Decimal(0.001, UINT_MAX / 1e6))
    log_unknown_vrids: bool = kw(Flag(), default=False)
    vmac_prefix: str = kw(Str(), default="vrrp", once=True)
    vmac_addr_prefix: str = kw(Str(), default="vrrp", once=True, inherit=lambda s: s["vmac_prefix"])
    default_interface: str = kw(Str(), default="eth0")
    dynamic_interfaces: DynamicInterfaces | None = kw(DynamicInterfacesValue())
    disable_local_igmp: bool = kw(Flag(), default=False)
    vrrp_rx_bufs_policy: RxBufsPolicy | None = kw(RxBufsPolicyValue())
    vrrp_rx_bufs_multiplier: int = kw(
        ExactlyOne(Int(1, UINT_MAX), "vrrp_rx_bufs_multiplier takes exactly one value"), default=3
    )
    vrrp_netlink_cmd_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)  # 0: the kernel's default
    vrrp_netlink_cmd_rcv_bufs_force: bool = kw(Bool(), default=False)
    vrrp_netlink_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    vrrp_netlink_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)
    process_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    process_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)

    # Firewall
    nftables: str | None = kw(
        OptionalWord("keepalived", NFT_TABLE_MAXNAMELEN), once=True, also={"vrrp_iptables": IptablesValue()}
    )
    # ipset names for iptables; kept for configurations that name them (the firewall here is nftables).
    vrrp_ipsets: tuple[str, ...] | None = kw(Words(min_args=0))
    nftables_priority: int = kw(Int(-(2**31), INT_MAX), default=-1)
    nftables_ifindex: bool = kw(Flag(), default=False)
    nftables_counters: bool = kw(Flag(), default=False)
    nftables_ipvs: str | None = kw(OptionalWord("keepalived_ipvs", NFT_TABLE_MAXNAMELEN), once=True)
    nftables_ipvs_priority: int = kw(Int(-(2**31), INT_MAX), default=-1)
    nftables_ipvs_start_fwmark: int = kw(Int(1, UINT_MAX), default=1000)

    # LVS
    lvs_timeouts: LvsTimeouts | None = kw(LvsTimeoutsValue())
    lvs_sync_daemon: LvsSyncDaemon | None = kw(LvsSyncDaemonValue(), once=True)
    lvs_flush: bool = kw(Flag(), default=False)
    lvs_flush_on_stop: str | None = kw(
        LvsFlushOnStop(),
        names=("lvs_flush_on_stop", "lvs_flush_onstop"),
        deprecated={"lvs_flush_onstop": "use 'lvs_flush_on_stop'"},
    )
    lvs_netlink_cmd_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    lvs_netlink_cmd_rcv_bufs_force: bool = kw(Bool(), default=False)
    lvs_netlink_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    lvs_netlink_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)

    # SNMP and D-Bus
    snmp_socket: str | None = kw(SnmpSocket(), once=True)
    enable_traps: bool = kw(Flag(), default=False)
    enable_snmp_vrrp: bool = kw(
        Flag(),
        default=False,
        names=("enable_snmp_vrrp", "enable_snmp_keepalived"),
        deprecated={"enable_snmp_keepalived": "use 'enable_snmp_vrrp'"},
    )
    enable_snmp_checker: bool = kw(Flag(), default=False)
    enable_snmp_rfc: bool = kw(Flag(), default=False)
    enable_snmp_rfcv2: bool = kw(Flag(), default=False, inherit=lambda s: s["enable_snmp_rfc"])
    enable_snmp_rfcv3: bool = kw(Flag(), default=False, inherit=lambda s: s["enable_snmp_rfc"])
    enable_dbus: bool = kw(Flag(), default=False)
    dbus_service_name: str = kw(Str(), default="org.keepalived.Vrrp1")

    # Configuration handling, reloads, misc
    umask: int = kw(Umask(), default=0o022)
    random_seed: int | None = kw(Int(0, UINT_MAX))
    reload_check_config: str | None = kw(OptionalWord("/dev/null"))
    reload_time_file: str | None = kw(ExactlyOne(Str(), "reload_time_file invalid"))
    reload_repeat: bool = kw(Flag(), default=False)
    # "" until the whole file is read: the default name depends on `instance` and `net_namespace`.
    reload_file: str | None = kw(OptionalWord(""))
    include_check: tuple[str, ...] | None = kw(IncludeCheck())
    config_save_dir: str | None = kw(DirName())
    tmp_config_directory: str | None = kw(Str(), once=True)
    data_use_instance: bool = kw(Bool(), default=False)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        changes: dict[str, Any] = {}
        for name, limit in (("vrrp_garp_interval", 1), ("vrrp_gna_interval", 1), ("vrrp_startup_delay", 60)):
            value = getattr(self, name)
            if value is not None and value >= limit:
                shown = format_units(round(value * 1e6), 6)
                cx.warning(self.where(name), f"the {name} is very large - {shown} seconds")
        if "notification_email" in self.locs and not self.notification_email:
            cx.error(self.where("notification_email"), "empty notification_email block")
        changes.update(self._fifo_conflicts(cx))
        return self.replace(**changes)

    def _fifo_conflicts(self, cx: Cx) -> dict[str, Any]:
        """keepalived ignores a VRRP or LVS FIFO that is also the global one (log-only messages)."""
        changes: dict[str, Any] = {}
        shared = self.notify_fifo.path if self.notify_fifo else None
        for prefix in ("vrrp", "lvs"):
            fifo: NotifyFifo | None = getattr(self, f"{prefix}_notify_fifo")
            if shared is not None and fifo is not None and fifo.path == shared:
                cx.warning(self.where(f"{prefix}_notify_fifo"), f"notify FIFO {shared} has been specified for global "
                           f"and {prefix} FIFO - ignoring {prefix} FIFO")
                changes[f"{prefix}_notify_fifo"] = None
                changes[f"{prefix}_notify_fifo_script"] = None
        vrrp_fifo = changes.get("vrrp_notify_fifo", self.vrrp_notify_fifo)
        lvs_fifo = changes.get("lvs_notify_fifo", self.lvs_notify_fifo)
        if (
            vrrp_fifo is not None and lvs_fifo is not None and vrrp_fifo.path == lvs_fifo.path
            and self.vrrp_notify_fifo_script is not None and self.lvs_notify_fifo_script is not None
        ):
            cx.warning(self.where("lvs_notify_fifo_script"), "LVS notify FIFO and vrrp FIFO are the same both with "
                       "scripts - ignoring LVS FIFO script")
            changes["lvs_notify_fifo_script"] = None
        return changes

    def env_refs(self) -> Iterator[EnvRef]:
        if self.script_user is not None:
            user, group = self.script_user
            yield EnvRef("user", user, self.where("script_user"), "script_user")
            if group:
                yield EnvRef("group", group, self.where("script_user"), "script_user")
        for name in ("startup_script", "shutdown_script", "notify_fifo_script", "vrrp_notify_fifo_script",
                     "lvs_notify_fifo_script"):
            script: Script | None = getattr(self, name)
            if script is not None:
                yield from _owner_refs(script.user, script.group, self.where(name), name)
        for name in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
            fifo: NotifyFifo | None = getattr(self, name)
            if fifo is not None:
                yield from _owner_refs(fifo.user, fifo.group, self.where(name), name)
        if self.disable_local_igmp:
            yield EnvRef("file", "/proc/sys/net/ipv4/igmp_link_local_mcast_reports", self.where("disable_local_igmp"),
                         "disable_local_igmp needs this kernel setting")
        if self.lvs_sync_daemon is not None:
            yield EnvRef("interface", self.lvs_sync_daemon.interface, self.where("lvs_sync_daemon"), "lvs_sync_daemon")


def _owner_refs(user: str | None, group: str | None, loc: Loc, what: str) -> Iterator[EnvRef]:
    if user:
        yield EnvRef("user", user, loc, what)
    if group:
        yield EnvRef("group", group, loc, what)


# ---------------------------------------------------------------------------------------------
# linkbeat_interfaces and interface_up_down_delays (root level value blocks)


@dataclass(frozen=True)
class LinkbeatInterface:
    """`IFNAME [MII|ETHTOOL|IOCTL]`: poll this interface's link state instead of trusting netlink."""

    name: str
    type: str | None = None  # None: MII if the driver supports it, else ETHTOOL, else IOCTL
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        yield EnvRef("interface", self.name, self.loc, "linkbeat_interfaces")


LINKBEAT_TYPES = ("MII", "ETHTOOL", "IOCTL")


def _interface_word(name: str, what: str) -> str:
    try:
        return check_ifname(name)
    except ArgError as exc:
        # keepalived cannot find such an interface, and stops (exit 4).
        raise ArgError(f"unknown interface {name} specified for {what}: {exc.message}", Severity.FATAL) from None


def parse_linkbeat_interface(stmt: Stmt, cx: Cx) -> LinkbeatInterface:
    name = _interface_word(stmt.words[0], "linkbeat interface")
    kind: str | None = None
    if len(stmt.words) > 1:
        if stmt.words[1] in LINKBEAT_TYPES:
            kind = stmt.words[1]
        if kind is None or len(stmt.words) > 2:
            # keepalived still polls the interface, choosing the method itself.
            cx.error(stmt, f"extra characters {' '.join(stmt.words[1:])} in linkbeat interface {name}")
            kind = None
    return LinkbeatInterface(name, kind, stmt.loc)


def format_linkbeat_interface(item: LinkbeatInterface) -> str:
    return f"{item.name} {item.type}" if item.type else item.name


@dataclass(frozen=True)
class InterfaceDelay:
    """`IFNAME DOWN_DELAY [UP_DELAY]`: seconds an interface must stay down/up before instances react."""

    name: str
    down_delay: float
    up_delay: float
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        yield EnvRef("interface", self.name, self.loc, "interface_up_down_delays")


_DELAY = Decimal(0, 255)


def parse_interface_delay(stmt: Stmt, cx: Cx) -> InterfaceDelay:
    name = _interface_word(stmt.words[0], "up/down delay")
    if len(stmt.words) < 2:
        # Only logged by keepalived: the configuration status is unchanged.
        raise ArgError(f"no timeouts specified for {name} up/down delays; line ignored", Severity.WARNING)
    if len(stmt.words) > 3:
        cx.warning(stmt, f"too many parameters for {name} up/down delays; '{' '.join(stmt.words[3:])}' ignored")
    delays = []
    for which, word in zip(("down", "up"), stmt.words[1:3], strict=False):
        try:
            delays.append(_DELAY.parse([word], stmt, cx))
        except ArgError as exc:
            raise ArgError(f"invalid {which} delay {word} for {name}: {exc.message}; line ignored") from None
    # The man page: "If up_delay is omitted, it is set to be the same as the down delay"
    # (keepalived 2.2.7 sets 0 instead).
    down = delays[0]
    up = delays[1] if len(delays) > 1 else down
    return InterfaceDelay(name, down, up, stmt.loc)


def format_interface_delay(item: InterfaceDelay) -> str:
    return f"{item.name} {_DELAY.format(item.down_delay)} {_DELAY.format(item.up_delay)}"


# ---------------------------------------------------------------------------------------------
# track_group and garp_group


@dataclass(frozen=True, kw_only=True)
class TrackGroup(Block):
    """`track_group NAME { group { VI_1 VI_2 } }`: instances that go to FAULT when a static item is lost."""

    block_keyword = "track_group"

    name: str = ""
    group: tuple[NameRef, ...] = lines(parse_name_refs, line_format=format_name_ref)

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        # keepalived skips the whole block unless there is exactly one name.
        if len(stmt.args) != 1:
            cx.error(stmt, "track_group must have a name - skipping")
            return None
        return {"name": stmt.args[0]}

    def header_text(self) -> str:
        return self.name

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if "group" not in self.locs:
            # keepalived logs this and removes the group when it sets up tracking.
            cx.warning(self.loc, f"track_group {self.name} has no group block; it tracks nothing")
            return self
        last_group = self.where("group")
        if any(ref.loc.file == last_group.file and ref.loc.line < last_group.line for ref in self.group):
            cx.error(last_group, f"group list already specified for track_group {self.name}; "
                                 "the members of every group block are used")
        if not self.group:
            cx.error(last_group, f"track_group {self.name} has empty group block")
        return self


class InterfaceName(Value[str]):
    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        return check_ifname(args[0])

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True, kw_only=True)
class GarpGroup(Block):
    """`garp_group { ... }`: gratuitous ARP / NA pacing for a set of interfaces."""

    block_keyword = "garp_group"

    garp_interval: float | None = kw(Decimal(0, INT_MAX / 1e6))
    gna_interval: float | None = kw(Decimal(0, INT_MAX / 1e6))
    # keepalived attaches the group to every `interface` given.
    interface: tuple[str, ...] = many(InterfaceName())
    interfaces: tuple[str, ...] = lines(_words_line, line_format=_format_word)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        for name in ("garp_interval", "gna_interval"):
            value = getattr(self, name)
            if value is not None and value >= 1:
                cx.warning(self.where(name), f"the {name} is very large - {_DELAY.format(value)} seconds")
        if "interfaces" in self.locs and not self.interfaces:
            cx.error(self.where("interfaces"), "empty garp_group interfaces block")
        bad = [name for name in self.interfaces if _bad_ifname(name)]
        for name in bad:
            cx.error(self.where("interfaces"), f"interface name '{name}' specified for garp_group is invalid; ignored")
        if self.interface and self.interfaces:
            cx.warning(self.loc, "only one of interface or interfaces should be used in a garp_group")
        if self.garp_interval is None and self.gna_interval is None:
            cx.error(self.loc, "garp group does not have any delay set - removing")
            return None
        if bad:
            return self.replace(interfaces=tuple(name for name in self.interfaces if name not in bad))
        return self

    def all_interfaces(self) -> tuple[str, ...]:
        return self.interface + self.interfaces

    def env_refs(self) -> Iterator[EnvRef]:
        for name in self.interface:
            yield EnvRef("interface", name, self.where("interface"), "garp_group")
        for name in self.interfaces:
            yield EnvRef("interface", name, self.where("interfaces"), "garp_group")


def _bad_ifname(name: str) -> bool:
    try:
        check_ifname(name)
    except ArgError:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Cross-references between the global blocks and the rest


def validate_global(config: Config, cx: Cx) -> Config:
    changes: dict[str, Any] = {}
    track_groups = _unique_track_groups(config, cx)
    changes["track_groups"] = track_groups
    known_groups = {group.name for group in track_groups}
    changes["static_ipaddress"] = tuple(
        _fill_default_interface(_check_track_group(item, known_groups, cx), config.global_defs.default_interface)
        for item in config.static_ipaddress
    )
    changes["static_routes"] = tuple(_check_track_group(item, known_groups, cx) for item in config.static_routes)
    changes["static_rules"] = tuple(_check_track_group(item, known_groups, cx) for item in config.static_rules)
    changes["garp_groups"] = _garp_groups_without_shared_interfaces(config.garp_groups, cx)
    changes["linkbeat_interfaces"] = _last_per_name(config.linkbeat_interfaces)
    changes["interface_up_down_delays"] = _last_per_name(config.interface_up_down_delays)
    changes["bfd_instances"] = _unique_bfd_instances(config.bfd_instances, cx)
    changes["global_defs"] = _resolve_reload_file(config)
    return config.replace(**changes)


def _unique_track_groups(config: Config, cx: Cx) -> tuple[TrackGroup, ...]:
    instances = {instance.name for instance in config.vrrp_instances}
    kept: list[TrackGroup] = []
    seen: set[str] = set()
    for group in config.track_groups:
        if group.name in seen:
            cx.error(group.loc, f"track_group {group.name} already defined; block ignored")
            continue
        seen.add(group.name)
        members = []
        for ref in group.group:
            if ref.name in instances:
                members.append(ref)
            else:
                cx.warning(ref.loc, f"vrrp instance {ref.name} specified in track group {group.name} doesn't exist "
                                    "- ignoring")
        if not members:
            cx.warning(group.loc, f"track group {group.name} has no existing vrrp instance - removing")
            continue
        kept.append(group.replace(group=tuple(members)))
    return tuple(kept)


TrackedItem = Any  # StaticAddress | RouteEntry | RuleEntry; Any keeps dataclasses.replace simple


def _check_track_group(item: TrackedItem, known: set[str], cx: Cx) -> TrackedItem:
    group = getattr(item, "track_group", None)
    if group is None:
        return item
    if group not in known:
        cx.error(item.loc, f"track_group {group} not found; the item is not tracked")
        return dataclasses.replace(item, track_group=None)
    if item.no_track:
        cx.warning(item.loc, f"track_group {group} and no_track are both set - not tracking")
    return item


def _fill_default_interface(item: StaticAddress, default_interface: str) -> StaticAddress:
    """A static address without `dev` goes on default_interface, which must then exist."""
    if item.dev is not None:
        return item
    return dataclasses.replace(item, dev=default_interface)


def _garp_groups_without_shared_interfaces(groups: tuple[GarpGroup, ...], cx: Cx) -> tuple[GarpGroup, ...]:
    owner: set[str] = set()
    kept: list[GarpGroup] = []
    for group in groups:
        changes: dict[str, tuple[str, ...]] = {}
        for name in ("interface", "interfaces"):
            names: list[str] = []
            for interface in getattr(group, name):
                if interface in owner:
                    cx.error(group.where(name), f"garp_group already specified for {interface} - ignoring")
                    continue
                owner.add(interface)
                names.append(interface)
            changes[name] = tuple(names)
        kept.append(group.replace(**changes))
    return tuple(kept)


def _last_per_name(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """A later line for the same interface replaces the earlier one, as in keepalived."""
    last = {item.name: index for index, item in enumerate(items)}
    return tuple(item for index, item in enumerate(items) if last[item.name] == index)


def _unique_bfd_instances(instances: tuple[BfdInstance, ...], cx: Cx) -> tuple[BfdInstance, ...]:
    kept: list[BfdInstance] = []
    for bfd in instances:
        if any(other.name == bfd.name for other in kept):
            cx.error(bfd.loc, f"BFD instance {bfd.name} already configured - ignoring")
            continue
        clash = next((other for other in kept if other.neighbor_ip == bfd.neighbor_ip and (
            other.source_ip is None or bfd.source_ip is None or other.source_ip == bfd.source_ip)), None)
        if clash is not None:
            if bfd.source_ip is not None:
                cx.error(bfd.loc, f"BFD instance {bfd.name} has duplicate source/neighbor address "
                                  f"{bfd.source_ip}/{bfd.neighbor_ip}, ignoring instance")
            else:
                cx.error(bfd.loc, f"BFD instance {bfd.name} has duplicate neighbor address {bfd.neighbor_ip}, "
                                  "ignoring instance")
            continue
        kept.append(bfd)
    return tuple(kept)


RUN_DIR = "/run"


def _resolve_reload_file(config: Config) -> GlobalDefs:
    """`reload_file` with no name: keepalived's name depends on `instance` and the pid directory."""
    global_defs = config.global_defs
    if global_defs.reload_file != "":
        return global_defs
    if config.instance:
        name = f"{RUN_DIR}/keepalived/keepalived_{config.instance}.reload"
    elif config.use_pid_dir or config.net_namespace:
        name = f"{RUN_DIR}/keepalived/keepalived.reload"
    else:
        name = f"{RUN_DIR}/keepalived.reload"
    return global_defs.replace(reload_file=name)
