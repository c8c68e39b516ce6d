"""services.vrrp.trouble: which refused adverts mean another cluster, reported once a minute;
send refusals reported when they start and when they end."""

from __future__ import annotations

from services.vrrp.trouble import CONFLICT_REPEAT, Troubles, conflict_message


def test_a_clash_is_reported_at_once_then_once_a_minute_per_sender_and_reason() -> None:
    troubles = Troubles()
    assert troubles.conflict("VI_1", "192.0.2.99", "auth_password", 0.0)
    assert not troubles.conflict("VI_1", "192.0.2.99", "auth_password", 1.0)
    assert troubles.conflict("VI_1", "192.0.2.98", "auth_password", 1.0)  # another sender
    assert troubles.conflict("VI_1", "192.0.2.99", "interval", 1.0)  # another reason
    assert troubles.conflict("VI_1", "192.0.2.99", "auth_password", CONFLICT_REPEAT)
    # A damaged packet says nothing about another cluster.
    assert not troubles.conflict("VI_1", "192.0.2.99", "checksum", 0.0)
    assert not troubles.conflict("VI_1", "192.0.2.99", "ttl", 0.0)


def test_send_refusals_are_reported_when_they_start_and_end() -> None:
    troubles = Troubles()
    assert troubles.sent("VI_1", ()) is None
    assert troubles.sent("VI_1", ("EPERM",)) == "blocked"
    assert troubles.sent("VI_1", ("EPERM",)) is None
    assert troubles.sent("VI_1", ("ENETUNREACH",)) is None  # still failing: not over
    assert troubles.sent("VI_1", ()) == "unblocked"
    assert troubles.sent("VI_2", ("ENOBUFS",)) is None  # not what a firewall does


def test_the_message_names_the_sender_and_what_to_do() -> None:
    message = conflict_message("VI_1", 51, "eth0", "192.0.2.99", "vip_mismatch")
    assert message.startswith("(VI_1) VRID clash: 192.0.2.99 also sends VRRP adverts for VRID 51 on eth0")
    assert "other virtual addresses" in message and "virtual_router_id" in message
