"""Throw-away networks for tests: a bridge and N nodes in network namespaces, and hakeeper nodes in them.

    lan = Lan()                       # (the `lan` fixture does this and tears it down)
    a = lan.add_node("a")             # namespace with eth0 = 192.0.2.11/24, 2001:db8::11/64, bridged
    a.start(conf_path)                # `hakeeper run` inside it; returns when every service runs
    a.addresses()                     # {"192.0.2.11/24", "2001:db8::11/64", ...} on eth0
    a.stop()                          # SIGTERM, returns the exit status

Everything is torn down by `Lan.close()`, even after a failed test: processes
left in a namespace are killed (supervisord puts each service in its own
process group, so every pid in the namespace is killed), then the namespaces
are deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus.publisher import Publisher
from services.supervisor_client import Supervisor, SupervisorError

ROOT = Path(__file__).resolve().parents[1]
HAKEEPER = [sys.executable, "-m", "services.cli"]
KEEPALIVED = "/usr/sbin/keepalived"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


CLONE_NEWNET = 0x4000_0000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """This thread in network namespace `ns` for the duration: sockets made here, and threads
    started here, stay there."""
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{ns}", "rb") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class LabNode:
    name: str
    ns: str
    index: int
    workdir: Path
    ifname: str = "eth0"
    process: subprocess.Popen[str] | None = None
    output: list[str] | None = None
    publishers: list[Publisher] = field(default_factory=list)

    @property
    def ipv4(self) -> str:
        return f"192.0.2.{10 + self.index}/24"

    @property
    def ipv6(self) -> str:
        return f"2001:db8::{10 + self.index:x}/64"

    @property
    def runtime_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.runtime_dir)

    def exec(self, *cmd: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True, check=check, **kwargs
        )

    def hakeeper(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.exec(*HAKEEPER, *args, check=check, cwd=ROOT, env=self.environment())

    def environment(self) -> dict[str, str]:
        return {**os.environ, "HAKEEPER_SYSLOG": "0", "PYTHONPATH": str(ROOT)}

    # ------------------------------------------------------------- the node

    def start(self, conf: Path, *flags: str, wait: bool = True) -> None:
        """`hakeeper run -f conf` in the namespace; with `wait`, until every autostarted service runs."""
        # A pipe, as under systemd: the services' console output may be reopened through /dev/stdout.
        self.output = []
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *HAKEEPER, "run", "-f", str(conf),
             "--runtime-dir", str(self.runtime_dir), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=self.environment(),
        )  # fmt: skip
        threading.Thread(target=self._collect, args=(self.process, self.output), daemon=True).start()
        if wait:
            _wait(self.all_running, START_TIMEOUT, f"node {self.name} to start (output: {self.log_text()})")

    @staticmethod
    def _collect(process: subprocess.Popen[str], lines: list[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    def start_keepalived(self, conf: Path, *flags: str) -> None:
        """Debian's keepalived 2.2.7 on this node, in the foreground, logging to the console (see `log_text`)."""
        self.output = []
        pids = self.workdir / "keepalived-pids"
        pids.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, KEEPALIVED, "--dont-fork", "--log-console", "--log-detail",
             "--no-syslog", "-f", str(conf), "-p", str(pids / "keepalived.pid"), "-r", str(pids / "vrrp.pid"),
             "-c", str(pids / "checkers.pid"), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._collect, args=(self.process, self.output), daemon=True).start()

    def all_running(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"hakeeper run exited with {self.process.returncode}: {self.log_text()}")
        try:
            programs = self.supervisor.status()
        except SupervisorError:
            return False
        autostarted = [p for p in programs if p.state != "STOPPED"]
        return bool(autostarted) and all(p.state == "RUNNING" for p in autostarted)

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.supervisor.status() if p.state == "RUNNING"}

    def send_signal(self, signum: int) -> None:
        assert self.process is not None
        # `ip netns exec` execs, so the Popen pid is hakeeper run itself.
        os.kill(self.process.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        assert self.process is not None
        self.send_signal(signum)
        try:
            return self.process.wait(timeout)
        finally:
            self.close_publishers()

    def log_text(self) -> str:
        return "".join(self.output or [])

    def service_log(self, service: str) -> str:
        path = self.runtime_dir / "log" / f"{service}.log"
        return path.read_text() if path.exists() else ""

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.hakeeper("ctl", "--runtime-dir", str(self.runtime_dir), *args)

    def publisher(self, name: str = "lab") -> Publisher:
        """A publisher on the node's bus (playing vrrp's part in tests that need instance states)."""
        publisher = Publisher(name, self.runtime_dir)
        self.publishers.append(publisher)
        return publisher

    def close_publishers(self) -> None:
        for publisher in self.publishers:
            publisher.close()
        self.publishers.clear()

    # ------------------------------------------------------------- the kernel

    def addresses(self, ifname: str | None = None) -> set[str]:
        """`address/prefix` of every address on `ifname` (default eth0)."""
        return {f"{a['local']}/{a['prefixlen']}" for a in self.address_details(ifname)}

    def address_details(self, ifname: str | None = None) -> list[dict[str, Any]]:
        out = ip("-n", self.ns, "-j", "addr", "show", "dev", ifname or self.ifname, check=False)
        if out.returncode != 0:
            return []
        links = json.loads(out.stdout or "[]")
        return [info for link in links for info in link.get("addr_info", [])]

    @contextlib.contextmanager
    def sampling_addresses(self, every: float = 0.01) -> Iterator[list[set[str]]]:
        """The addresses of eth0, sampled every `every` seconds while the block runs."""
        samples: list[set[str]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(self.addresses())
                stop.wait(every)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            yield samples
        finally:
            stop.set()
            sampler.join()

    def processes(self) -> list[int]:
        return [int(pid) for pid in ip("netns", "pids", self.ns, check=False).stdout.split()]

    def kill_all(self) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Lan:
    """A bridge in its own namespace, and nodes attached to it by veth pairs."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:4]}"
        self.bridge_ns = f"hkl{self.tag}br"
        self.nodes: list[LabNode] = []
        ip("netns", "add", self.bridge_ns)
        ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.bridge_ns, "link", "set", "br0", "up")

    def add_node(self, name: str) -> LabNode:
        index = len(self.nodes) + 1
        node = LabNode(name, f"hkl{self.tag}n{index}", index, self.workdir / name)
        node.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes.append(node)
        ip("netns", "add", node.ns)
        ip("-n", node.ns, "link", "set", "lo", "up")
        port = f"p{index}"
        ip("-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", node.ifname, "netns", node.ns)
        ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        # The node's addresses must not wait for duplicate address detection before tests use them.
        node.exec("sysctl", "-q", "-w", f"net.ipv6.conf.{node.ifname}.accept_dad=0")
        ip("-n", node.ns, "addr", "add", node.ipv4, "dev", node.ifname)
        ip("-n", node.ns, "addr", "add", node.ipv6, "dev", node.ifname, "nodad")
        ip("-n", node.ns, "link", "set", node.ifname, "up")
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.close_publishers()
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    node.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(STOP_TIMEOUT)
            node.kill_all()
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        for ns in [node.ns for node in self.nodes] + [self.bridge_ns]:
            ip("netns", "delete", ns, check=False)
