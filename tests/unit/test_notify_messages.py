"""services.notifier.messages: keepalived's FIFO lines and e-mail texts, byte for byte."""

from __future__ import annotations

from services.notifier.messages import Mail, fifo_line, state_mail


def test_fifo_lines() -> None:
    assert fifo_line("INSTANCE", "VI_1", "MASTER", 100) == 'INSTANCE "VI_1" MASTER 100\n'
    assert fifo_line("GROUP", "G1", "FAULT", 100) == 'GROUP "G1" FAULT 0\n'
    assert fifo_line("INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI", 100) == 'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100\n'


def test_instance_and_group_mails() -> None:
    assert state_mail("INSTANCE", "VI_1", "MASTER", "lb1") == Mail(
        "[lb1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="
    )
    assert state_mail("INSTANCE", "VI_1", "BACKUP", "lb1") == Mail(
        "[lb1] VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="
    )
    assert state_mail("INSTANCE", "VI_1", "DELETED", "lb1") == Mail(
        "[lb1] VRRP Instance VI_1 - Deleted", "=> VRRP Deleted at reload <="
    )
    assert state_mail("GROUP", "G1", "STOP", "lb1") == Mail(
        "[lb1] VRRP Group G1 - Stopping", "=> All VRRP group instances are now stopping <="
    )
    assert state_mail("GROUP", "G1", "DELETED", "lb1") is None
