"""When accounts send requests: diurnal curves, day windows and per-persona day plans.

Schedules are drawn one simulated day at a time (a plan per day, merged into one timeline),
so a stream of any length is generated lazily. Also here: the machine-regular arrivals of
extraction scripts and the two schedulers a coordinated campaign can use.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from operator import itemgetter

from distillguard.models.events import DAY, HOUR
from distillguard.simulator.config import SimConfig
from distillguard.simulator.roster import Account
from distillguard.simulator.sampling import _lognorm, _pick

# activity weights (max 1), one per local hour: when people / services send requests
#: activity of people by local hour: evenings peak, nights are quiet
HUMAN_CURVE = (0.06, 0.03, 0.015, 0.01, 0.01, 0.02, 0.06, 0.2, 0.4, 0.55, 0.6, 0.65, 0.7,
               0.65, 0.6, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 0.9, 0.55, 0.2)
#: activity of students by local hour: later nights than ``HUMAN_CURVE``
STUDENT_CURVE = (0.35, 0.2, 0.1, 0.04, 0.02, 0.01, 0.02, 0.06, 0.2, 0.45, 0.6, 0.65, 0.6,
                 0.7, 0.75, 0.7, 0.65, 0.7, 0.75, 0.85, 0.95, 1.0, 0.9, 0.6)
#: activity of backends by local hour: around the clock, following their users' day
SERVICE_CURVE = (0.35, 0.28, 0.24, 0.22, 0.24, 0.3, 0.42, 0.58, 0.75, 0.88, 0.95, 1.0, 0.98,
                 0.96, 0.95, 0.94, 0.92, 0.9, 0.88, 0.85, 0.8, 0.7, 0.55, 0.45)
#: activity of office staff by local hour: working hours with a lunch dip
WORK_CURVE = (0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 0.9, 1.0, 0.95, 0.6, 0.85,
              0.95, 0.9, 0.8, 0.55, 0.25, 0.12, 0.08, 0.05, 0.03, 0.02)
#: mean of ``SERVICE_CURVE``, which scales a service's peak arrival rate
SERVICE_MEAN = sum(SERVICE_CURVE) / 24


def _windows(cfg: SimConfig) -> Iterator[tuple[float, float]]:
    w0 = cfg.start_ts
    while w0 < cfg.end_ts:
        yield w0, min(w0 + DAY, cfg.end_ts)
        w0 += DAY


def _local_hour(ts: float, tz: float) -> int:
    return int(((ts % DAY) / HOUR + tz) % 24)


def _local_weekday(ts: float, tz: float) -> int:
    """0=Monday; 1970-01-01 was a Thursday."""
    return int(((ts + tz * HOUR) // DAY + 3) % 7)


def _diurnal_time(rng: random.Random, w0: float, tz: float, curve: tuple[float, ...]) -> float:
    """Rejection-sample a start time in a UTC day following a local-time activity curve."""
    while True:
        ts = w0 + rng.random() * DAY
        if rng.random() < curve[_local_hour(ts, tz)]:
            return ts


#: a persona's day: (rng, UTC start of the day) -> its ``(ts, ...)`` items, in any order
Plan = Callable[[random.Random, float], list[tuple]]


def _timeline(cfg: SimConfig, rng: random.Random, plan_day: Plan) -> Iterator[tuple]:
    """Yield ``(ts, ...)`` items day by day in ts order; spill-over moves to the next day."""
    pending: list[tuple] = []
    for w0, w1 in _windows(cfg):
        items = pending + plan_day(rng, w0)
        items.sort(key=itemgetter(0))
        cut = bisect_left(items, w1, key=itemgetter(0))
        yield from items[:cut]
        pending = items[cut:]


def _human_day(acct: Account, curve: tuple[float, ...], sessions_mean: float) -> Plan:
    """Sessions of several multi-turn requests minutes apart, at the person's waking hours."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        if rng.random() > min(0.95, 0.7 * acct.rate):
            return []
        items = []
        for session in range(1 + int(rng.expovariate(1 / sessions_mean))):
            ts = _diurnal_time(rng, w0, acct.tz, curve)
            for k in range(min(15, 1 + int(rng.expovariate(1 / 3.5)))):
                items.append((ts, 2 * k + 1, (w0, session)))
                ts += 20 + _lognorm(rng, 100, 0.8)
        return items

    return plan


def _work_day(acct: Account, sessions_mean: float) -> Plan:
    """Office sessions on working days (``WORK_CURVE``); most weekends stay empty."""
    base = _human_day(acct, WORK_CURVE, sessions_mean)

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        weekend = _local_weekday(w0 + 12 * HOUR, acct.tz) >= 5
        if weekend and rng.random() < 0.85:
            return []
        return base(rng, w0)

    return plan


def _always_on_day(acct: Account) -> Plan:
    """An agent run by a scheduler or CI: the same tool loops, around the clock, every day."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        pause = 600 / acct.rate
        items, ts = [], w0 + rng.uniform(0, 600)
        while ts < w0 + DAY:
            turn = _pick(rng, (1, 1, 3, 5, 9))
            steps = 1 + min(int(rng.expovariate(1 / 8)), 28)
            for step in range(steps):
                items.append((ts, min(turn + 2 * step, 59), step == steps - 1))
                ts += _lognorm(rng, 9, 0.6)
            ts += _lognorm(rng, pause, 0.9)
        return items

    return plan


def _developer_day(acct: Account) -> Plan:
    """A working day of agent loops: bursts of tool round-trips, human pauses between."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        start = w0 + ((rng.uniform(8, 10.5) - acct.tz) % 24) * HOUR
        weekend = _local_weekday(start, acct.tz) >= 5
        if weekend and rng.random() > 0.2:
            return []
        end = start + rng.uniform(7.5, 10.5 if not weekend else 3) * HOUR
        lunch = start + rng.uniform(3.5, 4.5) * HOUR
        pause = 360 / acct.rate
        items, ts = [], start
        while ts < end:
            turn = _pick(rng, (1, 1, 3, 5, 9, 15, 21))  # fresh task or a continued conversation
            steps = 1 + min(int(rng.expovariate(1 / 9)), 28)
            for step in range(steps):
                items.append((ts, min(turn + 2 * step, 59), step == steps - 1))
                ts += _lognorm(rng, 7, 0.6)
            ts += _lognorm(rng, pause, 0.8)
            if lunch <= ts < lunch + HOUR:
                ts += rng.uniform(0.5, 1) * HOUR
        return items

    return plan


def _service_day(acct: Account) -> Plan:
    """A backend relaying its users: Poisson arrivals around the clock, diurnally modulated."""
    lam_max = acct.rate / DAY / SERVICE_MEAN

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        items: list[tuple] = []
        ts = w0
        while True:
            ts += rng.expovariate(lam_max)
            if ts >= w0 + DAY:
                return items
            if rng.random() < SERVICE_CURVE[_local_hour(ts, acct.tz)]:
                items.append((ts, _pick(rng, (1, 1, 1, 3, 3, 5, 7, 9))))

    return plan


def _batch_day(acct: Account) -> Plan:
    """A few cron-driven batch jobs a day, each thousands of requests in one burst."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        jobs = rng.randint(1, 3)
        items = []
        for j in range(jobs):
            ts = w0 + (2 + j * 24 / jobs) * HOUR + rng.uniform(0, 20 * 60)
            for _ in range(int(acct.rate / jobs * rng.uniform(0.7, 1.3))):
                items.append((ts,))
                ts += rng.expovariate(1.4)
        return items

    return plan


def _regular_times(rng: random.Random, start: float, end: float, per_day: float) -> Iterator[float]:
    """Fairly regular machine-driven arrivals (gamma gaps, CV about 0.4)."""
    shape = 6.0
    scale = DAY / per_day / shape
    ts = start + rng.uniform(0, 60)
    while ts < end:
        yield ts
        ts += rng.gammavariate(shape, scale)


def _round_robin_slots(cfg: SimConfig, rng: random.Random, n: int) -> Iterator[tuple[float, int]]:
    """A scheduler hands evenly spaced slots to accounts, each once per (shuffled) round."""
    gap = DAY / (cfg.hydra_rate_per_day * n)
    ts0 = cfg.start_ts + rng.uniform(0.3, 1.0) * gap
    order = list(range(n))
    for k in range(int(cfg.days * DAY / gap)):
        if k % n == 0:
            rng.shuffle(order)
        yield ts0 + (k + rng.uniform(-0.3, 0.3)) * gap, order[k % n]


def _lockstep_slots(cfg: SimConfig, rng: random.Random, n: int) -> Iterator[tuple[float, int]]:
    """All accounts fire together in a short burst once per period."""
    period = DAY / cfg.hydra_rate_per_day
    width = min(period / 4, 20 + 0.02 * n)
    burst = cfg.start_ts + rng.uniform(0, period)
    while burst < cfg.end_ts:
        offsets = sorted(rng.uniform(0, width) for _ in range(n))
        order = list(range(n))
        rng.shuffle(order)
        yield from ((burst + off, idx) for off, idx in zip(offsets, order, strict=True))
        burst += period * rng.uniform(0.98, 1.02)
