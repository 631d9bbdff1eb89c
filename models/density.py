"""A streaming density test on account-fingerprint edges, after MIDAS (Bhatia et al., 2020).

Every score tick is an edge from an account to each fingerprint key it uses.
A coordinated campaign shows as a micro-cluster: many edges into the same key
within a short stretch of event time, far above that key's own history.
MIDAS tests this with two count-min sketches (edges in the current time
bucket, and in all buckets so far) and a chi-squared statistic:

    score = (a - s / t)^2 * t^2 / (s * (t - 1))

where `a` is the key's count in the current bucket, `s` its total, and `t`
the number of buckets so far. Memory is constant (the sketches), whatever the
number of accounts and keys. Here the test runs on the edges' destination,
the fingerprint key, because that is where a campaign's accounts meet. The
sketches come from Apache DataSketches. Bucket boundaries follow event time,
so a replay gives the same scores.
"""

from __future__ import annotations

from datasketches import count_min_sketch


class EdgeBurst:
    """MIDAS chi-squared score of a fingerprint key's edges, per event-time bucket."""

    def __init__(self, bucket_seconds: float = 3600.0, hashes: int = 4,
                 buckets: int = 2048, seed: int = 9001) -> None:
        self.bucket_seconds = bucket_seconds
        self._shape = (hashes, buckets, seed)
        self._current = count_min_sketch(*self._shape)
        self._total = count_min_sketch(*self._shape)
        self._first: int | None = None
        self._bucket = 0

    def score(self, key: str, ts: float) -> float:
        """Count one edge into `key` at event time `ts` and return the key's burst score.

        >>> burst = EdgeBurst(bucket_seconds=3600.0)
        >>> [burst.score("tpl:a", hour * 3600.0) for hour in range(3)]  # one an hour: steady
        [0.0, 0.0, 0.0]
        >>> [round(burst.score("tpl:a", 7300.0), 2) for _ in range(4)]  # then more in hour 2
        [0.5, 1.6, 3.0, 4.57]
        """
        bucket = int(ts // self.bucket_seconds)
        if self._first is None:
            self._first = self._bucket = bucket
        if bucket > self._bucket:  # a late edge counts in the current bucket
            self._bucket = bucket
            self._current = count_min_sketch(*self._shape)
        self._current.update(key)
        self._total.update(key)
        t = self._bucket - self._first + 1
        if t < 2:
            return 0.0
        a, s = self._current.get_estimate(key), self._total.get_estimate(key)
        return (a - s / t) ** 2 * t * t / (s * (t - 1))
