"""The node's message bus (state and events over ZeroMQ)."""
