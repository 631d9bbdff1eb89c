"""Small pieces every benchmark script uses: progress lines, run ids, where results go."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

#: the repository (for `git describe` and file names in profiles)
ROOT = Path(__file__).resolve().parents[2]
#: where results are written unless `--out`/`--results` says otherwise
RESULTS = ROOT / "benchmarks" / "results"
_T0 = time.monotonic()


def progress(msg: str) -> None:
    """A progress line on stderr, stamped with the seconds since the script started."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def uid() -> str:
    """A short random id for names that must not collide with earlier runs on one broker."""
    return uuid.uuid4().hex[:8]


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    """`--out DIR` (alias `--results DIR`): the results directory, benchmarks/results by default.

    A temporary directory keeps a trial run from overwriting the recorded results.
    """
    parser.add_argument("--out", "--results", dest="out", type=Path, default=RESULTS,
                        metavar="DIR", help="results directory [benchmarks/results]")


def add_bootstrap_argument(parser: argparse.ArgumentParser) -> None:
    """`--bootstrap HOST:PORT`: a broker to use instead of starting the embedded one."""
    parser.add_argument("--bootstrap", default=None, metavar="HOST:PORT",
                        help="use this Kafka broker instead of starting the embedded one")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0..1) of `values`, linearly interpolated; None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
