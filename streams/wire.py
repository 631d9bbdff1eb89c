"""What distillguard puts on Kafka: table codec, internal message framing, DLQ headers.

Table values and changelogs are orjson (plain records, never pickles).
Internal topics carry packed JSON arrays of text-free events, ticks and links; the
events and links topics also carry control messages (feedback, unlink), told
apart by a prefix that JSON never starts with.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import orjson
from aiokafka.partitioner import murmur2
from faust.serializers import codecs

from distillguard.models.events import Rejection

#: internal control messages share the events and links topics with data; JSON never starts so
FEEDBACK_MARK = b"F:"
UNLINK_MARK = b"U:"
#: items per internal message, and the bytes a pack stops growing at: packs stay well
#: below Kafka's 1 MiB default message limit (an item beyond it goes alone, as it would unpacked)
PACK_SIZE = 500
PACK_BYTES = 256 * 1024
#: the codec name tables are declared with
CODEC = "orjson"


class OrjsonCodec(codecs.Codec):
    """Table values and changelogs as orjson: plain records, never pickles."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def register_codec() -> None:
    """Make `CODEC` known to Faust (idempotent); `build_app` calls it."""
    codecs.register(CODEC, OrjsonCodec())


def packs(wires: list[bytes]) -> Iterator[bytes]:
    """Encoded items (events, ticks, links) as JSON arrays, in order: each of at most
    PACK_SIZE items, and closed before it would pass PACK_BYTES.

    >>> [len(orjson.loads(p)) for p in packs([b"1"] * 1200)]
    [500, 500, 200]
    >>> [len(orjson.loads(p)) for p in packs([b'"' + b"x" * 200_000 + b'"'] * 3)]
    [1, 1, 1]
    """
    start, size = 0, 0
    for i, wire in enumerate(wires):
        if i > start and (i - start == PACK_SIZE or size + len(wire) > PACK_BYTES):
            yield b"[" + b",".join(wires[start:i]) + b"]"
            start, size = i, 0
        size += len(wire) + 1
    if start < len(wires):
        yield b"[" + b",".join(wires[start:]) + b"]"


def dlq_headers(rejection: Rejection, topic: str, partition: int,
                offset: int) -> list[tuple[str, bytes]]:
    """The dead-letter headers the contract names."""
    return [
        ("x-dlq-reason", rejection.reason.encode()),
        ("x-dlq-error", rejection.error.encode("utf-8", "replace")),
        ("x-source-topic", topic.encode()),
        ("x-source-partition", str(partition).encode()),
        ("x-source-offset", str(offset).encode()),
    ]


def decoded(value: bytes | None) -> dict[str, Any] | None:
    """A table value back to its record (None stays None)."""
    return orjson.loads(value) if value is not None else None


def encoded(record: dict[str, Any] | None) -> bytes:
    """orjson bytes of `record`, copied to their size to be kept in a table.

    orjson returns bytes objects that hold a 16 KiB buffer whatever their
    length: kept a million times that is gigabytes. The copy holds only the
    record.
    """
    return bytes(memoryview(orjson.dumps(record)))


class Partitioner:
    """The partition Kafka's default partitioner gives a key (murmur2, as the Java client)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        # murmur2 is pure Python; active keys repeat
        self.of = functools.lru_cache(maxsize=1 << 16)(self._partition)

    def _partition(self, key: bytes) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % self.partitions
