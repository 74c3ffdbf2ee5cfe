"""Loopback ports: a free one, or the one asked for with a clear message when it is taken.

:func:`bind_problem` (any host) is also what ``replaylink serve`` checks before it starts."""

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


def bind_problem(host: str, port: int) -> OSError | None:
    """Why a server could not listen on ``host:port`` right now (bound as uvicorn binds it: IPv6
    when the host has a ``:``, with SO_REUSEADDR), or None when it could. The socket is closed
    again at once, so this is a check, not a reservation."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:  # socket.gaierror (an unknown host name) is one too
            return exc
    return None


def claim_port(port: int | None, option: str, what: str) -> int:
    """``port`` if it can be bound on 127.0.0.1, a free port when None; else :class:`PortInUse`."""
    if port is None:
        return free_port()
    problem = bind_problem(HOST, port)
    if problem is None:
        return port
    if problem.errno in (errno.EADDRINUSE, errno.EACCES):
        raise PortInUse(
            f"Port {port} on {HOST} ({what}) is already in use: stop what listens there, "
            f"pass another {option}, or leave {option} out to use a free port."
        )
    raise problem
