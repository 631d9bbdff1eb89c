"""The topics the worker reads but does not own (input, feedback): never created, watched.

Why: a worker started before its input topic existed answered /readyz 200 (it had its
internal partitions) and read nothing for minutes. Two causes, both in the Kafka client:

- The group leader assigns only the partitions its client's metadata shows, so a missing
  topic is left out ("Ignoring missing topic"), and aiokafka rejoins for a new topic or
  partition only when a metadata refresh shows it: every `metadata_max_age_ms`, 5
  minutes, since nothing else refreshes it for a topic nobody is assigned.
- aiokafka (0.14) sends every metadata request with `allow_auto_topic_creation` set, so
  on a broker with `auto.create.topics.enable` the worker itself created the gateway's
  topic with the broker's default partition count.

(And once assigned, a new topic's first records could be dropped for good: see
`distillguard.streams.batching.BatchConsumer.refetch`.)

So the worker's consumer asks the broker never to create a topic (`NoAutoCreateClient`),
and `SourceWatch` checks the client's metadata every `CHECK_SECONDS`: a missing source
topic is logged once (a warning naming the setting), counted in
`distillguard_missing_topics` and listed on /readyz (503), and the metadata is refreshed at
every check until the topic exists; otherwise every `REFRESH_SECONDS`, so added partitions
are seen too. A refresh that shows a new topic or partition count makes the group leader's
client rejoin the group (aiokafka's own reaction to a changed metadata snapshot), and the
rebalance assigns the new partitions: reading starts within seconds, without a restart
(tests/streams/test_late_topic.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from distillguard.streams import metrics

logger = logging.getLogger(__name__)

#: seconds between checks of the client's metadata (and refreshes while a topic is missing)
CHECK_SECONDS = 2.0
#: seconds between metadata refreshes while every source topic exists (aiokafka's: 300)
REFRESH_SECONDS = 10.0


class NoAutoCreateClient(AIOKafkaClient):
    """aiokafka's client, asking the broker never to create a topic its metadata request names.

    aiokafka 0.14's consumer has no `allow_auto_create_topics`; this is its
    `_metadata_update` with the request's flag cleared, and nothing else changed.
    """

    async def _metadata_update(self, cluster_metadata: Any, topics: Any) -> bool:
        request = MetadataRequest(list(topics) if topics else None,
                                  allow_auto_topic_creation=False)
        nodeids: list[Any] = [b.nodeId for b in self.cluster.brokers()]
        bootstrap_id = ("bootstrap", ConnectionGroup.DEFAULT)
        if bootstrap_id in self._conns:
            nodeids.append("bootstrap")
        random.shuffle(nodeids)
        for node_id in nodeids:
            conn = await self._get_conn(node_id)
            if conn is None:
                continue
            try:
                metadata = await conn.send(request)
            except (KafkaError, TimeoutError) as err:
                logging.getLogger("aiokafka").warning(
                    "Unable to request metadata from node with id %s: %r", node_id, err)
                continue
            if not metadata.brokers:
                return False
            cluster_metadata.update_metadata(metadata)
            if bootstrap_id in self._conns and len(self.cluster.brokers()):
                self._conns.pop(bootstrap_id).close()
            return True
        logging.getLogger("aiokafka").error("Unable to update metadata from %s", nodeids)
        cluster_metadata.failed_update(None)
        return False


def forbid_auto_create(consumer: Any) -> None:
    """Make an (unstarted) aiokafka consumer's client a `NoAutoCreateClient`."""
    consumer._client.__class__ = NoAutoCreateClient


class _Reported(logging.Filter):
    """Drop aiokafka's per-refresh error line for a source topic `SourceWatch` reports itself.

    aiokafka logs "Topic ... not found in cluster metadata" (or "... is not authorized")
    at ERROR on every metadata update while the topic is missing: with a refresh every
    check, a line every two seconds saying what the one warning said.
    """

    MESSAGES = ("Topic %s not found in cluster metadata",
                "Topic %s is not authorized for this client")

    def __init__(self, topics: Mapping[str, str]) -> None:
        super().__init__()
        self.topics = topics

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (record.msg in self.MESSAGES and args and args[0] in self.topics)


class SourceWatch:
    """Whether the source topics exist, as the worker's Kafka client sees them.

    `sources`: topic -> the setting that names it (as the warning shows it). `missing`
    lists the subscribed ones the client's metadata lacked at two checks in a row, with a
    refresh in between (one stale answer is no proof); /readyz reads it.
    """

    def __init__(self, app: faust.App, sources: Mapping[str, str],
                 interval: float = CHECK_SECONDS) -> None:
        self.app = app
        self.sources = dict(sources)
        self.missing: list[str] = []
        self.absent: set[str] = set()  # lacking at the latest check (a refresh followed)
        self.partitions: dict[str, int] = {}  # topic -> partition count last seen
        self.warned: set[str] = set()
        self.failed = False
        self.next_refresh = 0.0
        logging.getLogger("aiokafka.cluster").addFilter(_Reported(self.sources))

        @app.timer(interval=interval)
        async def watch_sources() -> None:
            try:
                self.check()
            except Exception:  # never stop the worker over a check
                if not self.failed:
                    logger.exception("cannot check the source topics' metadata")
                self.failed = True

    def check(self) -> None:
        """One check: update `missing`, the gauge and the log; refresh the metadata if due."""
        thread = getattr(self.app.consumer, "_thread", None)
        client = getattr(thread, "_consumer", None)  # aiokafka's consumer, once started
        if thread is None or client is None:
            return
        subscribed = client.subscription()
        counts = {topic: len(client.partitions_for_topic(topic) or ())
                  for topic in self.sources if topic in subscribed}
        absent = {topic for topic, n in counts.items() if not n}
        missing = [topic for topic in counts if topic in absent and topic in self.absent]
        self.absent = absent
        for topic in missing:
            if topic not in self.warned:
                self.warned.add(topic)
                self._warn(topic, client._client.cluster.unauthorized_topics)
        for topic, n in counts.items():
            before = self.partitions.get(topic)
            if n and topic in self.warned:
                self.warned.discard(topic)
                logger.info("topic %r exists now (%d partitions)", topic, n)
            elif n and before and n != before:
                logger.info("topic %r has %d partitions now (had %d)", topic, n, before)
            if n:
                self.partitions[topic] = n
        self.missing = missing
        metrics.MISSING_TOPICS.set(len(missing))
        now = time.monotonic()
        if absent or now >= self.next_refresh:
            self.next_refresh = now + REFRESH_SECONDS
            # the client lives on the consumer thread's event loop: wake its metadata
            # synchronizer there; the next check sees the answer
            thread.thread_loop.call_soon_threadsafe(client._client.force_metadata_update)

    def _warn(self, topic: str, unauthorized: set[str]) -> None:
        """The one warning about a missing topic, naming the setting."""
        setting = self.sources[topic]
        if topic in unauthorized:
            logger.warning("topic %r (%s) is not authorized for this worker: nothing is read "
                           "from it and /readyz answers 503 until the worker may Describe and "
                           "Read it (Kafka ACL)", topic, setting)
        else:
            logger.warning("topic %r (%s) does not exist: nothing is read from it and /readyz "
                           "answers 503 until it does. Check the setting, or create the topic "
                           "(the worker never creates a topic it reads); it is read within "
                           "seconds of its creation, without a restart", topic, setting)
