"""A free TCP port on the loopback address, for a test server (or an address where nothing listens)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port no one listens on now: the operating system's pick for a socket bound and closed at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
