"""Timing co-occurrence: accounts that repeatedly act within the same few seconds.

A scheduler driving many accounts fires them in rounds, so the accounts share
the seconds they are active in, round after round, however many IPs, ASNs and
prompt styles they rotate through (what SynchroTrap and CopyCatch look for).
People, even behind one NAT, almost never share more than a few such moments.

Each account keeps a MinHash signature of the set of `BUCKET_SECONDS` time
buckets in which it *started* acting (an onset: its first event after
`ONSET_GAP` seconds idle): O(SIGNATURE) integer work per onset, nothing
otherwise. Onsets, not every active bucket: a batch job busy for twenty
minutes fills a hundred buckets, and two customers' jobs that run at the same
hour would share most of them, while a scheduler's round starts every account
afresh. Buckets that open a wall-clock minute are skipped: cron schedules have
minute granularity, so every customer's cron job starts there, and sharing
them is no evidence. Two accounts' signatures agree in a row with
probability equal to the Jaccard similarity of their onset sets; banding the
rows (LSH) turns each band into a fingerprint key (`sync:<band>:<hash>`), so
accounts that start in the same rounds share a key, with at most BANDS keys
per tick. Sharing one with many other owners is evidence on its own
(`distillguard.models.fingerprints.GROUP_KINDS`).

A band counts only when its rows' minima come from ROWS different onsets. A
bucket whose hashes happen to be low in every row of a band is that band's
minimum for nearly every account it falls in, so without this rule the band
says no more than "acted in that one bucket", and the accounts sharing it grow
with the population (tests/models/test_cooccurrence.py has 10,000 sparse
accounts). Each row minimum therefore keeps its bucket in its low 32 bits.

>>> sig = new_signature()
>>> for ts in (25.0, 28.0, 110.0, 250.0, 330.0):  # onsets in buckets 1, 5, 16
...     bucket_update(sig, ts)  # (28 s: the same bucket; 250 s: the start of a minute)
>>> sig[0]  # onsets counted
3
>>> other = new_signature()
>>> for ts in (21.0, 105.0, 335.0):
...     bucket_update(other, ts)
>>> band_keys(sig, min_buckets=3) == band_keys(other, min_buckets=3)
True
>>> band_keys(sig)  # too few onsets to say anything yet
()
"""

from __future__ import annotations

import random

#: width of a time bucket: a scheduler's round, jittered over up to about 20 seconds, fits
#: in one or two (narrower buckets split a jittered round's onsets apart; the figures are
#: in the README's limitations)
BUCKET_SECONDS = 20.0
#: MinHash rows, in BANDS bands of ROWS rows each: a band agrees with probability J**ROWS,
#: so accounts acting in the same rounds (J near 1) share a band almost surely, while a
#: person whose few buckets overlap a campaign's by chance (J of a few percent) does not
BANDS = 8
ROWS = 3
SIGNATURE = BANDS * ROWS
#: onsets an account needs before its bands mean anything (chance agreement of few buckets)
MIN_BUCKETS = 12
#: idle seconds after which an account's next event is an onset
ONSET_GAP = 60.0
_GAP_BUCKETS = int(ONSET_GAP // BUCKET_SECONDS)
_MINUTE_BUCKETS = int(60 // BUCKET_SECONDS)  # every this many buckets one opens a minute
_LOW = 32  # a row minimum is (hash << _LOW) | bucket: ordered by hash, and it names its bucket
_BUCKET_MASK = (1 << _LOW) - 1
_EMPTY = 1 << 63  # above every row minimum (31-bit hash); 64 bits fit a stored JSON record
_BARE = 1 << 31  # minima of signatures stored before they named their buckets were at most this
_M64 = (1 << 64) - 1
_rng = random.Random(0x5EC0)  # fixed: every worker and replay must hash alike
SEEDS = tuple(_rng.getrandbits(64) for _ in range(SIGNATURE))


def _mix(z: int) -> int:
    """splitmix64's finaliser: every input bit moves every output bit.

    Why not a linear hash (a * bucket + b mod p): bucket ids of one stream lie in a
    narrow range, over which such a hash is far from min-wise independent: busy
    unrelated accounts shared bands (the full-scale benchmark linked 15 organic
    accounts so; tests/models/test_cooccurrence.py has 300 busy accounts).
    """
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def new_signature() -> list[int]:
    """An empty signature: [onsets, latest bucket, SIGNATURE minima]."""
    return [0, -(1 << 40), *([_EMPTY] * SIGNATURE)]


def bucket_update(sig: list[int], ts: float) -> None:
    """Add the bucket of event time `ts` to the account's signature if it is an onset.

    Events out of order (older than the latest) say nothing about idleness and
    are left out. A signature stored by an earlier release starts afresh.
    """
    if sig[2] <= _BARE:  # stored by an earlier release: its minima cannot name their onsets
        sig[:] = new_signature()
    bucket = int(ts // BUCKET_SECONDS)
    idle = bucket - sig[1]
    if idle <= 0:
        return
    sig[1] = bucket
    if idle < _GAP_BUCKETS or bucket % _MINUTE_BUCKETS == 0:
        return
    sig[0] += 1
    x = _mix(bucket & _M64)
    low = bucket & _BUCKET_MASK
    for i in range(SIGNATURE):
        h = (_mix(x ^ SEEDS[i]) >> 33 << _LOW) | low
        if h < sig[i + 2]:
            sig[i + 2] = h


def signature_rules() -> dict[str, float | int]:
    """The constants `bucket_update`'s compiled twin (`account_state.FOLD`) takes."""
    return {"BUCKET_SECONDS": BUCKET_SECONDS, "GAP_BUCKETS": _GAP_BUCKETS,
            "MINUTE_BUCKETS": _MINUTE_BUCKETS, "BARE": _BARE, "LOW": _LOW}


def band_keys(sig: list[int], min_buckets: int = MIN_BUCKETS) -> tuple[str, ...]:
    """The account's timing-cluster keys, once it has `min_buckets` onsets: one per band,
    in band order, "" for a band whose rows' minima do not come from different onsets."""
    if sig[0] < min_buckets:
        return ()
    keys = []
    for b in range(BANDS):
        band = tuple(sig[2 + b * ROWS:2 + (b + 1) * ROWS])
        distinct = len({m & _BUCKET_MASK for m in band}) == ROWS
        keys.append(f"sync:{b}:{hash(band) & 0xFFFFFFFFFFFF:x}" if distinct else "")
    return tuple(keys)
