"""The notifier service: keepalived's notify scripts, notify FIFOs and e-mail, driven by the bus's events."""
