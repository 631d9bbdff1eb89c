"""Step 6: a py-spy profile of a worker in steady state, summed by function and by module."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from distillguard.testing.processes import spawn, stop_group
from distillguard.testing.settings import create_topics

from perf.common import ROOT, progress
from perf.workers import bench_settings, events_counted, start_worker


def _frame_key(frame: str) -> str:
    """`func (path:line)` -> a package or repository file name."""
    if "(" not in frame:
        return frame
    path = frame.rsplit("(", 1)[1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if str(ROOT) in path:
        return os.path.relpath(path, ROOT)
    if "/lib/python" in path:
        return "stdlib:" + path.split("/lib/python", 1)[1].split("/", 1)[1]
    return path


#: frames of the detector's steps: the rest of a worker's samples is its Kafka and Faust work
DETECTOR_FRAMES = ("Detector.", "Handlers.fold_link")
#: the handlers' steps, by the frame they run under (their own work and the detector's)
STEPS = {"ingest (parse, score in place)": "Handlers.ingest",
         "score (forwarded events)": "Handlers.score",
         "aggregate (ticks into fingerprints)": "Handlers.aggregate",
         "campaigns (links into the graph)": "Handlers.campaigns"}


def split(stacks: list[tuple[list[str], int]]) -> dict[str, float]:
    """Percent of samples under the detector's frames, and under each handler step
    outside them (the step's own Kafka work: decoding, encoding, table reads and writes);
    the remainder is Faust's and aiokafka's (fetching, acks, the producer, commits)."""
    total = sum(n for _, n in stacks) or 1
    out: dict[str, float] = {"detector": 0.0} | dict.fromkeys(STEPS, 0.0)
    for frames, n in stacks:
        if any(f.startswith(DETECTOR_FRAMES) for f in frames):
            out["detector"] += n
            continue
        for step, frame in STEPS.items():
            if any(f.startswith(frame) for f in frames):
                out[step] += n
                break
    out = {k: round(100.0 * v / total, 1) for k, v in out.items()}
    out["Faust and aiokafka"] = round(100.0 - sum(out.values()), 1)
    return out


def profile_worker(py_spy: str, bootstrap: str, work: Path, topic: str, partitions: int,
                   seconds: float) -> dict[str, Any]:
    """Where a worker reading `topic` spends its time: `seconds` of py-spy samples at 100 Hz.

    Only the thread holding the GIL is sampled (`--gil`): the worker is one Python process
    bound to one core, so that is where its CPU goes (Faust's consumer thread waiting for
    the GIL would otherwise count as busy).
    """
    s = bench_settings(bootstrap, work, topic, partitions, "profile")
    create_topics(s, partitions)
    w = start_worker(s, work, "profile")
    out = work / "py-spy.txt"
    spy: subprocess.Popen[bytes] | None = None
    try:
        while events_counted(w) < 2000:  # steady state
            if not w.alive:
                raise RuntimeError(f"profiled worker exited:\n{w.log(3000)}")
            time.sleep(0.5)
        progress(f"profile: py-spy on worker {w.pid} for {seconds:.0f}s")
        spy = spawn([py_spy, "record", "--pid", str(w.pid), "--duration", str(int(seconds)),
                     "--rate", "100", "--format", "raw", "--nonblocking", "--gil",
                     "--output", str(out)],
                    work / "py-spy.log")
        spy.wait(seconds + 60)
    finally:
        stop_group(spy, timeout=20.0)
        w.stop()
    stacks: list[tuple[list[str], int]] = []
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    self_mod: Counter[str] = Counter()
    incl_mod: Counter[str] = Counter()
    for frames, n in stacks:
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        self_fn[frames[-1]] += n
        self_mod[_frame_key(frames[-1])] += n
        for f in set(frames):
            incl_fn[f] += n
        for k in {_frame_key(f) for f in frames}:
            incl_mod[k] += n

    def top(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in c.most_common(k)]

    return {"samples": total, "seconds": seconds, "split": split(stacks),
            "self_by_function": top(self_fn, 20),
            "inclusive_by_function": top(incl_fn, 30), "self_by_module": top(self_mod, 15),
            "inclusive_by_module": top(incl_mod, 20)}
