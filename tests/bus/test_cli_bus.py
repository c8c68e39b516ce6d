"""`hakeeper status`, `hakeeper events` and `hakeeper service bus` as users run them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.publisher import Publisher
from tests.conftest import add_veth, needs_root, wait_for

ROOT = Path(__file__).resolve().parents[2]
HAKEEPER = [sys.executable, "-m", "services.cli"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HAKEEPER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Path]:
    """A bus hub running as `hakeeper service bus`, as supervisord will run it."""
    rundir = tmp_path / "run"
    proc = subprocess.Popen([*HAKEEPER, "service", "bus", "--runtime-dir", str(rundir)], cwd=ROOT)
    wait_for((rundir / "bus-req.sock").exists)
    yield rundir
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def publish_node_state(rundir: Path) -> Publisher:
    vrrp = Publisher("vrrp", rundir, ping_interval=0.2)
    vrrp.set("vrrp/VI_1", {"state": "MASTER", "base_priority": 100, "effective_priority": 102, "interface": "eth0"})
    vrrp.set("track/script/check_nginx", {"status": "OK", "weight": 2})
    vrrp.set("counters/vrrp", {"adverts_sent": 12, "drop_bad_ttl": 1})
    vrrp.post("vrrp/VI_1", {"state": "MASTER", "previous": "BACKUP", "priority": 102})
    vrrp.post("vrrp/VI_1", {"state": "MASTER", "note": "two words"})
    assert vrrp.flush(5)
    net = Publisher("netconfig", rundir, ping_interval=0.2)
    net.set("net/VI_1/vips", {"desired": ["192.0.2.100/24"], "installed": ["192.0.2.100/24"]})
    net.set("net/static/address", {"desired": ["198.51.100.5/24 dev eth0"], "installed": []})
    net.set("service/netconfig", {"state": "running", "pid": 1})
    net.post("net/VI_1", {"added": "192.0.2.100/24"})
    assert net.flush(5)
    vrrp.close()  # the hub keeps its state; it will be reported silent soon, not absent
    return net


def test_status_json_is_the_documented_document(node: Path) -> None:
    net = publish_node_state(node)
    try:
        result = run("status", "--json", "--runtime-dir", str(node))
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["schema_version"] == 1
        assert set(document) == {
            "schema_version", "bus", "services", "instances", "static", "trackers", "counters", "other",
        }  # fmt: skip
        assert document["static"] == {"address": {"desired": ["198.51.100.5/24 dev eth0"], "installed": []}}
        assert document["other"] == {}
        instance = document["instances"]["VI_1"]
        assert (instance["state"], instance["base_priority"], instance["effective_priority"]) == ("MASTER", 100, 102)
        assert instance["vips"] == {"desired": ["192.0.2.100/24"], "installed": ["192.0.2.100/24"]}
        assert document["trackers"] == {"script/check_nginx": {"status": "OK", "weight": 2}}
        assert document["counters"]["vrrp"] == {"adverts_sent": 12, "drop_bad_ttl": 1}
        services = document["services"]
        assert services["netconfig"]["alive"] is True and services["netconfig"]["synced"] is True
        assert services["netconfig"]["state"] == "running"
        assert services["healthcheck"] == {
            "alive": False,
            "pid": None,
            "epoch": None,
            "synced": False,
            "last_seen": None,
            "state": None,
        }
        text = run("status", "--runtime-dir", str(node)).stdout
        assert "VI_1" in text and "MASTER" in text and "192.0.2.100/24" in text and "netconfig    alive" in text
        assert "198.51.100.5/24 dev eth0" in text
    finally:
        net.close()


def test_events_history_json_since_and_topic(node: Path) -> None:
    net = publish_node_state(node)
    try:
        lines = run("events", "--json", "--runtime-dir", str(node)).stdout.splitlines()
        events = [json.loads(line) for line in lines]
        assert [(e["seq"], e["publisher"], e["topic"]) for e in events] == [
            (1, "vrrp", "vrrp/VI_1"),
            (2, "vrrp", "vrrp/VI_1"),
            (3, "netconfig", "net/VI_1"),
        ]
        assert events[0]["data"] == {"state": "MASTER", "previous": "BACKUP", "priority": 102}
        assert {e["kind"] for e in events} == {"event"}
        since = run("events", "--json", "--since", "2", "--runtime-dir", str(node)).stdout.splitlines()
        assert [json.loads(line)["seq"] for line in since] == [3]
        topic = run("events", "--topic", "net/", "--runtime-dir", str(node)).stdout.splitlines()
        assert len(topic) == 1 and topic[0].startswith("3 ") and " netconfig net/VI_1 added=192.0.2.100/24" in topic[0]
        text = run("events", "--runtime-dir", str(node)).stdout.splitlines()
        assert text[1].endswith('state=MASTER note="two words"')
    finally:
        net.close()


def test_events_follow_streams_across_a_bus_restart(tmp_path: Path) -> None:
    rundir = tmp_path / "run"
    hub = subprocess.Popen([*HAKEEPER, "service", "bus", "--runtime-dir", str(rundir)], cwd=ROOT)
    wait_for((rundir / "bus-req.sock").exists)
    pub = Publisher("vrrp", rundir, ping_interval=0.1, hub_timeout=0.5)
    pub.post("vrrp/VI_1", {"n": 1})
    assert pub.flush(5)
    follower = subprocess.Popen(
        [*HAKEEPER, "events", "--follow", "--since", "0", "--json", "--runtime-dir", str(rundir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert (first["kind"], first["data"]) == ("event", {"n": 1})
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(10) == 0
        hub = subprocess.Popen([*HAKEEPER, "service", "bus", "--runtime-dir", str(rundir)], cwd=ROOT)
        pub.post("vrrp/VI_1", {"n": 2})
        wait_for(lambda: pub.flush(0.2), timeout=15)
        missed = json.loads(follower.stdout.readline())
        assert (missed["kind"], missed["epoch_changed"]) == ("missed", True)
        second = json.loads(follower.stdout.readline())
        assert (second["kind"], second["data"], second["seq"]) == ("event", {"n": 2}, 1)
        assert second["hub_epoch"] != first["hub_epoch"]
    finally:
        pub.close()
        follower.terminate()
        follower.wait(10)
        hub.send_signal(signal.SIGTERM)
        hub.wait(10)


def test_no_hub_is_a_clear_error(tmp_path: Path) -> None:
    result = run("status", "--runtime-dir", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert result.stderr.startswith("hakeeper: no answer from the node's bus at ")
    assert "Traceback" not in result.stderr


@needs_root
def test_remote_endpoint_needs_curve_off_loopback(netns: str, tmp_path: Path) -> None:
    """Inside a namespace: loopback TCP without keys; a veth address only with CURVE, and only the right key."""
    add_veth(netns, "eth0", "192.0.2.20/24")
    keys = tmp_path / "keys"
    assert run("bus-keys", str(keys)).returncode == 0
    assert (keys / "hub.key_secret").stat().st_mode & 0o777 == 0o600
    rundir = tmp_path / "run"
    inside = ["ip", "netns", "exec", netns, *HAKEEPER]

    refused = subprocess.run(
        [*inside, "service", "bus", "--runtime-dir", str(rundir), "--bus-tcp", "192.0.2.20:7000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert refused.returncode == 1 and "needs CURVE keys" in refused.stderr

    hub = subprocess.Popen(
        [
            *inside,
            "service",
            "bus",
            "--runtime-dir",
            str(rundir),
            "--bus-tcp",
            "192.0.2.20:7000",
            "--bus-curve-key",
            str(keys / "hub.key_secret"),
        ],
        cwd=ROOT,
    )
    try:
        wait_for((rundir / "bus-req.sock").exists)
        ok = subprocess.run(
            [*inside, "status", "--json", "--connect", "192.0.2.20:7000", "--bus-server-key", str(keys / "hub.key")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["bus"]["endpoint"] == "tcp://192.0.2.20:7001"
        assert run("bus-keys", str(keys), "--name", "other").returncode == 0
        wrong = subprocess.run(
            [*inside, "status", "--connect", "192.0.2.20:7000", "--bus-server-key", str(keys / "other.key")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert wrong.returncode == 1 and "no answer" in wrong.stderr
        plain = subprocess.run(
            [*inside, "status", "--connect", "192.0.2.20:7000"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert plain.returncode == 1
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(10)
