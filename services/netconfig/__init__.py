"""netconfig: the one service that changes the kernel's addresses, routes, rules and VMAC links."""
