"""Run ``replaylink demo`` as a user would, read what it started, stop it and check nothing is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from replaylink.config import environment_without_settings
from replaylink.demo.processes import alive, descendants

BIN = Path(sys.executable).with_name("replaylink")
START_TIMEOUT = 90.0


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    data_dir: Path
    output: Path
    run: dict[str, Any]
    account: dict[str, Any]
    seen: set[int] = field(default_factory=set)

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.run["replaylink_url"],
            headers={"Authorization": f"Bearer {self.account['api_key']}"},
            timeout=30,
        )

    def watch(self) -> set[int]:
        """Remember every process below the demo now (checked after the stop)."""
        self.seen |= set(descendants(self.process.pid))
        return self.seen

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        """Signal the demo, wait for it, and return its exit code."""
        self.watch()
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def left_running(self) -> list[str]:
        """Processes the demo started that still run (by pid, or naming its data dir or ports)."""
        left = [pid for pid in self.seen if alive(pid)]
        needles = [str(self.data_dir), self.run["replaylink_url"], self.run["shop_url"]]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(needle in cmdline for needle in needles) and alive(int(entry.name)):
                left.append(int(entry.name))
        return [f"{pid}: {_cmdline(pid)}" for pid in sorted(set(left))]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def demo_env() -> dict[str, str]:
    env = environment_without_settings()
    env["COLUMNS"] = "200"
    return env


@contextmanager
def running_demo(tmp_path: Path, *args: str, timeout: float = START_TIMEOUT) -> Iterator[Demo]:
    """``replaylink demo --data-dir <tmp> ARGS`` until ``run.json`` says it is up; killed afterwards."""
    data_dir = tmp_path / "demo"
    output = tmp_path / "demo.out"
    with output.open("wb") as handle:
        process = subprocess.Popen(
            [str(BIN), "demo", "--data-dir", str(data_dir), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=demo_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        run_file = data_dir / "run.json"
        while not run_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the demo did not start:\n" + output.read_text(errors="replace"))
            time.sleep(0.1)
        demo = Demo(
            process,
            data_dir,
            output,
            json.loads(run_file.read_text()),
            json.loads((data_dir / "demo.json").read_text()),
        )
        demo.watch()
        yield demo
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
