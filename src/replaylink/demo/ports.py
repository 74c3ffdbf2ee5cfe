"""Loopback ports: a free one, or the one asked for with a clear message when it is taken."""

from __future__ import annotations

import errno
import socket

HOST = "127.0.0.1"


class PortInUse(Exception):
    """The port asked for is taken; the message says what to do."""


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def claim_port(port: int | None, option: str, what: str) -> int:
    """``port`` if it can be bound on 127.0.0.1, a free port when None; else :class:`PortInUse`."""
    if port is None:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(
                    f"Port {port} on {HOST} ({what}) is already in use: stop what listens there, "
                    f"pass another {option}, or leave {option} out to use a free port."
                ) from None
            raise
    return port
