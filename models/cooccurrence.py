"""Timing co-occurrence: accounts that repeatedly act within the same few seconds.

A scheduler driving many accounts fires them in rounds, so the accounts share
the seconds they are active in, round after round, however many IPs, ASNs and
prompt styles they rotate through (what SynchroTrap and CopyCatch look for).
People, even behind one NAT, almost never share more than a few such moments.

Each account keeps a MinHash signature of the set of `BUCKET_SECONDS` time
buckets it was active in: O(SIGNATURE) integer work when an event opens a new
bucket, nothing otherwise. Two accounts' signatures agree in a row with
probability equal to the Jaccard similarity of their bucket sets; banding the
rows (LSH) turns each band into a fingerprint key (`sync:<band>:<hash>`), so
accounts with similar activity times share a key, judged by the campaign layer
like any shared infrastructure (suspects must dominate it), with at most BANDS
keys per tick.

>>> sig = new_signature()
>>> for ts in (0.0, 3.0, 12.0, 40.0):  # buckets 0, 0, 1, 4
...     bucket_update(sig, ts)
>>> sig[0]  # distinct buckets seen
3
>>> other = new_signature()
>>> for ts in (1.0, 14.0, 41.0):
...     bucket_update(other, ts)
>>> band_keys(sig, min_buckets=3) == band_keys(other, min_buckets=3)
True
>>> band_keys(sig)  # too few buckets to say anything yet
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
#: buckets an account needs before its bands mean anything (chance agreement of few buckets)
MIN_BUCKETS = 12
_PRIME = (1 << 31) - 1  # Mersenne: hashes stay short in the stored record
_rng = random.Random(0x5EC0)  # fixed: every worker and replay must hash alike
_A = tuple(_rng.randrange(1, _PRIME) for _ in range(SIGNATURE))
_B = tuple(_rng.randrange(0, _PRIME) for _ in range(SIGNATURE))


def new_signature() -> list[int]:
    """An empty signature: [distinct buckets, last bucket, SIGNATURE minima]."""
    return [0, -1, *([_PRIME] * SIGNATURE)]


def bucket_update(sig: list[int], ts: float) -> None:
    """Add the bucket of event time `ts` to the account's signature.

    Only a change of bucket from the previous event costs work; events arriving
    out of order into an older bucket are hashed again, which MinHash absorbs
    (the minimum of a repeated value does not change).
    """
    bucket = int(ts // BUCKET_SECONDS)
    if bucket == sig[1]:
        return
    sig[1] = bucket
    sig[0] += 1
    for i in range(SIGNATURE):
        h = (_A[i] * bucket + _B[i]) % _PRIME
        if h < sig[i + 2]:
            sig[i + 2] = h


def band_keys(sig: list[int], min_buckets: int = MIN_BUCKETS) -> tuple[str, ...]:
    """The account's timing-cluster keys, one per band, once it has `min_buckets` buckets."""
    if sig[0] < min_buckets:
        return ()
    rows = sig[2:]
    return tuple(f"sync:{b}:{hash(tuple(rows[b * ROWS:(b + 1) * ROWS])) & 0xFFFFFFFFFFFF:x}"
                 for b in range(BANDS))
