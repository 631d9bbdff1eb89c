"""The example suspension-pipeline consumer, against a real broker."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from distillguard.streams.admin import ensure_topics
from distillguard.streams.alert_consumer import Decision, Deduplicator, decide, follow_alerts


def alert(alert_id: str, action: str, severity: str, subject: str = "acct-1") -> dict:
    return {"alert_id": alert_id, "kind": "account", "subject": subject, "accounts": [subject],
            "action": action, "severity": severity}


def test_deduplicator_forgets_oldest_beyond_capacity() -> None:
    d = Deduplicator(capacity=2)
    assert d.first_time("a") and d.first_time("b") and not d.first_time("a")
    assert d.first_time("c")  # evicts b (a was used more recently)
    assert d.first_time("b") and not d.first_time("c")


def test_decide_acts_from_the_chosen_action() -> None:
    assert decide(alert("1", "suspend", "critical"), "challenge").acted
    assert not decide(alert("2", "throttle", "medium"), "challenge").acted
    assert decide(alert("3", "observe", "low"), "observe").acted


@pytest.mark.integration
def test_follows_alerts_once_each(kafka_bootstrap: str) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    records = [alert("a1", "observe", "low"), alert("a2", "suspend", "critical"),
               alert("a1", "observe", "low"), alert("a2", "suspend", "critical")]

    async def scenario() -> list[Decision]:
        await ensure_topics(kafka_bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for rec in records:
                await producer.send_and_wait(topic, orjson.dumps(rec), key=b"acct-1")
            await producer.send_and_wait(topic, b"not json", key=b"x")
        finally:
            await producer.stop()
        seen: list[Decision] = []
        stop = asyncio.Event()

        async def on_decision(d: Decision) -> None:
            seen.append(d)

        task = asyncio.create_task(follow_alerts(kafka_bootstrap, topic, f"g-{topic}",
                                                 on_decision, stop=stop))
        for _ in range(200):
            await asyncio.sleep(0.1)
            if len(seen) >= 2:
                break
        await asyncio.sleep(1.0)  # time for a wrong third decision to show up
        stop.set()
        await asyncio.wait_for(task, 30)
        return seen

    seen = asyncio.run(scenario())
    assert [(d.alert_id, d.acted) for d in seen] == [("a1", False), ("a2", True)]
