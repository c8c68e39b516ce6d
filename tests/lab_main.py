"""`make lab`: two hakeeper nodes and a client on a throw-away bridge, walking through the guide's story.

Nodes a and b run `hakeeper run` on the bundled conf/examples/lab-a.conf and
lab-b.conf (the deployment guide's MASTER and BACKUP, each checking the web
server behind the VIP), each in its own network namespace with a small HTTP
server; a client in a third namespace asks the VIP for a page every 50 ms. The
lab prints both nodes' live event streams and who holds the VIP, then:

1. the web server on a dies: a's check fails, its priority drops below b's, the VIP moves to b;
2. the web server on a is back: a takes the VIP back;
3. node a is stopped: its priority-0 advert hands the VIP to b at once;
4. node a comes back and takes the VIP again.

After each step it shows the client reaching the VIP again and how long the
client could not. Everything is removed on exit or Ctrl-C. With `--interactive`
the lab stays up after starting, with the commands to look at it and break it.
Needs root.

    .venv/bin/python -m tests.lab_main [--interactive] [--seconds N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bus.endpoints import Endpoints
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Start
from tests.lab import LabNode, Lan, inside

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "conf" / "examples"
VIP = "192.0.2.100"
VIP_PREFIX = f"{VIP}/24"
SETTLE_TIMEOUT = 30.0
PROBE_EVERY = 0.05
PROBE_TIMEOUT = 0.25


class Stopped(Exception):
    """Ctrl-C or SIGTERM: leave, cleaning up."""


@dataclass
class Probe:
    """The client asking the VIP for a page: when, and which node answered (None: no answer)."""

    answers: list[tuple[float, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, at: float, who: str | None) -> None:
        with self.lock:
            self.answers.append((at, who))

    def since(self, start: float) -> list[tuple[float, str | None]]:
        """The answers from `start` on, after the last one answered before it (where an outage starts)."""
        with self.lock:
            first = len(self.answers)
            while first > 0 and self.answers[first - 1][0] >= start:
                first -= 1
            while first > 0 and self.answers[first - 1][1] is None:
                first -= 1
            return self.answers[max(0, first - 1) :]

    def last(self) -> str | None:
        with self.lock:
            return self.answers[-1][1] if self.answers else None


def interruption(answers: list[tuple[float, str | None]]) -> float:
    """The longest time between two answered requests, across the unanswered ones between them."""
    longest = 0.0
    last_ok: float | None = None
    for at, who in answers:
        if who is None:
            continue
        if last_ok is not None:
            longest = max(longest, at - last_ok - PROBE_EVERY)
        last_ok = at
    return max(0.0, longest)


def probe_loop(client: LabNode, probe: Probe, stop: threading.Event) -> None:
    with inside(client.ns):
        while not stop.is_set():
            at = time.monotonic()
            probe.record(at, ask_vip())
            stop.wait(max(0.0, at + PROBE_EVERY - time.monotonic()))


def ask_vip() -> str | None:
    connection = http.client.HTTPConnection(VIP, 80, timeout=PROBE_TIMEOUT)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.read().decode().strip() if response.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def follow_events(nodes: list[LabNode], stop: threading.Event, out: Callable[[str], None]) -> None:
    """Print every node's bus events as they come, each line tagged with the node."""
    subscribers: dict[str, Subscriber] = {}
    try:
        while not stop.is_set():
            for node in nodes:
                if node.name not in subscribers and Endpoints.socket_paths(node.runtime_dir)[0].exists():
                    subscribers[node.name] = Subscriber(node.runtime_dir, want_state=False, since=Start.HISTORY)
            for name, subscriber in subscribers.items():
                for effect in subscriber.poll(0.05):
                    if isinstance(effect, EventDelivered) and effect.event.topic.startswith("vrrp"):
                        out(f"  [{name} event] {event_line(effect.event.topic, effect.event.data)}")
            stop.wait(0.05)
    finally:
        for subscriber in subscribers.values():
            subscriber.close()


def event_line(topic: str, data: dict[str, object]) -> str:
    what = data.get("event")
    if what == "transition":
        return f"{topic}: {data.get('previous')} -> {data.get('state')} ({data.get('reason')})"
    if what == "priority":
        return f"{topic}: effective priority {data.get('previous_priority')} -> {data.get('priority')}"
    details = ", ".join(f"{k}={v}" for k, v in data.items() if k != "event")
    return f"{topic}: {what} {details}".rstrip()


class Lab:
    def __init__(self, workdir: Path, out: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.out = out
        self.lan = Lan(workdir)
        try:
            self.nodes = [self.lan.add_node("a"), self.lan.add_node("b")]
            self.client = self.lan.add_node("client")
        except BaseException:
            self.lan.close()
            raise
        self.web: dict[str, subprocess.Popen[bytes]] = {}
        self.probe = Probe()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ pieces

    def conf(self, node: LabNode) -> Path:
        """The bundled configuration and scripts, copied next to the node's runtime directory."""
        for name in ("lab-check.sh", "lab-notify.sh", f"lab-{node.name}.conf"):
            shutil.copy2(EXAMPLES / name, node.workdir / name)
        return node.workdir / f"lab-{node.name}.conf"

    def start_web(self, node: LabNode) -> None:
        site = node.workdir / "www"
        site.mkdir(exist_ok=True)
        (site / "index.html").write_text(f"{node.name}\n")
        self.web[node.name] = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, sys.executable, "-m", "http.server", "80",
             "--bind", "0.0.0.0", "--directory", str(site)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop_web(self, node: LabNode) -> None:
        process = self.web.pop(node.name)
        process.terminate()
        process.wait(10)

    def stop_node(self, node: LabNode) -> None:
        status = node.stop()
        if status != 0:
            raise AssertionError(f"node {node.name} stopped with status {status}: {node.log_text()}")

    def holder(self) -> str:
        holding = [n.name for n in self.nodes if VIP_PREFIX in n.addresses()]
        return ", ".join(holding) or "nobody"

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"the lab did not get there within {timeout:.0f} s: {what}")
            time.sleep(0.1)

    # ------------------------------------------------------------ the story

    def up(self) -> None:
        for node in self.nodes:
            self.start_web(node)
        watcher = threading.Thread(target=follow_events, args=(self.nodes, self._stop, self.out), daemon=True)
        prober = threading.Thread(target=probe_loop, args=(self.client, self.probe, self._stop), daemon=True)
        self._threads = [watcher, prober]
        watcher.start()
        self.out(f"Starting node a ({self.nodes[0].ipv4}) and node b ({self.nodes[1].ipv4}); VIP {VIP_PREFIX}")
        for node in self.nodes:
            node.start(self.conf(node))
        prober.start()
        self.wait(lambda: self.holder() == "a" and self.probe.last() == "a", "a holds the VIP and answers")
        self.out(f"VIP {VIP_PREFIX} on: {self.holder()}; the client reaches node {self.probe.last()}")

    def step(self, title: str, act: Callable[[], None], holder: str) -> float:
        self.out(f"\n== {title}")
        started = time.monotonic()
        act()
        self.wait(lambda: self.holder() == holder, f"the VIP on {holder}")
        self.wait(lambda: self.probe.last() == holder, f"the client reaching {holder}")
        time.sleep(0.5)  # a few more answers, so that the interruption is measured to its end
        gap = interruption(self.probe.since(started))
        self.out(f"   VIP now on: {self.holder()}; the client reaches node {self.probe.last()}; "
                 f"longest interruption {gap:.2f} s")  # fmt: skip
        return gap

    def story(self) -> dict[str, float]:
        a = self.nodes[0]
        gaps = {
            "check fails": self.step("1. The web server on a dies: a's check fails", lambda: self.stop_web(a), "b"),
            "check back": self.step("2. The web server on a is back", lambda: self.start_web(a), "a"),
            "master stopped": self.step("3. Node a is stopped", lambda: self.stop_node(a), "b"),
            "master back": self.step("4. Node a comes back", lambda: a.start(self.conf(a)), "a"),
        }
        notified = (a.workdir / "notify.log").read_text() if (a.workdir / "notify.log").exists() else ""
        self.out("\nnode a's notify script ran with:\n" + textwrap.indent(notified.rstrip(), "   "))
        return gaps

    def commands(self) -> str:
        installed = Path(sys.executable).parent / "hakeeper"
        hk = str(installed) if installed.exists() else f"{sys.executable} -m services.cli"
        lines = [f"\nLab up: bridge namespace {self.lan.bridge_ns}; VIP {VIP_PREFIX} on {self.holder()}."]
        for node in [*self.nodes, self.client]:
            lines.append(f"  {node.name}: namespace {node.ns}, {node.ipv4}, files in {node.workdir}")
        a = self.nodes[0]
        lines.append(
            textwrap.dedent(
                f"""
                Look (from {ROOT}):
                  {hk} status --runtime-dir {a.runtime_dir}
                  {hk} events --follow --runtime-dir {a.runtime_dir}
                  ip -n {a.ns} addr show dev eth0
                  ip netns exec {self.client.ns} {sys.executable} -c "import urllib.request as u; print(u.urlopen('http://{VIP}/').read())"
                Break:
                  {hk} ctl --runtime-dir {a.runtime_dir} restart vrrp   # no failover
                  {hk} ctl --runtime-dir {a.runtime_dir} stop vrrp      # hands the VIP to b
                  ip -n {self.lan.bridge_ns} link set p{a.index} nomaster        # silent partition
                Ctrl-C stops the nodes and removes the lab."""
            )
        )
        return "\n".join(lines)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for process in self.web.values():
            process.terminate()
        self.lan.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactive", action="store_true", help="stay up with the commands to try, until Ctrl-C")
    parser.add_argument("--seconds", type=float, default=None, help="with --interactive: stop after this long")
    parser.add_argument("--workdir", default=None, help="where configurations and runtime directories go")
    args = parser.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hakeeper-lab-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    lab: Lab | None = None
    try:
        lab = Lab(workdir, lambda line: print(line, flush=True))
        lab.up()
        if args.interactive:
            print(lab.commands(), flush=True)
            ends = None if args.seconds is None else time.monotonic() + args.seconds
            while ends is None or time.monotonic() < ends:
                time.sleep(0.5)
        else:
            lab.story()
        return 0
    except Stopped:
        return 0
    finally:
        # A second Ctrl-C must not interrupt the cleaning up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nStopping the lab and removing its namespaces", flush=True)
        if lab is not None:
            lab.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
