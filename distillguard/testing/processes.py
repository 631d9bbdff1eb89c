"""Child processes (broker, worker) in their own process groups, stopped without leftovers.

`WorkerProcess` runs `distillguard worker` as an SRE would, for the demo, tests and
benchmarks; `scrape_metrics` reads a worker's /metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distillguard.streams.settings import Settings


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM the child's whole process group, SIGKILL it after `timeout`; its exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def scrape_metrics(host: str, port: int, timeout: float = 5.0) -> dict[str, float]:
    """Every sample on a worker's /metrics: `name{labels}` (or `name`) -> value.

    {} if the worker does not answer.
    """
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def family(samples: dict[str, float], name: str) -> dict[str, float]:
    """The samples of one metric family, keyed as in `scrape_metrics`."""
    return {k: v for k, v in samples.items() if k == name or k.startswith(name + "{")}


@dataclass
class WorkerProcess:
    """`distillguard worker` as a child process in its own process group, logging to a file."""

    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        from distillguard.streams.settings import as_environment

        env = {**os.environ, **as_environment(self.settings)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "distillguard", "worker"], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        return stop_group(self.proc, timeout)

    def log(self, chars: int = 5000) -> str:
        """The end of the worker's log."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.settings.web_host, self.settings.web_port)

    def ready(self) -> bool:
        """Whether /readyz answers 200: partitions assigned, tables recovered."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:  # refused, or 503 (HTTPError is an OSError)
            return False

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds until ready; RuntimeError if the worker exits or is not ready in time."""
        began = time.monotonic()
        while not self.ready():
            if not self.alive:
                raise RuntimeError(f"the worker exited while starting; see {self.log_path}")
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"the worker was not ready after {timeout:.0f}s; "
                                   f"see {self.log_path}")
            time.sleep(0.25)
        return time.monotonic() - began
