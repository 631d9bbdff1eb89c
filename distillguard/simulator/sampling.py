"""Seeded random draws shared by every part of the simulator.

These few helpers sit on the generator's hottest path, and the network, text, roster,
schedule and stream modules all draw through them, so they live below all of those.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

_T = TypeVar("_T")


def _pick(rng: random.Random, seq: Sequence[_T]) -> _T:
    """``rng.choice`` without its per-call overhead (this is the generator's hottest path)."""
    return seq[int(rng.random() * len(seq))]


# Standard-normal quantiles: one table lookup is cheaper than ``gauss`` and the tails beyond
# the table's last quantile do not matter for traffic shapes.
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


def _lognorm(rng: random.Random, median: float, sigma: float) -> float:
    """Log-normal draw parameterised by its median."""
    return median * math.exp(sigma * _Z[int(rng.random() * 4096)])


def _pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """One key of ``weights``, drawn in proportion to its value."""
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


def _hex(rng: random.Random, bits: int = 48) -> str:
    """A random lowercase hex string of ``bits`` bits (ids, keys, payment fingerprints)."""
    return f"{rng.getrandbits(bits):0{bits // 4}x}"
