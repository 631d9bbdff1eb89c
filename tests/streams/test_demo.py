"""`distillguard demo` end to end: it finishes, reports, and leaves no process behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def processes_mentioning(needle: str) -> list[int]:
    """Pids whose command line or environment contains `needle`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                if needle.encode() in (proc / part).read_bytes():
                    found.append(int(proc.name))
                    break
            except OSError:
                continue
    return found


def test_demo_detects_and_cleans_up() -> None:
    run = subprocess.run([sys.executable, "-m", "distillguard", "demo"], capture_output=True,
                         text=True, timeout=240, stdin=subprocess.DEVNULL)
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    detected = re.search(r"extraction accounts detected: (\d+)/(\d+)", out)
    flagged = re.search(r"organic accounts flagged: (\d+)/(\d+)", out)
    assert detected and flagged, out[-3000:]
    assert int(detected.group(1)) == int(detected.group(2)) > 0
    assert int(flagged.group(1)) == 0
    workdir = re.search(r"logs in (\S+)", out)
    port = re.search(r"embedded broker on (127\.0\.0\.1:\d+)", out)
    assert workdir and port
    assert not processes_mentioning(workdir.group(1)), "a worker outlived the demo"
    assert not processes_mentioning(f"tcp://{port.group(1)}"), "the broker outlived the demo"
