"""An example suspension-pipeline consumer: read alerts, deduplicate, act by severity.

distillguard never acts itself. A pipeline that does reads `extraction.alerts`
with at-least-once delivery, so it sees redelivered and recomputed alerts:
they carry the same `alert_id` and must be acted on once. This consumer keeps
the ids it has handled (bounded, oldest forgotten first), maps each new
alert to an action by its `action` field, and hands it to a callback; the
`distillguard alerts` command prints the actions as JSON lines (a dry run).
Offsets are committed only after the callback returned, so a crash repeats
work rather than losing it, and the id set makes the repeat harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from distillguard.models.alerts import ACTIONS
from distillguard.streams.security import KafkaSecurity

logger = logging.getLogger(__name__)


@dataclass
class Deduplicator:
    """Remembers the last `capacity` alert ids."""

    capacity: int = 100_000
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_time(self, alert_id: str) -> bool:
        """Whether `alert_id` is new; it is remembered either way (a repeat is kept longer).

        >>> dedup = Deduplicator(capacity=2)
        >>> dedup.first_time("a1"), dedup.first_time("a1"), dedup.first_time("a2")
        (True, False, True)
        """
        if alert_id in self._seen:
            self._seen.move_to_end(alert_id)
            return False
        self._seen[alert_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


@dataclass(frozen=True, slots=True)
class Decision:
    """What the pipeline does about one alert."""

    alert_id: str
    kind: str
    subject: str
    accounts: tuple[str, ...]
    action: str
    severity: str
    acted: bool  # False: recorded only (below `act_from`)


def decide(alert: dict[str, Any], act_from: str) -> Decision:
    """The `Decision` on one alert: acted on when its action is `act_from` or stronger.

    >>> alert = {"alert_id": "a1", "kind": "account", "subject": "acct-1",
    ...          "accounts": ["acct-1"], "action": "throttle", "severity": "medium"}
    >>> decide(alert, "challenge").acted, decide(alert, "throttle").acted
    (False, True)
    """
    action = alert.get("action", "observe")
    acted = action in ACTIONS and ACTIONS.index(action) >= ACTIONS.index(act_from)
    return Decision(alert["alert_id"], alert["kind"], alert["subject"],
                    tuple(alert.get("accounts", ())), action, alert["severity"], acted)


async def follow_alerts(
    bootstrap_servers: str,
    topic: str,
    group_id: str,
    on_decision: Callable[[Decision], Awaitable[None]],
    act_from: str = "challenge",
    stop: asyncio.Event | None = None,
    dedup: Deduplicator | None = None,
) -> None:
    """Consume alerts until `stop` is set; call `on_decision` once per distinct alert."""
    if act_from not in ACTIONS:
        raise ValueError(f"act_from must be one of {ACTIONS}")
    dedup = dedup or Deduplicator()
    stop = stop or asyncio.Event()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers, group_id=group_id,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **KafkaSecurity.from_env().aiokafka_kwargs())
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        alert = orjson.loads(record.value)
                        alert_id = alert["alert_id"]
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        logger.warning("skipping a record that is not an alert at %s[%d]@%d",
                                       record.topic, record.partition, record.offset)
                        continue
                    if dedup.first_time(alert_id):
                        await on_decision(decide(alert, act_from))
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()
