"""Topic creation, so the worker, the demo and tests start from topics of known partition counts.

`internal_topics` lists the topics a Faust app needs before its consumer group forms: its
agents' internal topics, its tables' changelogs and the leader-election topic, each with the
partitions and configuration Faust itself would declare. The worker creates them before Faust
starts: otherwise the group leader can compute an assignment before Faust has declared a topic,
log "Ignoring missing topic", and leave that topic's partitions unowned until a later rebalance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from distillguard.streams.security import KafkaSecurity


@dataclass(frozen=True)
class TopicSpec:
    """How to create a topic; an existing topic is never altered."""

    partitions: int
    replication: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


async def ensure_topics(bootstrap_servers: str, topics: Mapping[str, int | TopicSpec],
                        *, request_timeout_ms: int = 40_000) -> list[str]:
    """Create each missing topic (partition count or spec); existing topics are left as they are.

    Returns the names created. A topic another client creates meanwhile counts as existing;
    any other refusal by the broker raises a `KafkaError` naming the topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                request_timeout_ms=request_timeout_ms,
                                **KafkaSecurity.from_env().aiokafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = {name: spec if isinstance(spec, TopicSpec) else TopicSpec(spec)
                 for name, spec in topics.items() if name not in existing}
        if not specs:
            return []
        response = await admin.create_topics([
            NewTopic(name, num_partitions=s.partitions, replication_factor=s.replication,
                     topic_configs=dict(s.config)) for name, s in specs.items()])
        created = []
        for name, code, *message in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                detail = f": {message[0]}" if message and message[0] else ""
                raise for_code(code)(f"cannot create topic {name!r}{detail}")
        return created
    finally:
        await admin.close()


def internal_topics(app: Any) -> dict[str, TopicSpec]:
    """The topics a Faust app declares for itself, as Faust would create them.

    `app` is a `faust.App` with its agents and tables defined: internal agent topics, table
    changelogs (compacted, as Faust makes them) and the `<id>-__assignor-__leader` topic.
    """
    conf = app.conf
    topics = [agent.channel for agent in app.agents.values()]
    topics += [table.changelog_topic for table in app.tables.values()]
    specs: dict[str, TopicSpec] = {}
    for topic in topics:
        if not getattr(topic, "internal", False):
            continue  # external topics (input, feedback) belong to whoever produces them
        config: dict[str, str] = {}
        policy = [name for name, on in (("compact", topic.compacting),
                                        ("delete", topic.deleting)) if on]
        if policy:
            config["cleanup.policy"] = ",".join(policy)
        if topic.retention:
            config["retention.ms"] = str(int(_seconds(topic.retention) * 1000))
        config.update({k: str(v) for k, v in (topic.config or {}).items()})
        spec = TopicSpec(partitions=topic.partitions or conf.topic_partitions,
                         replication=topic.replicas or conf.topic_replication_factor or 1,
                         config=config)
        for name in topic.topics:
            specs[name] = spec
    if not conf.topic_disable_leader:
        specs[f"{conf.id}-__assignor-__leader"] = TopicSpec(
            partitions=1, replication=conf.topic_replication_factor or 1)
    return specs


def _seconds(value: Any) -> float:
    from mode.utils.times import want_seconds

    return float(want_seconds(value))
