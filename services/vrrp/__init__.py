"""vrrp: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) virtual routers that interoperate with keepalived 2.2.7."""
