"""The worker's batch handlers: the detector's steps over tables, wired to topics.

Each handler takes one fetched batch of one partition of one topic
(`distillguard.streams.batching`) and runs a step of the shared
`distillguard.models.detector.Detector`:

- `ingest` validates input records and dead-letters the bad. A good record
  already on its account's table partition (the gateway keyed it by account,
  the input has as many partitions as the tables) is scored right there; the
  others go, text-free and packed per partition, to the events topic.
- `score` applies forwarded events and feedback to the accounts table
  (`AccountBatch`, step 1) and sends the score ticks, packed per fingerprint
  partition, to the fingerprints topic.
- `aggregate` folds ticks into the fingerprints table (step 2) and sends
  links, packed per batch, to the one-partition links topic.
- `campaigns` folds links into the campaign graph (step 3) and sends the
  campaign alerts; `rebuild` refolds the links topic's history after a
  rebalance.
- `feedback` authenticates analyst feedback (when a feedback key is set) and
  routes it to where its subject's state lives.

Nothing here imports the app: topics, tables and the partition count come in
through `Wiring`, so the handlers run under Faust's test context, a real
worker, or plain test doubles alike. Prompt text never reaches a handler
(`distillguard.models.events.parse_event` drops it; `Detector.parse` holds a sample of
its content in memory, `distillguard.models.content`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.types import Message, TableT

from distillguard.models.detector import Detector, Record
from distillguard.models.events import Event, Rejection
from distillguard.models.feedback import BAD_SIGNATURE, Feedback, check_signature, parse_feedback
from distillguard.models.fingerprints import Link, Tick, applied
from distillguard.streams import metrics
from distillguard.streams.expiry import Sweeper
from distillguard.streams.wire import (
    FEEDBACK_MARK,
    UNLINK_MARK,
    Partitioner,
    decoded,
    dlq_headers,
    encoded,
    packs,
)

logger = logging.getLogger(__name__)
Alert = dict[str, Any]


class Sink(Protocol):
    """A topic the handlers send to (Faust's `TopicT.send`)."""

    async def send(self, *, key: bytes | None = None, value: bytes | None = None,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Any:
        """Queue one record; the result is its delivery future, to await the broker's answer."""
        ...


@dataclass(frozen=True)
class Wiring:
    """What the handlers read and write: topics, tables and the input's partition count."""

    events: Sink
    fingerprints: Sink
    links: Sink
    alerts: Sink
    dlq: Sink
    accounts_table: TableT
    fingerprints_table: TableT
    campaign_of: MutableMapping[str, str | None]
    #: partitions of a topic as the Kafka client knows them, None while unknown
    partition_count: Callable[[str], int | None]


class Handlers:
    """The batch handlers of one worker, sharing its detector and its wiring."""

    def __init__(self, detector: Detector, wiring: Wiring, partitions: int,
                 idle_horizon: float, feedback_key: bytes | None = None) -> None:
        self.detector = detector
        #: HMAC-SHA256 key every feedback record must be signed with; None: unauthenticated
        self.feedback_key = feedback_key
        self.wiring = wiring
        self.partitions = partitions
        self.partition_of = Partitioner(partitions).of
        self.idle_accounts = Sweeper(wiring.accounts_table, idle_horizon, self.partition_of)
        self.idle_fingerprints = Sweeper(wiring.fingerprints_table, idle_horizon,
                                         self.partition_of)

    async def send_alert(self, alert: Alert) -> None:
        """Count an alert and send it to the alerts topic, keyed by its subject."""
        metrics.ALERTS.labels(alert["kind"], alert["severity"], alert["action"]).inc()
        await self.wiring.alerts.send(key=alert["subject"].encode(), value=orjson.dumps(alert))

    async def dead_letter(self, msg: Message, value: bytes | None, rejection: Rejection) -> None:
        """Send a rejected record to the DLQ; if the broker refuses it, send its headers alone."""
        metrics.DEAD_LETTERS.labels(rejection.reason).inc()
        headers = dlq_headers(rejection, msg.topic, msg.partition, msg.offset)
        dlq = self.wiring.dlq
        try:
            delivery = await dlq.send(key=msg.key, value=value or b"", headers=headers)
            await delivery  # wait: a refused record must be noticed here, not lost in a buffer
        except (KafkaError, ProducerSendError) as exc:
            logger.error("dead-letter send failed (%s); sending the headers without the value",
                         type(exc).__name__)
            note = Rejection(rejection.reason, f"{rejection.error}; the original "
                             f"{len(value or b'')} bytes could not be forwarded: {exc}")
            # a broker that refuses even this is down: let the error surface loudly
            await (await dlq.send(key=msg.key, value=b"",
                                  headers=dlq_headers(note, msg.topic, msg.partition, msg.offset)))

    def in_place(self, topic: str) -> bool:
        """Whether `topic`'s partition p holds exactly the accounts of table partition p.

        True when the topic has as many partitions as the tables: Faust then assigns
        partition p of the topic, of the events topic and of the changelogs to one worker
        (co-partitioning), and a record keyed by its account (the contract's key, hashed
        by Kafka's default partitioner) is already where its account's state lives.
        """
        return self.wiring.partition_count(topic) == self.partitions  # None: unknown

    async def ingest(self, messages: Sequence[Message]) -> None:
        """Validate records; dead-letter the bad; score the good where their state lives.

        A record on the partition its account's table partition has (see `in_place`)
        is scored here, in this batch: no second trip through Kafka. The others (no
        key, another key, another partition count) go to the events topic, packed: one
        internal message per events partition per batch, each account's events in
        input order, to the worker owning the account's state.
        """
        forward: dict[int, list[bytes]] = defaultdict(list)
        here: list[tuple[Event, Message]] = []
        direct = self.in_place(messages[0].topic)
        for msg in messages:
            parsed = self.detector.parse(msg.value)
            if isinstance(parsed, Rejection):
                metrics.RECORDS.labels("rejected").inc()
                await self.dead_letter(msg, msg.value, parsed)
                continue
            parsed.src = [msg.partition, msg.offset]  # see account_state.seen_before
            partition = self.partition_of(parsed.account_id.encode())
            if direct and partition == msg.partition:
                here.append((parsed, msg))
            else:
                forward[partition].append(parsed.to_wire())
        metrics.RECORDS.labels("accepted").inc(len(here) + sum(map(len, forward.values())))
        for partition, wires in forward.items():
            for pack in packs(wires):
                await self.wiring.events.send(value=pack, partition=partition)
        if here:
            batch = AccountBatch(self)
            await batch.apply(here)
            await batch.finish(messages[0].partition)

    async def score(self, messages: Sequence[Message]) -> None:
        """Apply a batch of forwarded events and feedback to account state."""
        batch = AccountBatch(self)
        for msg in messages:
            value = msg.value or b""
            if value.startswith(FEEDBACK_MARK):  # in order with the account's events
                await batch.feedback(Feedback(**orjson.loads(value[len(FEEDBACK_MARK):])))
            else:
                await batch.apply([(Event(**doc), msg) for doc in orjson.loads(value)])
        await batch.finish(messages[0].partition)

    async def aggregate(self, messages: Sequence[Message]) -> None:
        """Fold packed ticks into fingerprint aggregates; one table write per key per batch.

        The batch's links go to the links topic packed, as ticks come: a busy key links
        each of its members on every tick, and a message per link cost more to send than
        the graph takes to fold it.
        """
        table = self.wiring.fingerprints_table
        records: dict[str, Record | None] = {}
        changed: set[str] = set()
        links: list[bytes] = []
        for msg in messages:
            redelivered: dict[str, bool] = {}
            for keys, doc in orjson.loads(msg.value or b"[]"):
                tick = Tick.from_doc(doc)
                if isinstance(keys, str):  # a pack from before ticks went once per partition
                    keys = [keys]
                for key in keys:
                    record = records[key] if key in records else decoded(table.get(key))
                    if redelivered.setdefault(key, applied(record, msg.offset)):
                        continue  # this message reached the key's aggregate before a crash
                    records[key], link = self.detector.aggregate(tick, key, record, msg.offset)
                    changed.add(key)
                    if link is not None:
                        links.append(orjson.dumps(link))
        for pack in packs(links):
            await self.wiring.links.send(key=b"links", value=pack)
        # table writes after the sends, with no await among them (as `AccountBatch.finish`)
        latest = 0.0
        for key in changed:
            record = records[key]
            assert record is not None  # folded above
            table[key] = encoded(record)
            latest = max(latest, record["last"])
        self.idle_fingerprints.sweep(messages[0].partition, latest)

    def fold_link(self, value: bytes, publish: bool = True) -> list[Alert]:
        """Apply one record of the links topic to the graph; return the alerts it causes.

        A record is a pack of links (a JSON array, in the order they were made), one
        link (a JSON object, as older workers wrote them: the topic's history keeps
        them) or an allow-list. `publish` writes account -> campaign into the global
        table; a rebuild does not (the table's changelog already holds it, and no agent
        event is current then).
        """
        if value.startswith(UNLINK_MARK):  # an account allow-list, as older workers wrote it
            self.detector.graph.remove_account(value[len(UNLINK_MARK):].decode())
            return []
        if value.startswith(FEEDBACK_MARK):  # an account's or a campaign's allow-list
            self.detector.graph_feedback(Feedback(**orjson.loads(value[len(FEEDBACK_MARK):])))
            return []
        doc = orjson.loads(value)
        alerts: list[Alert] = []
        for item in doc if isinstance(doc, list) else [doc]:
            link = Link(item["key"], item["ts"], tuple(tuple(a) for a in item["accounts"]),
                        item["stats"])
            alerts += self.detector.link(link)
            if publish:
                campaign_of = self.wiring.campaign_of
                for account, _, _ in link.accounts:
                    campaign = self.detector.graph.campaign_of(account)
                    if campaign_of.get(account) != campaign:  # most links repeat what it holds
                        campaign_of[account] = campaign
        return alerts

    async def campaigns(self, messages: Sequence[Message]) -> None:
        """Fold a batch of links into the campaign graph; send the alerts they cause."""
        for msg in messages:
            for alert in self.fold_link(msg.value or b""):
                await self.send_alert(alert)
        metrics.ACTIVE_CAMPAIGNS.set(len(self.detector.graph.campaigns()))

    async def feedback(self, msg: Message) -> None:
        """Route feedback to where its subject's state lives, in order with its events.

        With a feedback key, a record without a valid signature of its bytes
        (`distillguard.models.feedback.check_signature`) is dead-lettered as
        `bad_signature` before it is parsed, and changes nothing.
        """
        if self.feedback_key is not None:
            wrong = check_signature(self.feedback_key, msg.value, msg.headers)
            if wrong is not None:
                metrics.FEEDBACK.labels("rejected").inc()
                await self.dead_letter(msg, msg.value, Rejection(BAD_SIGNATURE, wrong))
                return
        fb = parse_feedback(msg.value)
        if isinstance(fb, str):
            metrics.FEEDBACK.labels("rejected").inc()
            await self.dead_letter(msg, msg.value,
                                   Rejection(fb, "not a feedback record of the contract"))
            return
        metrics.FEEDBACK.labels(fb.label).inc()
        if fb.allowlists:  # the audit trail of who silenced what (ids only, never text)
            logger.info("feedback: %s %r allow-listed by %r (ts %s)", fb.subject_kind,
                        fb.subject, fb.source, fb.ts)
        body = FEEDBACK_MARK + orjson.dumps(fb)
        if fb.subject_kind == "account":
            subject = fb.subject.encode()
            await self.wiring.events.send(key=subject, value=body,
                                          partition=self.partition_of(subject))
        elif fb.allowlists:
            await self.wiring.links.send(key=b"links", value=body)


class AccountBatch:
    """One batch of one accounts partition: records read once, written once per account."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.detector = handlers.detector
        self.started = time.perf_counter()
        self.records: dict[str, Record | None] = {}
        self.changed: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.ticks: dict[int, list[bytes]] = defaultdict(list)  # partition -> [keys, tick]
        self.latest = 0.0

    def record_of(self, account: str) -> Record | None:
        """The account's record: read from the table once per batch, then the batch's own."""
        if account not in self.records:
            self.records[account] = decoded(self.handlers.wiring.accounts_table.get(account))
        return self.records[account]

    async def feedback(self, fb: Feedback) -> None:
        """An analyst's word on an account; an allow-list also unlinks it in the graph.

        A record the account has applied already leaves its record untouched. Its
        unlink is sent again all the same (the graph ignores a repeat): the first may
        not have reached Kafka before a crash.
        """
        record = self.record_of(fb.subject)
        updated = self.detector.account_feedback(fb, record)
        if updated is not record:
            self.records[fb.subject] = updated
            self.changed.add(fb.subject)
        if fb.allowlists:  # the whole record: the graph keeps who allow-listed its members
            await self.handlers.wiring.links.send(key=b"links",
                                                  value=FEEDBACK_MARK + orjson.dumps(fb))

    async def apply(self, events: Sequence[tuple[Event, Message]]) -> None:
        """Run step 1 on events, each with the message it came in (for a dead letter)."""
        for ev, msg in events:
            try:
                outcome = self.detector.score(ev, self.record_of(ev.account_id))
            except Exception as exc:  # a detector bug must not stop the worker or lose it
                logger.exception("detector failed on an event; dead-lettering it")
                await self.handlers.dead_letter(
                    msg, ev.to_wire(), Rejection("internal_error", f"{type(exc).__name__}: {exc}"))
                continue
            if outcome.duplicate:
                self.outcomes["duplicate"] += 1
                continue
            self.outcomes["late" if outcome.late else "counted"] += 1
            self.latest = max(self.latest, ev.ts)
            self.records[ev.account_id] = outcome.record
            self.changed.add(ev.account_id)
            for alert in outcome.alerts:
                await self.handlers.send_alert(alert)
            if outcome.tick is not None:
                metrics.SCORE_TICKS.inc()
                metrics.SCORES.observe(outcome.tick.score)
                self.route(outcome.tick)

    def route(self, tick: Tick) -> None:
        """Queue `tick` once for each fingerprint partition, naming the keys it holds there.

        A tick names several keys over a few partitions: sending it once per
        partition rather than once per key cuts what is encoded, sent and decoded.
        """
        keys_at: dict[int, list[str]] = defaultdict(list)
        for key in tick.keys:
            keys_at[self.handlers.partition_of(key.encode())].append(key)
        body = orjson.dumps(tick)  # encoded once for all its partitions
        for tick_partition, keys in keys_at.items():
            self.ticks[tick_partition].append(b"[" + orjson.dumps(keys) + b"," + body + b"]")

    async def finish(self, partition: int) -> None:
        """Send the ticks, then write the tables, expire idle accounts, count."""
        wiring = self.handlers.wiring
        for tick_partition, wires in self.ticks.items():
            for pack in packs(wires):
                await wiring.fingerprints.send(value=pack, partition=tick_partition)
        # table writes last, with no await among them: a stop mid-batch leaves either all
        # of them or none, and never state whose ticks were not sent
        for account in self.changed:
            wiring.accounts_table[account] = encoded(self.records[account])
        self.handlers.idle_accounts.sweep(partition, self.latest)
        for outcome_name, n in self.outcomes.items():
            metrics.EVENTS.labels(outcome_name).inc(n)
        if self.latest:
            metrics.EVENT_TIME_LAG.set(time.time() - self.latest)
        metrics.MODEL_WARM.set(1 if self.detector.accounts.population.warm else 0)
        metrics.PROCESSING.observe(time.perf_counter() - self.started)
