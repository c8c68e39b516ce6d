"""The typed configuration model: one frozen dataclass per keepalived block."""
