"""Timing co-occurrence: a lockstep cluster links through its timing keys, however quiet
its accounts; students behind one NAT and independent customers' cron and batch jobs,
suspicious or not, never do.

Accounts go through the real pieces: each keeps its MinHash signature of active
buckets (`bucket_update`), its band keys (`band_keys`) go into key aggregates
(`update_aggregate`), and the links are what the campaign layer would get.
"""

from __future__ import annotations

import random

from distillguard.models.config import DetectorConfig
from distillguard.models.cooccurrence import SIGNATURE, band_keys, bucket_update, new_signature
from distillguard.models.events import DAY, HOUR
from distillguard.models.fingerprints import FingerprintAggregate, Tick, update_aggregate

T0 = 1_767_225_600.0
RULE = DetectorConfig().link_rule()


def linked_accounts(activity: dict[str, list[float]],
                    scores: dict[str, float]) -> dict[str, set[str]]:
    """Feed each account's event times; tick every 10 events; the accounts each key links."""
    sigs = {a: new_signature() for a in activity}
    aggs: dict[str, FingerprintAggregate] = {}
    linked: dict[str, set[str]] = {}
    events = sorted((ts, a) for a, times in activity.items() for ts in times)
    counts = dict.fromkeys(activity, 0)
    for ts, account in events:
        bucket_update(sigs[account], ts)
        counts[account] += 1
        if counts[account] % 10:
            continue
        keys = tuple(k for k in band_keys(sigs[account]) if k)
        tick = Tick(account, ts, scores[account], counts[account], keys, False)
        for key in keys:
            link = update_aggregate(aggs.setdefault(key, FingerprintAggregate()), key, tick, RULE)
            if link is not None:
                linked.setdefault(key, set()).update(a for a, _, _ in link.accounts)
    return linked


def test_a_lockstep_cluster_of_200_links_and_a_nat_of_150_does_not() -> None:
    rng = random.Random(7)
    # a round about every 5 minutes, at no particular second
    rounds = [T0 + 17.0 + i * 300.0 * rng.uniform(0.97, 1.03) for i in range(int(2 * DAY / 300))]
    lockstep = {f"bot-{i}": [r + rng.uniform(0, 3) for r in rounds if rng.random() < 0.9]
                for i in range(200)}
    # students behind one NAT: sessions in the day, requests a minute or so apart
    nat = {}
    for i in range(150):
        times = []
        for day in range(2):
            for _ in range(rng.randint(1, 4)):
                t = T0 + day * DAY + rng.uniform(8, 22) * HOUR
                times += [t + k * rng.uniform(20, 120) for k in range(rng.randint(5, 25))]
        nat[f"student-{i}"] = times
    # every account a suspect: only the timing keys can tell the bots from the students
    linked = linked_accounts({**lockstep, **nat}, dict.fromkeys([*lockstep, *nat], 0.5))
    named = set().union(*linked.values()) if linked else set()
    assert not any(a.startswith("student") for a in named), "a student was linked"
    assert len(named & set(lockstep)) >= 190, f"{len(named & set(lockstep))} of 200 bots linked"


def test_quiet_lockstep_accounts_link_and_cron_and_batch_customers_do_not() -> None:
    """No account is a suspect: a timing key links by its owners alone, so what must keep
    60 independent customers out is that their shared seconds are minute starts (cron) or
    the middle of long busy runs (batch jobs at the same hour), not scheduler rounds."""
    rng = random.Random(11)
    rounds = [T0 + 29.0 + i * 1_800.0 * rng.uniform(0.97, 1.03)
              for i in range(int(5 * DAY / 1_800))]
    lockstep = {f"bot-{i}": [r + rng.uniform(0, 4) for r in rounds if rng.random() < 0.95]
                for i in range(60)}
    cron = {f"cron-{i}": [T0 + h * HOUR + rng.uniform(0, 3) for h in range(int(5 * 24))]
            for i in range(30)}  # hourly jobs: each fires at the top of the hour, within seconds
    batch = {}
    for i in range(30):  # daily jobs at 02:00-02:20, a request every second or so for minutes
        times = []
        for day in range(5):
            t = T0 + day * DAY + 2 * HOUR + rng.uniform(0, 20 * 60)
            for _ in range(600):
                times.append(t)
                t += rng.expovariate(1.4)
        batch[f"batch-{i}"] = times
    accounts = {**lockstep, **cron, **batch}
    linked = linked_accounts(accounts, dict.fromkeys(accounts, 0.02))
    named = set().union(*linked.values()) if linked else set()
    assert not named - set(lockstep), f"customers linked: {sorted(named - set(lockstep))[:5]}"
    assert len(named) >= 57, f"{len(named)} of 60 quiet bots linked"


def test_busy_independent_accounts_do_not_share_timing_keys() -> None:
    """Accounts that start something every few minutes around the clock (server apps,
    busy agents) share many buckets by chance; with a row hash that is min-wise
    independent over a stream's narrow range of bucket ids, not enough to share a band
    (a linear hash linked 10 of these)."""
    rng = random.Random(5)
    busy = {}
    for i in range(300):
        t, times = T0 + rng.uniform(0, 600), []
        while t < T0 + 2 * DAY:
            times.append(t)
            t += 61 + rng.expovariate(1 / rng.uniform(60, 300))
        busy[f"app-{i}"] = times
    linked = linked_accounts(busy, dict.fromkeys(busy, 0.02))
    assert not linked, f"{len(set().union(*linked.values()))} busy accounts linked"



def test_thousands_of_sparse_accounts_share_no_timing_key() -> None:
    """A bucket whose hashes are low in every row of a band is the minimum of that band
    for nearly every account it falls in: with enough accounts it gathers owners enough to
    link, though they share one moment and nothing else (with bands of 3 rows drawn from
    one bucket, 15 of 10,000 such accounts shared a key). A band counts only when its rows
    come from different onsets, so sharing it means sharing ROWS moments."""
    rng = random.Random(13)
    sparse = {}
    for i in range(10_000):
        times = []
        for _ in range(rng.randint(12, 40)):
            t = T0 + rng.uniform(0, DAY)
            times += [t + k * rng.uniform(5, 40) for k in range(rng.randint(1, 3))]
        sparse[f"user-{i}"] = times
    linked = linked_accounts(sparse, dict.fromkeys(sparse, 0.02))
    assert not linked, f"{len(set().union(*linked.values()))} sparse accounts linked"


def test_a_signature_stored_by_an_earlier_release_starts_afresh() -> None:
    """Earlier signatures kept bare 31-bit minima, below every minimum that names its
    bucket: kept, they would never change again and their bands would never count."""
    old = [5, 100, *([1 << 31] * SIGNATURE)]
    bucket_update(old, T0 + 15.0)
    fresh = new_signature()
    bucket_update(fresh, T0 + 15.0)
    assert old == fresh


def test_a_scheduler_jittering_its_rounds_over_20_seconds_still_links() -> None:
    """Rounds every 5 minutes, each account sent at a random moment of a 20-second window,
    a random half of the accounts per round: onsets of one round fall into one or two
    buckets, so the accounts still share bands (with 10-second buckets none linked)."""
    rng = random.Random(7)
    rounds = [T0 + 17.0 + i * 300.0 * rng.uniform(0.97, 1.03) for i in range(int(2 * DAY / 300))]
    bots = {f"bot-{i}": [r + rng.uniform(0, 20) for r in rounds if rng.random() < 0.5]
            for i in range(200)}
    linked = linked_accounts(bots, dict.fromkeys(bots, 0.02))
    named = set().union(*linked.values()) if linked else set()
    assert len(named) >= 150, f"{len(named)} of 200 jittered bots linked"
