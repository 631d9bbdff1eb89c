"""Child processes (broker, worker, helpers) in their own process groups, stopped without leftovers.

`WorkerProcess` runs `distillguard worker` as an SRE would, for the demo, the tests and
the benchmarks; `spawn` and `stop_group` start and stop any other child the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from distillguard.testing.metrics import fetch, scrape_metrics

if TYPE_CHECKING:
    from distillguard.streams.settings import Settings


def spawn(cmd: Sequence[str], log_path: Path | str, env: Mapping[str, str] | None = None,
          cwd: Path | str | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new process group, stdout and stderr appended to `log_path`.

    Its own group, so `stop_group` stops everything it starts, and a Ctrl-C meant for the
    parent does not reach it first.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(cmd), env=None if env is None else dict(env), cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):  # gone already (or the id was reused)
        pass


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM the child's whole process group, SIGKILL it after `timeout`; its exit code.

    Members of the group that outlive their leader are killed too. None if there was no child.
    """
    if proc is None:
        return None
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode


def proc_status_kib(pid: int | None, field_name: str) -> int | None:
    """A kB field of /proc/<pid>/status (`VmRSS`, `VmHWM`, ...); None if unreadable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, all its threads; None if it is gone."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class WorkerProcess:
    """`distillguard worker` as a child process in its own process group, logging to a file.

    Configured only through its environment (`as_environment(settings)`, then `extra_env`),
    as a deployment would configure it.
    """

    settings: Settings
    log_path: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Spawn the worker; returns at once (see `wait_ready`)."""
        from distillguard.streams.settings import as_environment

        env = {**os.environ, **as_environment(self.settings), **self.extra_env}
        self.proc = spawn([sys.executable, "-m", "distillguard", "worker"], self.log_path,
                          env=env, cwd=self.cwd)
        return self

    @property
    def pid(self) -> int | None:
        """The worker's process id once started."""
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean shutdown), SIGKILL after `timeout`; the exit code."""
        return stop_group(self.proc, timeout)

    def log(self, chars: int = 5000) -> str:
        """The end of the worker's log ("" if there is none yet)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        """Every sample on the worker's /metrics (see `scrape_metrics`); {} while it is down."""
        return scrape_metrics(self.settings.web_host, self.settings.web_port)

    def rss_kib(self) -> int | None:
        """The worker's resident memory, kB; None if it is not running."""
        return proc_status_kib(self.pid, "VmRSS")

    def ready(self) -> bool:
        """Whether /readyz answers 200: partitions assigned, tables recovered."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/readyz"
        return fetch(url, timeout=2.0)[0] == 200

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds until ready; RuntimeError if the worker exits or is not ready in time."""
        began = time.monotonic()
        while not self.ready():
            if not self.alive:
                raise RuntimeError(f"the worker exited while starting; see {self.log_path}:\n"
                                   f"{self.log(3000)}")
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"the worker was not ready after {timeout:.0f}s; "
                                   f"see {self.log_path}:\n{self.log(3000)}")
            time.sleep(0.25)
        return time.monotonic() - began
