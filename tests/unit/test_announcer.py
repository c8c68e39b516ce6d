"""The Announcer's failure accounting without privileges: counted, returned, logged at a bounded rate."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv6Address

import pytest

from services.netconfig.announce import Announcer
from services.netconfig.announce_core import Kind, Send

TOO_LONG = "x" * 16
ARP = Send("VI_1", TOO_LONG, Kind.ARP, IPv4Address("192.0.2.10"), None, TOO_LONG)
NA = Send("VI_2", TOO_LONG, Kind.NA, IPv6Address("2001:db8::10"), None, TOO_LONG)


def test_failures_are_logged_once_per_interval_with_the_count_left_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    log = logging.getLogger("test.announcer")
    caplog.set_level(logging.WARNING, logger="test.announcer")
    with Announcer(clock=lambda: clock[0], log=log, log_every=60.0) as announcer:
        for _ in range(3):
            assert announcer.send(ARP) == "bad-ifname"
            clock[0] += 10.0
        clock[0] = 61.0
        assert announcer.send(NA) == "bad-ifname"
        assert announcer.send(ARP) == "bad-ifname"

    assert announcer.errors == {"bad-ifname": 5}
    assert announcer.sent == {}
    assert [record.getMessage() for record in caplog.records] == [
        f"(VI_1) Error bad-ifname sending gratuitous ARP on {TOO_LONG} for 192.0.2.10",
        f"(VI_2) Error bad-ifname sending unsolicited neighbour advert on {TOO_LONG} for 2001:db8::10 "
        "(2 more since last logged)",
    ]


def test_send_all_reports_each_failure_and_raises_none() -> None:
    with Announcer() as announcer:
        assert announcer.send_all([ARP, NA]) == [(ARP, "bad-ifname"), (NA, "bad-ifname")]
    assert announcer.interfaces == []
