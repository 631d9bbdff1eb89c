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

>>> sig = new_signature()
>>> for ts in (15.0, 18.0, 95.0, 250.0, 300.0):  # onsets in buckets 1, 9, 25; 300 s is :00
...     bucket_update(sig, ts)
>>> sig[0]  # onsets counted
3
>>> other = new_signature()
>>> for ts in (11.0, 91.0, 255.0):
...     bucket_update(other, ts)
>>> band_keys(sig, 3_600.0, min_buckets=3) == band_keys(other, 3_600.0, min_buckets=3)
True
>>> band_keys(sig, 3_600.0)  # too few onsets to say anything yet
()
>>> band_keys(sig, 240.0, min_buckets=3)  # an onset every 80 s: too busy to be a round
()
"""

from __future__ import annotations

import random

#: width of a time bucket: a round of a scheduler fits in one (or two neighbours)
BUCKET_SECONDS = 10.0
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
#: onsets per second of an account's span above which its bands are no evidence: busy
#: accounts start in a good share of all buckets, so any two of them share many by chance
#: (their Jaccard similarity grows with that share), while a scheduler's rounds are sparse
MAX_ONSET_RATE = 1 / 600
_GAP_BUCKETS = int(ONSET_GAP // BUCKET_SECONDS)
_MINUTE_BUCKETS = int(60 // BUCKET_SECONDS)  # every this many buckets one opens a minute
_PRIME = (1 << 31) - 1  # Mersenne: hashes stay short in the stored record
_rng = random.Random(0x5EC0)  # fixed: every worker and replay must hash alike
_A = tuple(_rng.randrange(1, _PRIME) for _ in range(SIGNATURE))
_B = tuple(_rng.randrange(0, _PRIME) for _ in range(SIGNATURE))


def new_signature() -> list[int]:
    """An empty signature: [onsets, latest bucket, SIGNATURE minima]."""
    return [0, -(1 << 40), *([_PRIME] * SIGNATURE)]


def bucket_update(sig: list[int], ts: float) -> None:
    """Add the bucket of event time `ts` to the account's signature if it is an onset.

    Events out of order (older than the latest) say nothing about idleness and
    are left out.
    """
    bucket = int(ts // BUCKET_SECONDS)
    idle = bucket - sig[1]
    if idle <= 0:
        return
    sig[1] = bucket
    if idle < _GAP_BUCKETS or bucket % _MINUTE_BUCKETS == 0:
        return
    sig[0] += 1
    for i in range(SIGNATURE):
        h = (_A[i] * bucket + _B[i]) % _PRIME
        if h < sig[i + 2]:
            sig[i + 2] = h


def band_keys(sig: list[int], span: float, min_buckets: int = MIN_BUCKETS) -> tuple[str, ...]:
    """The account's timing-cluster keys, one per band, once it has `min_buckets` onsets
    and at most `MAX_ONSET_RATE` of them a second over `span` (its first to latest event)."""
    if sig[0] < min_buckets or sig[0] > MAX_ONSET_RATE * max(span, 1.0):
        return ()
    rows = sig[2:]
    return tuple(f"sync:{b}:{hash(tuple(rows[b * ROWS:(b + 1) * ROWS])) & 0xFFFFFFFFFFFF:x}"
                 for b in range(BANDS))
