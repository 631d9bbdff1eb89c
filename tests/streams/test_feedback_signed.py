"""Signed feedback through a real broker: only records signed with the worker's key apply.

One worker runs with a feedback key read from a key file. The feedback topic gets
N unsigned and M badly signed allow-lists (the attack: silence an account without
the key) and K signed ones, one of them twice (a replay) and one sent by
`distillguard feedback --send`. The dead-letter topic must
hold exactly the N + M, each `bad_signature` with its original bytes; the counters
must say so; and only the K signed allow-lists may show in the accounts table, each
with its source. The key must appear in neither the log nor /metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.models.feedback import SIGNATURE_HEADER, feedback_record, sign
from distillguard.streams.cli import main
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import fetch, total
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import make_producer, produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import counted, latest_records, wait_until

pytestmark = pytest.mark.integration

KEY = b"integration-feedback-key-6b1f0e2d9c8a7b6c"
TS = 1_767_230_000.0
EVENTS_PER_ACCOUNT = 12
#: accounts the attacker tries to allow-list without the key, and those an analyst does
FORGED = [f"acct-forged-{i}" for i in range(5)]
SIGNED = [f"acct-signed-{i}" for i in range(3)]
#: allow-listed through `distillguard feedback --send`
CLI_ACCOUNT = "acct-signed-cli"


def allow(account: str, source: str) -> bytes:
    return feedback_record("account", account, "benign", TS, source, allowlist=True)


def feedback_records() -> tuple[list[tuple[bytes, bytes, list[tuple[str, bytes]]]], int, int, int]:
    """(key, value, headers) in produce order, and N (unsigned), M (badly signed), K (signed)."""
    unsigned = [(a.encode(), allow(a, "attacker"), []) for a in FORGED]
    tampered = allow(FORGED[0], "attacker")
    good_sig = sign(KEY, allow(SIGNED[0], "alice")).encode()
    badly_signed = [
        (FORGED[1].encode(), allow(FORGED[1], "attacker"),           # a guessed key
         [(SIGNATURE_HEADER, sign(b"guessed", allow(FORGED[1], "attacker")).encode())]),
        (FORGED[2].encode(), allow(FORGED[2], "attacker"),           # a signature lifted from
         [(SIGNATURE_HEADER, good_sig)]),                             # another record
        (FORGED[3].encode(), allow(FORGED[3], "attacker"),           # not a signature at all
         [(SIGNATURE_HEADER, b"trust me")]),
        (FORGED[0].encode(), tampered,                                # two headers
         [(SIGNATURE_HEADER, sign(KEY, tampered).encode() + b"0"),
          (SIGNATURE_HEADER, b"00" * 32)]),
    ]
    signed = [(a.encode(), value, [(SIGNATURE_HEADER, sign(KEY, value).encode())])
              for i, a in enumerate(SIGNED) if (value := allow(a, f"analyst-{i}"))]
    records = unsigned + badly_signed + signed + signed[:1]  # the first signed one, replayed
    return records, len(unsigned), len(badly_signed), len(signed)


async def send_with_headers(bootstrap: str, topic: str,
                            records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = make_producer(bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await (await producer.send(topic, value, key=key, headers=headers))
    finally:
        await producer.stop()


def events() -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    for account in [*FORGED, *SIGNED, CLI_ACCOUNT]:
        for i in range(EVENTS_PER_ACCOUNT):
            doc = {"event_id": f"{account}-{i}", "ts": TS - 3600 + 60 * i, "account_id": account,
                   "model": "m", "input_tokens": 10, "output_tokens": 200}
            out.append((account.encode(), orjson.dumps(doc)))
    return out


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("feedback-signed")
    key_file = tmp / "feedback.key"
    key_file.write_bytes(KEY + b"\n")
    settings = unique_settings(kafka_bootstrap, tmp / "data", feedback_key=f"@{key_file}")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp / "worker.log").start()
    records, n, m, k = feedback_records()
    try:
        worker.wait_ready()
        asyncio.run(produce(kafka_bootstrap, settings.input_topic, events()))
        wait_until(lambda: counted(settings) >= len(events()), timeout=120,
                   what="the events in the accounts table", worker=worker)
        asyncio.run(send_with_headers(kafka_bootstrap, settings.feedback_topic, records))
        assert main(["feedback", "--account-id", CLI_ACCOUNT, "--label", "benign",
                     "--allowlist", "--source", "cli-analyst", "--ts", str(TS), "--send",
                     "--bootstrap-servers", kafka_bootstrap,
                     "--feedback-topic", settings.feedback_topic,
                     "--feedback-key", f"@{key_file}"]) == 0
        k += 1

        def settled() -> bool:
            table = latest_records(settings)
            samples = worker.metrics()
            return (len(read_topic(kafka_bootstrap, settings.dlq_topic)) >= n + m
                    and all(table.get(a, {}).get("allow") for a in [*SIGNED, CLI_ACCOUNT])
                    and (total(samples, "distillguard_feedback_total", result="benign") or 0)
                    >= k + 1)

        wait_until(settled, timeout=120, what="the feedback applied and dead-lettered",
                   worker=worker)
        web = f"http://{settings.web_host}:{settings.web_port}"
        yield {"settings": settings, "n": n, "m": m, "k": k, "records": records,
               "dlq": read_topic(kafka_bootstrap, settings.dlq_topic),
               "table": latest_records(settings), "metrics": worker.metrics(),
               "metrics_text": fetch(web + "/metrics")[1], "alive": worker.alive,
               "log": (tmp / "worker.log").read_bytes()}
    finally:
        worker.stop()


def test_unsigned_and_badly_signed_feedback_is_dead_lettered(run: dict[str, Any]) -> None:
    n, m = run["n"], run["m"]
    dlq = run["dlq"]
    assert run["alive"]
    assert len(dlq) == n + m
    assert [dict(r.headers)["x-dlq-reason"] for r in dlq] == [b"bad_signature"] * (n + m)
    assert [r.value for r in dlq] == [value for _, value, _ in run["records"][:n + m]]
    for r in dlq:
        headers = dict(r.headers)
        assert headers["x-source-topic"].decode() == run["settings"].feedback_topic
        assert headers["x-dlq-error"] and KEY not in headers["x-dlq-error"]
    errors = sorted({dict(r.headers)["x-dlq-error"].decode() for r in dlq})
    print(f"\nfeedback rejected: {n} unsigned + {m} badly signed = {len(dlq)} "
          f"dead letters, all bad_signature; errors: {errors}")


def test_counters_count_the_rejections_and_the_accepted(run: dict[str, Any]) -> None:
    samples, n, m, k = run["metrics"], run["n"], run["m"], run["k"]
    rejected = total(samples, "distillguard_feedback_total", result="rejected")
    dead = total(samples, "distillguard_dead_letters_total", reason="bad_signature")
    benign = total(samples, "distillguard_feedback_total", result="benign")
    print(f"\ncounters: distillguard_feedback_total{{result=rejected}} {rejected}, "
          f"distillguard_dead_letters_total{{reason=bad_signature}} {dead}, "
          f"distillguard_feedback_total{{result=benign}} {benign}")
    assert rejected == n + m
    assert dead == n + m
    assert benign == k + 1  # the replayed signed record is read, and applies once


def test_only_the_signed_allowlists_took_effect(run: dict[str, Any]) -> None:
    table = run["table"]
    for i, account in enumerate(SIGNED):
        record = table[account]
        assert (record["allow"], record["allow_src"], record["allow_ts"]) == \
            (True, f"analyst-{i}", TS), account
        assert record["n"] == EVENTS_PER_ACCOUNT
    assert len(table[SIGNED[0]]["fb_ids"]) == 1  # the replay was recognised, not re-applied
    assert (table[CLI_ACCOUNT]["allow"], table[CLI_ACCOUNT]["allow_src"]) == \
        (True, "cli-analyst")
    for account in FORGED:
        record = table[account]
        assert record["allow"] is False and record["allow_ts"] is None, account
        assert record["label"] == "" and record["fb_ids"] == []


def test_the_key_is_neither_logged_nor_exported(run: dict[str, Any]) -> None:
    assert KEY not in run["log"] and KEY not in run["metrics_text"]
    assert b"feedback is unauthenticated" not in run["log"]


def test_a_worker_without_a_key_warns_once_that_feedback_is_unauthenticated(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "data")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        unsigned = allow("acct-open", "anyone")
        asyncio.run(send_with_headers(kafka_bootstrap, settings.feedback_topic,
                                      [(b"acct-open", unsigned, [])]))
        wait_until(lambda: latest_records(settings).get("acct-open", {}).get("allow", False),
                   timeout=60, what="the unsigned allow-list applied", worker=worker)
    finally:
        worker.stop()
    lines = [line for line in worker.log(1 << 20).splitlines()
             if "feedback is unauthenticated" in line]
    assert len(lines) == 1 and "WARNING" in lines[0] and "DISTILLGUARD_FEEDBACK_KEY" in lines[0]
