"""Rules without a preference are numbered as keepalived numbers them."""

from __future__ import annotations

from conf.load import load
from tests.conftest import WriteConf


def test_preferences_count_down_from_16384_per_family_in_file_order(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        static_rules {
            from 192.0.2.1 table 100
            from 2001:db8::1 table 100
        }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 5
            virtual_rules {
                from 192.0.2.2 table 101
                from 192.0.2.3 table 101 preference 200
                from 2001:db8::2 table 101
            }
        }
        """
    )
    config = load(str(path), config_id="n").config
    assert [r.preference for r in config.static_rules] == [16384, 16384]
    assert [r.preference for r in config.vrrp_instances[0].virtual_rules] == [16383, 200, 16383]
