"""Child processes of the demo: each in its own process group, all stopped on every exit path.

Three layers make sure nothing is left running:

- every child starts in a new session (its own process group), so a stop reaches its children;
- on Linux every child gets ``PR_SET_PDEATHSIG`` (it is sent SIGTERM when the demo dies, even
  from SIGKILL) and the demo makes itself a child subreaper, so grandchildren that escape into
  their own groups (Chromium under Playwright) are re-parented to the demo and found at the end;
- :meth:`Supervisor.stop_all` sends SIGTERM to each group, waits, sends SIGKILL to what is left,
  then kills and reaps every remaining descendant.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


_PRCTL = _prctl()


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (Linux); False where unsupported."""
    return _PRCTL is not None and _PRCTL(PR_SET_CHILD_SUBREAPER, 1) == 0


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent goes away."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; empty elsewhere)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first)."""
    seen: list[int] = []
    todo = children_of(pid)
    while todo:
        child = todo.pop(0)
        if child not in seen:
            seen.append(child)
            todo += children_of(child)
    return seen


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts the demo's processes and stops all of them (and their descendants)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start ``argv`` in a new session; its output goes to ``logs/<name>.log`` unless ``stdout``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with self._lock:
            if self._stopped:
                raise RuntimeError("the demo is stopping")
            with log_path.open("ab") as log:
                process = subprocess.Popen(  # noqa: S603 - argv built by the demo itself
                    list(argv),
                    env=env,
                    cwd=cwd,
                    stdin=stdin,
                    stdout=log if stdout is None else stdout,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if _PRCTL is not None else None,
                )
            child = Child(name, process, log_path)
            self.children.append(child)
        return child

    def reap_orphans(self) -> None:
        """Reap exited orphans re-parented to this subreaper (never the children it started)."""
        ours = {child.pid for child in self.children}
        for pid in children_of(os.getpid()):
            if pid not in ours and not alive(pid):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)

    def stop_all(self, grace: float = 8.0) -> None:
        """SIGTERM every group (newest first), SIGKILL after ``grace``, then every descendant left."""
        with self._lock:
            self._stopped = True
            children = list(reversed(self.children))
        for child in children:
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in children:
            _signal_group(child.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        self._reap_descendants()

    def _reap_descendants(self) -> None:
        """Kill and reap whatever still runs below this process (re-parented orphans)."""
        for _ in range(3):
            left = descendants(os.getpid())
            if not left:
                return
            for pid in left:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for pid in left:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, 0)
            time.sleep(0.05)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the child's whole process group (its pid is the group id: new session), even when
    the leader has already exited and other members remain."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
