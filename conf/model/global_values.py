"""Argument types of global_defs keywords (keepalived/core/global_parser.c, 2.2.7)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from conf.diagnostics import Severity
from conf.model.common import check_ifname
from conf.schema import (
    ArgError,
    Cx,
    Value,
)
from conf.tree import Stmt
from conf.values import (
    IPAddress,
    Str,
    parse_c_unsigned,
    parse_int,
    parse_ip_text,
    quote,
)

if TYPE_CHECKING:
    pass


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
            cx.error(
                stmt, f"{self.process} process real-time priority {value} less than minimum 1 - setting to minimum"
            )
            return 1
        if value > 99:
            cx.error(
                stmt, f"{self.process} process real-time priority {value} greater than maximum 99 - setting to maximum"
            )
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
                cx.error(
                    stmt, f"invalid cpu_id {word} specified for {self.process} process ({exc.message}); using all CPUs"
                )
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
        cx.error(
            stmt,
            "iptables not supported, using nftables instead; please replace 'vrrp_iptables' with the 'nftables' option",
        )
        return "keepalived"

    def format(self, value: str) -> str:
        return quote(value)


class Umask(Value[int]):
    """`umask NUMBER` (strtol base 0) or `umask IWGRP|IWOTH`, as keepalived reads it."""

    max_args = None
    _BITS: ClassVar[dict[str, int]] = {
        "IRUSR": 0o400,
        "IWUSR": 0o200,
        "IXUSR": 0o100,
        "IRGRP": 0o040,
        "IWGRP": 0o020,
        "IXGRP": 0o010,
        "IROTH": 0o004,
        "IWOTH": 0o002,
        "IXOTH": 0o001,
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
        "id": (0, 255),
        "maxlen": (1, 65535 - 20 - 8),
        "port": (1, 65535),
        "ttl": (1, 255),
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
                    cx.error(
                        stmt, f"lvs_sync_daemon vrrp instance has already been specified as {values['inst']} - ignoring"
                    )
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
                    cx.error(stmt, 'please use keyword "id" before lvs_sync_daemon SYNCID')
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


@dataclass(frozen=True)
class BusTcp:
    """The bus's remote endpoint (publish on PORT, requests on PORT+1)."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback


class BusTcpValue(Value[BusTcp]):
    """`hakeeper_bus_tcp [ADDRESS] PORT`; the address defaults to 127.0.0.1."""

    max_args = 2
    min_args = 1

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> BusTcp:
        host, port = ("127.0.0.1", args[0]) if len(args) == 1 else (args[0], args[1])
        if parse_ip_text(host) is None:
            raise ArgError(f"invalid IP address '{host}'")
        return BusTcp(host, parse_int(port, 1, 65534))

    def format(self, value: BusTcp) -> str:
        return f"{value.host} {value.port}"
