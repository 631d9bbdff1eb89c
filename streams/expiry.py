"""Forgetting idle accounts and fingerprints, so a worker's memory follows its active traffic.

A key whose latest event time lies more than `horizon` seconds behind its
partition's event-time watermark (the latest event time the partition has
shown) is deleted from its table, changelog included (a tombstone). Event
time decides, never wall-clock time: a replayed log expires what its own
clock says is idle.

Sweeping a million keys at once would stall the worker, so each batch a
handler processes sweeps a slice of `per_batch` keys of a snapshot of the
table's keys. A table write needs the partition of the batch being handled
(Faust routes the tombstone through the current event), so a slice deletes
only the idle keys of that partition; idle keys of other partitions wait for
a later round.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from faust.types import TableT

from distillguard.streams import metrics


class Sweeper:
    """Deletes a table's idle keys, a slice per handled batch."""

    def __init__(self, table: TableT, horizon: float, partition_of: Callable[[bytes], int],
                 per_batch: int = 500) -> None:
        self.table = table
        self.horizon = horizon
        self.partition_of = partition_of
        self.per_batch = per_batch
        self.pending: list[Any] = []
        #: partition -> latest event time applied there: the clock of expiry
        self.watermarks: defaultdict[int, float] = defaultdict(float)

    def sweep(self, partition: int, latest: float) -> int:
        """Advance `partition`'s watermark to `latest` (the batch's latest event time, 0 if
        none), then delete idle keys of the partition among the next slice; return how many."""
        watermark = self.watermarks[partition] = max(self.watermarks[partition], latest)
        if self.horizon <= 0 or not watermark:
            return 0
        if not self.pending:
            self.pending = list(self.table.keys())
        cutoff = watermark - self.horizon
        deleted = 0
        for _ in range(min(self.per_batch, len(self.pending))):
            key = self.pending.pop()
            record = self.table.get(key)  # a record's orjson bytes
            if (record is not None and orjson.loads(record)["last"] < cutoff
                    and self.partition_of(key.encode()) == partition):
                del self.table[key]
                deleted += 1
        if deleted:
            metrics.EXPIRED.labels(self.table.name).inc(deleted)
        return deleted
